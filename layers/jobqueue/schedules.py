"""Repeatable (cron) jobs: the catalog's cron entries as EventBridge Scheduler schedules, and their firing.

Deployed, one Scheduler schedule per cron entry invokes the scheduler Lambda with
`{"queue", "name", "data", "scheduledTime"}`; `fire` adds the job under an id made of the entry and the
scheduled time, so a retried or duplicated invocation of the same tick adds one job, not two.

>>> [(s["queue"], s["expression"]) for s in list_schedules(load_catalog())][:1]  # doctest: +SKIP
[('scheduled-messages', 'cron(* * ? * * *)')]
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from jobqueue.catalog import Catalog, CronEntry
from jobqueue.cron import next_times, parse_cron, time_zone, to_scheduler_expression
from jobqueue.errors import CatalogError, InvalidJobError
from jobqueue.queue import Queue

if TYPE_CHECKING:
    from redis import Redis

    from jobqueue.settings import Settings

__all__ = [
    "SCHEDULED_TIME",
    "ScheduleChange",
    "ScheduleDefinition",
    "ScheduleInfo",
    "SchedulerEvent",
    "fire",
    "initialize",
    "list_schedules",
    "next_runs",
    "schedule_definitions",
    "schedule_job_id",
    "schedule_name",
    "to_scheduler_expression",
]

logger = Logger(service="jobqueue")

SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
"""Scheduler replaces this context attribute in a target's Input with the invocation's scheduled time."""
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_SCHEDULE_NAME_MAX = 64  # Scheduler's limit; names are [0-9A-Za-z_.-]


class SchedulerEvent(TypedDict):
    """What a schedule's target Input becomes when Scheduler invokes the scheduler Lambda."""

    queue: str
    name: str
    data: NotRequired[Any]
    scheduledTime: NotRequired[str]


class ScheduleInfo(TypedDict):
    """One cron entry as `GET /schedules` and `jobqueue schedules` show it."""

    queue: str
    name: str
    pattern: str
    tz: str
    expression: str
    nextRuns: list[str]


class ScheduleChange(TypedDict):
    """What `initialize` did to one Scheduler schedule."""

    schedule: str
    queue: str
    name: str
    expression: str
    tz: str
    action: Literal["created", "updated", "deleted"]


def _slug(text: str, limit: int) -> str:
    """`text` in Scheduler-name and job-id safe characters; a hash keeps altered or shortened names distinct."""
    safe = _SAFE.sub("-", text)
    if safe == text and len(safe) <= limit:
        return safe
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{safe[:limit - 9]}-{digest}"


def schedule_name(queue: str, entry: CronEntry, prefix: str = "") -> str:
    """The Scheduler schedule of a cron entry: `<prefix><queue>.<name>` ('.' never occurs in a queue name)."""
    return _slug(f"{prefix}{queue}.{entry.name}", _SCHEDULE_NAME_MAX)


def schedule_job_id(name: str, scheduled_time: datetime) -> str:
    """The id of the job a tick adds: `repeat-<name>-<UTC time>`, never all digits and without ':' (BullMQ's rules).

    >>> schedule_job_id("run-health-check", datetime(2026, 3, 29, 1, 5, tzinfo=UTC))
    'repeat-run-health-check-20260329T010500Z'
    """
    return f"repeat-{_slug(name, 80)}-{scheduled_time.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def _entries(catalog: Catalog) -> list[tuple[str, CronEntry]]:
    """Every cron entry with its queue (the catalog has checked patterns, time zones and unique names)."""
    return [(queue.name, entry) for queue in catalog.queues.values() for entry in queue.cron]


def next_runs(entry: CronEntry, count: int = 3, now: datetime | None = None) -> list[datetime]:
    """The entry's next `count` run times after `now`, in its time zone, as Scheduler will run them.

    A naive `now` is taken as UTC. Across daylight-saving changes a skipped wall-clock time does not run and a
    repeated one runs once (Scheduler's documented behaviour).
    """
    spec = parse_cron(entry.pattern)
    to_scheduler_expression(spec)  # refuse what Scheduler would not run
    return list(islice(next_times(spec, time_zone(entry.tz), now or datetime.now(UTC)), count))


def list_schedules(catalog: Catalog, count: int = 3, now: datetime | None = None) -> list[ScheduleInfo]:
    """Every queue's cron entries with their Scheduler expression and next run times (ISO 8601, local offset)."""
    return [
        ScheduleInfo(queue=queue, name=entry.name, pattern=entry.pattern, tz=entry.tz,
                     expression=to_scheduler_expression(entry.pattern),
                     nextRuns=[run.isoformat() for run in next_runs(entry, count, now)])
        for queue, entry in _entries(catalog)
    ]


# -- firing ----------------------------------------------------------------------------------------------


