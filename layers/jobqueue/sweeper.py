"""The sweeper: sends the jobs a producer recorded in Redis and never confirmed sent, so none waits without a message.

A producer (`Queue.add`, a webhook, a Scheduler tick, a redrive) marks each job unsent before its SQS send and
clears the mark once SQS took it. A producer killed in between, or one that could not roll a refused job back,
leaves the mark; a retry of the same call sends the job, and if nobody retries, this does. EventBridge Scheduler
invokes the scheduler function with `SWEEP_EVENT` every minute (`sweep_schedule`, deployed by the CDK app and
created by `jobqueue dev` through the same Scheduler API).

It also sends the jobs a BullMQ client (a Node service's `queue.add`, Bull Board's retry or promote) made waiting
or delayed straight in Redis, found through the events stream (`Queue.adopt_foreign`): such a job runs within a
minute, where jobqueue's own producers send at once.

And it deletes the S3 payload objects of removed jobs (`sweep_payloads`, see `jobqueue.payload_sweep`).

>>> from jobqueue.sweeper import sweep_unsent
>>> sweep_unsent()  # doctest: +SKIP
{'email': 0, 'lead-processing': 1, ...}
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypedDict

from botocore.exceptions import ClientError

from jobqueue.catalog import Catalog, default_catalog
from jobqueue.connection import aws_client, redis_for
from jobqueue.flow_parents import ParentUpdates
from jobqueue.payload_sweep import sweep_payloads
from jobqueue.payloads import PayloadStore
from jobqueue.queue import Queue
from jobqueue.settings import Settings, get_settings

if TYPE_CHECKING:
    from redis import Redis

__all__ = ["SWEEP_EVENT", "SweepEvent", "install_sweep_schedule", "is_sweep", "sweep_payload_objects", "sweep_schedule",
           "sweep_unsent"]


class SweepEvent(TypedDict):
    sweep: str


SWEEP_EVENT: SweepEvent = {"sweep": "unsent"}


def sweep_schedule(name_prefix: str = "") -> dict[str, str]:
    """The sweep's schedule: Name, ScheduleExpression, Description and the target's Input."""
    return {"Name": f"{name_prefix}jobqueue-sweep-unsent", "ScheduleExpression": "rate(1 minute)",
            "Description": "jobqueue: send jobs recorded in Redis whose SQS message was never confirmed",
            "Input": json.dumps(SWEEP_EVENT)}


def is_sweep(event: dict[str, Any]) -> bool:
    return event.get("sweep") == SWEEP_EVENT["sweep"]


def sweep_unsent(
    *,
    catalog: Catalog | None = None,
    settings: Settings | None = None,
    redis: Redis | None = None,
    sqs: Any = None,
) -> dict[str, int]:
    """Tell flow parents what their finished children's workers could not (`ParentUpdates.sweep`), then send every
    catalog queue's jobs a BullMQ client added or retried without a message (`Queue.adopt_foreign`) and those
    left unsent for longer than `UNSENT_GRACE_MS`; how many per queue."""
    catalog = catalog or default_catalog()
    settings = settings or get_settings()
    redis = redis or redis_for(settings)
    sqs = sqs or aws_client("sqs")
    ParentUpdates(catalog=catalog, settings=settings, redis=redis, sqs=sqs).sweep()
    queues = [Queue(name, catalog=catalog, settings=settings, redis=redis, sqs=sqs) for name in catalog.queues]
    return {queue.name: queue.adopt_foreign() + queue.resend_unsent() for queue in queues}


def sweep_payload_objects(
    *,
    catalog: Catalog | None = None,
    settings: Settings | None = None,
    redis: Redis | None = None,
    s3: Any = None,
) -> int:
    """Delete the payload objects of removed jobs and dead-letter records (`jobqueue.payload_sweep`); how many."""
    settings = settings or get_settings()
    store = PayloadStore(settings.payload_bucket, settings.payload_threshold_bytes, s3)
    return sweep_payloads(catalog or default_catalog(),
                          redis or redis_for(settings), store, settings)


def install_sweep_schedule(scheduler: Any, *, target_arn: str, role_arn: str, group: str = "default",
                           name_prefix: str = "") -> None:
    """Create (or update) the sweep's schedule through the Scheduler API, as the CDK app deploys it."""
    schedule = sweep_schedule(name_prefix)
    request = {"Name": schedule["Name"], "ScheduleExpression": schedule["ScheduleExpression"],
               "Description": schedule["Description"], "GroupName": group, "FlexibleTimeWindow": {"Mode": "OFF"},
               "State": "ENABLED", "Target": {"Arn": target_arn, "RoleArn": role_arn, "Input": schedule["Input"]}}
    try:
        scheduler.create_schedule(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConflictException":
            raise
        scheduler.update_schedule(**request)
