"""Scheduler Lambda: EventBridge Scheduler invokes it once per cron tick with the entry's queue, name and data."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobqueue.schedules import SchedulerEvent, fire, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context
def lambda_handler(event: SchedulerEvent, context: LambdaContext) -> dict[str, str]:
    job_id = fire(event)  # validates the event first: a malformed one fails with a message naming the field
    return {"queue": event["queue"], "jobId": job_id}
