"""Scheduler Lambda: EventBridge Scheduler invokes it once per cron tick with the entry's queue, name and data,
and every minute with the sweeper's event (`jobqueue.sweeper`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from jobqueue.schedules import SchedulerEvent, fire, logger
from jobqueue.sweeper import is_sweep, sweep_payload_objects, sweep_unsent

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_sweep(event):
        return {"resent": sweep_unsent(), "payloadsDeleted": sweep_payload_objects()}
    tick = cast("SchedulerEvent", event)
    job_id = fire(tick)  # validates the event first: a malformed one fails with a message naming the field
    return {"queue": tick["queue"], "jobId": job_id}
