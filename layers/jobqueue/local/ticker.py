"""EventBridge Scheduler on this machine: the schedules of a group, read from the Scheduler API, fired on time.

Neither moto nor LocalStack fires Scheduler schedules, so the local runtime does: every tick it lists the group's
schedules (those `jobqueue.schedules.initialize` upserted, and any added at run time through the API), and for
each enabled one fires every time its expression came due since the last tick, within its start and end dates,
invoking the target function with the target's Input as Scheduler would: the context attributes
(`<aws.scheduler.scheduled-time>`, ...) replaced. Each due time fires once; a failed invocation is retried on
later ticks as the target's RetryPolicy allows. A one-time `at()` schedule whose ActionAfterCompletion is DELETE
is deleted after it fired.

The clock is injectable, so tests step through minutes without waiting for them.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from jobqueue.errors import CatalogError
from jobqueue.local.expressions import Expression, parse_expression

__all__ = ["Firing", "SchedulerTicker"]

logger = Logger(service="jobqueue-local")

Clock = Callable[[], datetime]
InvokeTarget = Callable[[str, dict[str, Any]], Any]
"""(target ARN, event) -> the target's response; raises when the invocation failed."""


@dataclass
class Firing:
    """One due time of one schedule, and how often it was tried."""

    schedule: str
    scheduled_time: datetime
    target_arn: str
    input: str
    schedule_arn: str
    attempt: int = 0
    response: Any = None


@dataclass
class _Schedule:
    name: str
    modified: Any
    details: dict[str, Any]
    expression: Expression | None
    cursor: datetime
    fired_once: bool = False
    retry: dict[str, int] = field(default_factory=dict)


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(value), UTC)


def _scheduled_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SchedulerTicker:
    """Fires the schedules of `group` whose names start with `prefix`; `tick()` does one round, `start()` ticks
    every `interval` seconds in a thread until `stop()`."""

    def __init__(self, scheduler: Any, invoke: InvokeTarget, *, group: str = "default", prefix: str = "",
                 clock: Clock = lambda: datetime.now(UTC), interval: float = 1.0) -> None:
        self.scheduler, self.group, self.prefix = scheduler, group, prefix
        self._invoke, self._clock, self._interval = invoke, clock, interval
        self._started = clock()
        self._schedules: dict[str, _Schedule] = {}
        self._retries: list[Firing] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler-ticker", daemon=True)

    def start(self) -> SchedulerTicker:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.tick()
            except (BotoCoreError, ClientError):
                logger.exception("listing schedules failed", extra={"group": self.group})

    def tick(self) -> list[Firing]:
        """One round: refresh the schedules, fire what came due since the last round; returns the firings made."""
        now = self._clock()
        self._refresh(now)
        due = [f for f in self._retries if self._may_retry(f, now)]
        for schedule in self._schedules.values():
            due += self._due(schedule, now)
        self._retries = []
        fired = [f for f in due if self._fire(f)]
        for firing in fired:
            done = self._schedules.get(firing.schedule)
            if done is not None and done.expression is not None and done.expression.once is not None:
                self._complete(done)
        return fired

    def _refresh(self, now: datetime) -> None:
        query = {"GroupName": self.group, **({"NamePrefix": self.prefix} if self.prefix else {})}
        seen: set[str] = set()
        for page in self.scheduler.get_paginator("list_schedules").paginate(**query):
            for summary in page.get("Schedules", []):
                name = summary["Name"]
                if not name.startswith(self.prefix) or summary.get("GroupName", self.group) != self.group:
                    continue
                seen.add(name)
                known = self._schedules.get(name)
                if known is None or known.modified != summary.get("LastModificationDate"):
                    self._schedules[name] = self._load(name, summary.get("LastModificationDate"), known, now)
        for gone in set(self._schedules) - seen:
            del self._schedules[gone]

    def _load(self, name: str, modified: Any, known: _Schedule | None, now: datetime) -> _Schedule:
        details = self.scheduler.get_schedule(Name=name, GroupName=self.group)
        try:
            expression = parse_expression(details["ScheduleExpression"], details.get("ScheduleExpressionTimezone")
                                          or "UTC")
        except CatalogError as exc:
            logger.error("schedule cannot be evaluated; it will not fire", extra={"schedule": name, "error": str(exc)})
            expression = None
        created = _utc(details.get("CreationDate")) or now
        # A schedule seen for the first time fires from when it (or this ticker) began, never from the past.
        cursor = known.cursor if known else min(now, max(self._started, created))
        retry = (details.get("Target") or {}).get("RetryPolicy") or {}
        fired = bool(known and known.fired_once and known.details.get("ScheduleExpression") == details.get(
            "ScheduleExpression"))
        return _Schedule(name, modified, details, expression, cursor, fired, retry)

    def _due(self, schedule: _Schedule, now: datetime) -> list[Firing]:
        details, expression = schedule.details, schedule.expression
        after, schedule.cursor = schedule.cursor, max(schedule.cursor, now)
        if expression is None or details.get("State", "ENABLED") != "ENABLED" or schedule.fired_once:
            return []
        start, end = _utc(details.get("StartDate")), _utc(details.get("EndDate"))
        anchor = start or _utc(details.get("CreationDate")) or self._started
        times = [t for t in expression.times(after, now, anchor)
                 if (start is None or t >= start) and (end is None or t <= end)]
        target = details.get("Target") or {}
        return [Firing(schedule.name, t, target.get("Arn", ""), target.get("Input") or "{}",
                       details.get("Arn", "")) for t in times]

    def _may_retry(self, firing: Firing, now: datetime) -> bool:
        schedule = self._schedules.get(firing.schedule)
        policy = schedule.retry if schedule else {}
        age = (now - firing.scheduled_time).total_seconds()
        return (firing.attempt <= policy.get("MaximumRetryAttempts", 185)
                and age <= policy.get("MaximumEventAgeInSeconds", 86400))

    def _fire(self, firing: Firing) -> bool:
        firing.attempt += 1
        replaced = (firing.input
                    .replace("<aws.scheduler.scheduled-time>", _scheduled_time(firing.scheduled_time))
                    .replace("<aws.scheduler.execution-id>", str(uuid.uuid4()))
                    .replace("<aws.scheduler.attempt-number>", str(firing.attempt))
                    .replace("<aws.scheduler.schedule-arn>", firing.schedule_arn))
        extra = {"schedule": firing.schedule, "scheduledTime": _scheduled_time(firing.scheduled_time),
                 "target": firing.target_arn, "attempt": firing.attempt}
        try:
            firing.response = self._invoke(firing.target_arn, json.loads(replaced))
        except Exception as exc:
            logger.warning("schedule target failed; retrying on a later tick", extra={**extra, "error": str(exc)})
            self._retries.append(firing)
            return False
        logger.info("schedule fired", extra=extra)
        return True

    def _complete(self, schedule: _Schedule) -> None:
        """A one-time schedule fired: never again, and deleted if it asked to be."""
        schedule.fired_once = True
        if schedule.details.get("ActionAfterCompletion") == "DELETE":
            try:
                self.scheduler.delete_schedule(Name=schedule.name, GroupName=self.group)
            except ClientError:
                logger.exception("deleting a completed schedule failed", extra={"schedule": schedule.name})