def _scheduled_time(event: SchedulerEvent) -> datetime:
    """The tick's time; without one (a manual invocation) the current minute, so repeats within it dedupe."""
    raw = event.get("scheduledTime")
    if raw is None or raw == SCHEDULED_TIME:
        return datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        parsed = datetime.fromisoformat(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidJobError(f"scheduler event: scheduledTime {raw!r} is not an ISO 8601 time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def fire(
    event: SchedulerEvent,
    *,
    catalog: Catalog | None = None,
    settings: Settings | None = None,
    redis: Redis | None = None,
    sqs: Any = None,
) -> str:
    """Add the job of one Scheduler tick; returns its id. The same tick fired twice yields the same, single job."""
    queue, name = event.get("queue"), event.get("name")
    if not isinstance(queue, str) or not isinstance(name, str) or not name:
        raise InvalidJobError(f"scheduler event needs string 'queue' and 'name', got {sorted(event)}")
    when = _scheduled_time(event)
    job_id = schedule_job_id(name, when)
    producer = Queue(queue, catalog=catalog, settings=settings, redis=redis, sqs=sqs)
    added = producer.add(name, event.get("data", {}), jobId=job_id)
    logger.info("schedule fired", extra={"event": "scheduled", "queue": queue, "jobName": name, "jobId": added,
                                        "scheduledTime": when.isoformat()})
    return added


# -- deploying -------------------------------------------------------------------------------------------


class ScheduleDefinition(TypedDict):
    """One cron entry as a Scheduler schedule: what the CDK app deploys and what `initialize` creates alike."""

    Name: str
    ScheduleExpression: str
    ScheduleExpressionTimezone: str
    Description: str
    Input: str
    queue: str
    entry: str


def schedule_definitions(catalog: Catalog, name_prefix: str = "") -> list[ScheduleDefinition]:
    """Every cron entry's schedule name, expression, time zone and target Input (flexible window is always off)."""
    return [
        ScheduleDefinition(
            Name=schedule_name(queue, entry, name_prefix),
            ScheduleExpression=to_scheduler_expression(entry.pattern),
            ScheduleExpressionTimezone=entry.tz,
            Description=f"jobqueue: {queue} / {entry.name} ({entry.pattern})",
            Input=json.dumps({"queue": queue, "name": entry.name, "data": entry.data, "scheduledTime": SCHEDULED_TIME}),
            queue=queue,
            entry=entry.name,
        )
        for queue, entry in _entries(catalog)
    ]


def _target(definition: ScheduleDefinition, target_arn: str, role_arn: str, *, retry_policy: dict[str, int] | None,
            dead_letter_arn: str | None) -> dict[str, Any]:
    target: dict[str, Any] = {"Arn": target_arn, "RoleArn": role_arn, "Input": definition["Input"]}
    if retry_policy is not None:
        target["RetryPolicy"] = retry_policy
    if dead_letter_arn is not None:
        target["DeadLetterConfig"] = {"Arn": dead_letter_arn}
    return target


def _ensure_group(scheduler: Any, group: str) -> None:
    if group == "default":
        return
    try:
        scheduler.get_schedule_group(Name=group)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        scheduler.create_schedule_group(Name=group)


def _existing(scheduler: Any, group: str, prefix: str) -> set[str]:
    names: set[str] = set()
    query = {"GroupName": group, **({"NamePrefix": prefix} if prefix else {})}
    for page in scheduler.get_paginator("list_schedules").paginate(**query):
        names.update(s["Name"] for s in page.get("Schedules", []) if s["Name"].startswith(prefix))
    return names


def initialize(
    scheduler: Any,
    catalog: Catalog,
    *,
    target_arn: str,
    role_arn: str,
    group: str = "default",
    name_prefix: str = "",
    retry_policy: dict[str, int] | None = None,
    dead_letter_arn: str | None = None,
    prune: bool = False,
) -> list[ScheduleChange]:
    """Create or update one Scheduler schedule per cron entry (seed 002's `bullmq:init`); returns the changes.

    `scheduler` is a boto3 `scheduler` client. `retry_policy` is Scheduler's
    `{"MaximumRetryAttempts", "MaximumEventAgeInSeconds"}`; `dead_letter_arn` an SQS queue for ticks that could
    not be delivered. With `prune`, schedules in the group whose names start with `name_prefix` and that no
    longer match a cron entry are deleted; it needs a prefix or a group of jobqueue's own, so that it never
    touches schedules of others.
    """
    if prune and not name_prefix and group == "default":
        raise CatalogError("initialize(prune=True) needs a name_prefix or a schedule group of jobqueue's own")
    _ensure_group(scheduler, group)
    existing = _existing(scheduler, group, name_prefix)
    changes: list[ScheduleChange] = []
    for definition in schedule_definitions(catalog, name_prefix):
        name, expression = definition["Name"], definition["ScheduleExpression"]
        tz = definition["ScheduleExpressionTimezone"]
        request = {
            "Name": name, "GroupName": group, "ScheduleExpression": expression, "ScheduleExpressionTimezone": tz,
            "FlexibleTimeWindow": {"Mode": "OFF"}, "State": "ENABLED", "Description": definition["Description"],
            "Target": _target(definition, target_arn, role_arn, retry_policy=retry_policy,
                              dead_letter_arn=dead_letter_arn),
        }
        action: Literal["created", "updated"] = "updated" if name in existing else "created"
        (scheduler.update_schedule if action == "updated" else scheduler.create_schedule)(**request)
        existing.discard(name)
        changes.append(ScheduleChange(schedule=name, queue=definition["queue"], name=definition["entry"],
                                      expression=expression, tz=tz, action=action))
    for stale in sorted(existing) if prune else []:
        scheduler.delete_schedule(Name=stale, GroupName=group)
        changes.append(ScheduleChange(schedule=stale, queue="", name="", expression="", tz="", action="deleted"))
    return changes
