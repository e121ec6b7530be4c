"""Repeatable jobs: the catalog's cron entries, and schedules added at run time, as EventBridge Scheduler
schedules; and their firing.

Deployed, one Scheduler schedule per repeatable job invokes the scheduler Lambda with
`{"queue", "name", "data", "scheduledTime"}`; `fire` adds the job under an id made of the entry and the
scheduled time, so a retried or duplicated invocation of the same tick adds one job, not two. Schedules added
at run time (`add_schedule`, `POST /schedules`) live in the same group with the same names and target; their
Input also carries their repeat options (`"repeat"`, which marks them as run-time ones) and `"limit"`, which
`fire` enforces by numbering the ticks in Redis (the newest `KEEP_TICKS` of them are kept).

>>> [(s["queue"], s["expression"]) for s in list_schedules(load_catalog())][:1]  # doctest: +SKIP
[('scheduled-messages', 'cron(* * ? * * *)')]
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from jobqueue.catalog import Catalog, CronEntry
from jobqueue.cron import next_times, parse_cron, time_zone, to_scheduler_expression
from jobqueue.errors import CatalogError, InvalidJobError, ScheduleConflictError, ScheduleNotFoundError
from jobqueue.keys import repeat_ticks_key
from jobqueue.queue import Queue
from jobqueue.repeat import Repeat

if TYPE_CHECKING:
    from redis import Redis

    from jobqueue.settings import Settings

__all__ = [
    "SCHEDULED_TIME",
    "ScheduleChange",
    "ScheduleDefinition",
    "ScheduleInfo",
    "SchedulerEvent",
    "SchedulerTarget",
    "add_schedule",
    "fire",
    "initialize",
    "list_schedules",
    "next_runs",
    "remove_schedule",
    "runtime_schedules",
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
    limit: NotRequired[int]
    repeat: NotRequired[dict[str, Any]]


class ScheduleInfo(TypedDict):
    """One repeatable job as `GET /schedules` and `jobqueue schedules` show it (run-time ones with their options)."""

    queue: str
    name: str
    pattern: NotRequired[str]
    every: NotRequired[int]
    tz: str
    expression: str
    nextRuns: list[str]
    limit: NotRequired[int]
    startDate: NotRequired[str]
    endDate: NotRequired[str]
    source: NotRequired[Literal["api"]]


@dataclass(frozen=True)
class SchedulerTarget:
    """Where schedules deliver their ticks and where jobqueue keeps them (what `initialize` and `add_schedule` need).

    `retry_policy` is Scheduler's `{"MaximumRetryAttempts", "MaximumEventAgeInSeconds"}`; `dead_letter_arn` an SQS
    queue for ticks that could not be delivered.
    """

    target_arn: str
    role_arn: str
    group: str = "default"
    name_prefix: str = ""
    retry_policy: dict[str, int] | None = None
    dead_letter_arn: str | None = None


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


def schedule_name(queue: str, entry: CronEntry | Repeat, prefix: str = "") -> str:
    """The Scheduler schedule of a cron entry: `<prefix><queue>.<name>` ('.' never occurs in a queue name)."""
    return _slug(f"{prefix}{queue}.{entry.name}", _SCHEDULE_NAME_MAX)


def schedule_job_id(name: str, scheduled_time: datetime) -> str:
    """The id of the job a tick adds: `repeat-<name>-<UTC time>`, never all digits and without ':' (BullMQ's rules).

    >>> schedule_job_id("run-health-check", datetime(2026, 3, 29, 1, 5, tzinfo=UTC))
    'repeat-run-health-check-20260329T010500Z'
    """
    return f"repeat-{_slug(name, 80)}-{scheduled_time.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def _entries(catalog: Catalog) -> list[Repeat]:
    """Every cron entry with its queue (the catalog has checked patterns, time zones and unique names)."""
    return [Repeat.of(queue.name, entry) for queue in catalog.queues.values() for entry in queue.cron]


def next_runs(entry: CronEntry, count: int = 3, now: datetime | None = None) -> list[datetime]:
    """The entry's next `count` run times after `now`, in its time zone, as Scheduler will run them.

    A naive `now` is taken as UTC. Across daylight-saving changes a skipped wall-clock time does not run and a
    repeated one runs once (Scheduler's documented behaviour).
    """
    spec = parse_cron(entry.pattern)
    to_scheduler_expression(spec)  # refuse what Scheduler would not run
    return list(islice(next_times(spec, time_zone(entry.tz), now or datetime.now(UTC)), count))


def _info(repeat: Repeat, count: int, now: datetime | None, *, runtime: bool) -> ScheduleInfo:
    info = ScheduleInfo(queue=repeat.queue, name=repeat.name, tz=repeat.tz, expression=repeat.expression(),
                        nextRuns=[run.isoformat() for run in repeat.next_runs(count, now)])
    options = repeat.options() if runtime else {"pattern": repeat.pattern}
    info.update({k: v for k, v in options.items() if k != "tz"})  # type: ignore[typeddict-item]
    if runtime:
        info["source"] = "api"
    return info


def list_schedules(catalog: Catalog, count: int = 3, now: datetime | None = None,
                   runtime: Iterable[Repeat] = ()) -> list[ScheduleInfo]:
    """Every queue's cron entries, then the `runtime` schedules, with their Scheduler expression and next run
    times (ISO 8601, local offset)."""
    return ([_info(r, count, now, runtime=False) for r in _entries(catalog)]
            + [_info(r, count, now, runtime=True) for r in runtime])


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
    """Add the job of one Scheduler tick; returns its id. The same tick fired twice yields the same, single job.

    With a `limit` (BullMQ's repeat limit), ticks past the limit add nothing and return "".
    """
    queue, name = event.get("queue"), event.get("name")
    if not isinstance(queue, str) or not isinstance(name, str) or not name:
        raise InvalidJobError(f"scheduler event needs string 'queue' and 'name', got {sorted(event)}")
    when = _scheduled_time(event)
    job_id = schedule_job_id(name, when)
    producer = Queue(queue, catalog=catalog, settings=settings, redis=redis, sqs=sqs)
    limit = event.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise InvalidJobError(f"scheduler event: limit {limit!r} is not a positive integer")
    if limit is not None and producer.scripts.number_tick(name, job_id, limit) > limit:
        logger.info("schedule limit reached", extra={"event": "limited", "queue": queue, "jobName": name,
                                                    "limit": limit, "scheduledTime": when.isoformat()})
        return ""
    added = producer.add(name, event.get("data", {}), jobId=job_id)
    logger.info("schedule fired", extra={"event": "scheduled", "queue": queue, "jobName": name, "jobId": added,
                                        "scheduledTime": when.isoformat()})
    return added


# -- deploying -------------------------------------------------------------------------------------------


class ScheduleDefinition(TypedDict):
    """A repeatable job as a Scheduler schedule, before any target: what the CDK app deploys and what
    `initialize`/`add_schedule` create alike (the flexible time window is always off)."""

    Name: str
    ScheduleExpression: str
    ScheduleExpressionTimezone: NotRequired[str]
    StartDate: NotRequired[datetime]
    EndDate: NotRequired[datetime]
    Description: str
    Input: str
    queue: str
    entry: str


def _definition(repeat: Repeat, name_prefix: str, *, runtime: bool) -> ScheduleDefinition:
    """The schedule of one repeatable job (run-time ones carry their options in the Input)."""
    event: SchedulerEvent = {"queue": repeat.queue, "name": repeat.name, "data": repeat.data,
                             "scheduledTime": SCHEDULED_TIME}
    if runtime:
        event["repeat"] = repeat.options()
        if repeat.limit is not None:
            event["limit"] = repeat.limit
    definition = ScheduleDefinition(
        Name=schedule_name(repeat.queue, repeat, name_prefix), ScheduleExpression=repeat.expression(),
        Description=f"jobqueue: {repeat.queue} / {repeat.name} ({repeat.pattern or f'every {repeat.every} ms'})",
        Input=json.dumps(event), queue=repeat.queue, entry=repeat.name,
    )
    if repeat.pattern:
        definition["ScheduleExpressionTimezone"] = repeat.tz
    if repeat.start_date:
        definition["StartDate"] = repeat.start_date
    if repeat.end_date:
        definition["EndDate"] = repeat.end_date
    return definition


def schedule_definitions(catalog: Catalog, name_prefix: str = "") -> list[ScheduleDefinition]:
    """Every catalog cron entry's schedule: name, expression, time zone and target Input."""
    return [_definition(repeat, name_prefix, runtime=False) for repeat in _entries(catalog)]


def _request(repeat: Repeat, where: SchedulerTarget, *, runtime: bool) -> dict[str, Any]:
    """The CreateSchedule/UpdateSchedule request of a repeatable job."""
    definition = _definition(repeat, where.name_prefix, runtime=runtime)
    target: dict[str, Any] = {"Arn": where.target_arn, "RoleArn": where.role_arn, "Input": definition["Input"]}
    if where.retry_policy is not None:
        target["RetryPolicy"] = where.retry_policy
    if where.dead_letter_arn is not None:
        target["DeadLetterConfig"] = {"Arn": where.dead_letter_arn}
    request: dict[str, Any] = {k: v for k, v in definition.items() if k not in ("Input", "queue", "entry")}
    return {**request, "GroupName": where.group, "FlexibleTimeWindow": {"Mode": "OFF"}, "State": "ENABLED",
            "Target": target}


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

    `scheduler` is a boto3 `scheduler` client; the other settings are `SchedulerTarget`'s. With `prune`,
    schedules in the group whose names start with `name_prefix` and that no longer match a cron entry are
    deleted (schedules added at run time are kept); it needs a prefix or a group of jobqueue's own, so that it
    never touches schedules of others.
    """
    if prune and not name_prefix and group == "default":
        raise CatalogError("initialize(prune=True) needs a name_prefix or a schedule group of jobqueue's own")
    where = SchedulerTarget(target_arn, role_arn, group, name_prefix, retry_policy, dead_letter_arn)
    _ensure_group(scheduler, group)
    existing = _existing(scheduler, group, name_prefix)
    changes: list[ScheduleChange] = []
    for repeat in _entries(catalog):
        request = _request(repeat, where, runtime=False)
        name = request["Name"]
        action: Literal["created", "updated"] = "updated" if name in existing else "created"
        (scheduler.update_schedule if action == "updated" else scheduler.create_schedule)(**request)
        existing.discard(name)
        changes.append(ScheduleChange(schedule=name, queue=repeat.queue, name=repeat.name,
                                      expression=request["ScheduleExpression"], tz=repeat.tz, action=action))
    stale = [name for name in sorted(existing) if _runtime(scheduler, name, group) is None] if prune else []
    for name in stale:
        scheduler.delete_schedule(Name=name, GroupName=group)
        changes.append(ScheduleChange(schedule=name, queue="", name="", expression="", tz="", action="deleted"))
    return changes


# -- schedules added at run time -------------------------------------------------------------------------


def _runtime(scheduler: Any, name: str, group: str) -> Repeat | None:
    """The run-time schedule `name` as its Input keeps it, or None for any other schedule."""
    try:
        schedule = scheduler.get_schedule(Name=name, GroupName=group)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise
    try:
        event = json.loads(schedule.get("Target", {}).get("Input") or "{}")
        options = event["repeat"]
        return Repeat.model_validate({**options, "queue": event["queue"], "name": event["name"],
                                      "data": event.get("data", {})})
    except (ValueError, KeyError, TypeError):
        return None  # not one of jobqueue's run-time schedules


def runtime_schedules(scheduler: Any, where: SchedulerTarget) -> list[Repeat]:
    """The schedules added at run time, from Scheduler itself (the one place they are kept)."""
    _ensure_group(scheduler, where.group)
    found = (_runtime(scheduler, name, where.group) for name in sorted(_existing(scheduler, where.group,
                                                                                     where.name_prefix)))
    return [repeat for repeat in found if repeat is not None]


def _find(catalog: Catalog, runtime: list[Repeat], name: str) -> tuple[str, Repeat] | None:
    for repeat in _entries(catalog):
        if repeat.name == name:
            return "catalog", repeat
    return next((("api", r) for r in runtime if r.name == name), None)


def add_schedule(scheduler: Any, catalog: Catalog, repeat: Repeat, where: SchedulerTarget,
                 now: datetime | None = None) -> ScheduleInfo:
    """Create a Scheduler schedule for `repeat` (BullMQ's `add(name, data, {repeat})` at run time).

    Names are unique among all repeatable jobs (they name the jobs' ids); the queue must be in the catalog.
    """
    catalog.queue(repeat.queue)
    clash = _find(catalog, runtime_schedules(scheduler, where), repeat.name)
    if clash:
        source, existing = clash
        raise ScheduleConflictError(f"a schedule named {repeat.name!r} already exists (queue {existing.queue!r}, "
                                    f"from the {source}); remove it first or choose another name")
    scheduler.create_schedule(**_request(repeat, where, runtime=True))
    logger.info("schedule added", extra={"event": "schedule-added", "queue": repeat.queue, "jobName": repeat.name,
                                         "expression": repeat.expression()})
    return _info(repeat, 3, now, runtime=True)


def remove_schedule(scheduler: Any, catalog: Catalog, name: str, where: SchedulerTarget, *, redis: Redis,
                    prefix: str) -> Repeat:
    """Delete the run-time schedule `name` and its tick count; catalog entries are removed from the catalog."""
    found = _find(catalog, runtime_schedules(scheduler, where), name)
    if found is None:
        raise ScheduleNotFoundError(f"no schedule named {name!r}")
    source, repeat = found
    if source == "catalog":
        raise ScheduleConflictError(f"schedule {name!r} comes from the catalog (queue {repeat.queue!r}); "
                                    "remove it from the catalog and run `jobqueue schedules init --prune`")
    scheduler.delete_schedule(Name=schedule_name(repeat.queue, repeat, where.name_prefix), GroupName=where.group)
    redis.delete(repeat_ticks_key(prefix, repeat.queue, repeat.name))
    logger.info("schedule removed", extra={"event": "schedule-removed", "queue": repeat.queue, "jobName": name})
    return repeat
