"""The Scheduler ticker, on a clock the tests move: cron within its minute, time zones, DST, at(), rate(), state."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobqueue import Queue
from jobqueue.connection import aws_client
from jobqueue.local.runner import FunctionRunner
from jobqueue.local.ticker import SchedulerTicker
from jobqueue.schedules import SCHEDULED_TIME, initialize
from tests.conftest import Namespace

TARGET = "arn:aws:lambda:us-east-1:000000000000:function:scheduler"
ROLE = "arn:aws:iam::000000000000:role/scheduler"


class Clock:
    """A clock that moves only when told."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Targets:
    """Records what the ticker invoked: (target ARN, event)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, arn: str, event: dict[str, Any]) -> dict[str, str]:
        self.calls.append((arn, event))
        return {"ok": "yes"}


@pytest.fixture
def group(moto_endpoint: str) -> Iterator[str]:
    """A schedule group of the test's own."""
    scheduler = aws_client("scheduler")
    name = f"g-{uuid.uuid4().hex[:10]}"
    scheduler.create_schedule_group(Name=name)
    yield name
    scheduler.delete_schedule_group(Name=name)


def create(group: str, name: str, expression: str, tz: str = "UTC", **extra: Any) -> None:
    event = {"queue": "health-check", "name": name, "data": {}, "scheduledTime": SCHEDULED_TIME}
    aws_client("scheduler").create_schedule(
        Name=name, GroupName=group, ScheduleExpression=expression, ScheduleExpressionTimezone=tz,
        FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": TARGET, "RoleArn": ROLE, "Input": json.dumps(event)},
        **extra)


def fired_times(targets: Targets) -> list[str]:
    return [event["scheduledTime"] for _, event in targets.calls]


def minute_after(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)


def test_every_minute_entry_fires_within_its_minute_once(ns: Namespace, group: str) -> None:
    # The catalog's entries, upserted as `jobqueue dev` does; the real scheduler function adds the job.
    initialize(aws_client("scheduler"), ns.catalog, target_arn=TARGET, role_arn=ROLE, group=group)
    clock = Clock(datetime.now(UTC) + timedelta(minutes=1))
    function = FunctionRunner("scheduler")
    targets = Targets()

    def invoke(arn: str, event: dict[str, Any]) -> Any:
        targets(arn, event)
        return function.invoke(event)

    ticker = SchedulerTicker(aws_client("scheduler"), invoke, group=group, clock=clock)
    assert ticker.tick() == []
    minute = minute_after(clock.now)
    clock.now = minute + timedelta(seconds=1)
    fired = ticker.tick()
    expected = minute.strftime("%Y-%m-%dT%H:%M:00Z")
    every_minute = [event for _, event in targets.calls if event["name"] == "process-scheduled-messages"]
    assert every_minute == [{"queue": "scheduled-messages", "name": "process-scheduled-messages", "data": {},
                             "scheduledTime": expected}]
    assert all(arn == TARGET for arn, _ in targets.calls)
    assert len(fired) == len(targets.calls)
    job_id = f"repeat-process-scheduled-messages-{minute:%Y%m%dT%H%M00Z}"
    assert Queue("scheduled-messages").get_state(job_id) == "waiting"
    clock.now = minute + timedelta(seconds=59)
    assert ticker.tick() == []  # the same minute never fires twice


def test_cron_in_a_time_zone_fires_at_its_local_time(moto_endpoint: str, group: str) -> None:
    create(group, "berlin-nine", "cron(0 9 ? * * *)", "Europe/Berlin")
    clock = Clock(datetime(2026, 3, 27, 7, 59, 30, tzinfo=UTC))
    targets = Targets()
    ticker = SchedulerTicker(aws_client("scheduler"), targets, group=group, clock=clock)
    ticker.tick()
    clock.now = datetime(2026, 3, 27, 8, 0, 5, tzinfo=UTC)  # 09:00:05 in Berlin (CET)
    ticker.tick()
    assert fired_times(targets) == ["2026-03-27T08:00:00Z"]
    clock.now = datetime(2026, 3, 30, 8, 0, 5, tzinfo=UTC)  # summer time from the 29th: 09:00 is 07:00Z
    ticker.tick()
    assert fired_times(targets) == ["2026-03-27T08:00:00Z", "2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z",
                                    "2026-03-30T07:00:00Z"]


def test_a_wall_clock_time_the_dst_change_skips_does_not_run(moto_endpoint: str, group: str) -> None:
    create(group, "new-york-2-30", "cron(30 2 * * ? *)", "America/New_York")
    clock = Clock(datetime(2026, 3, 7, tzinfo=UTC))
    targets = Targets()
    ticker = SchedulerTicker(aws_client("scheduler"), targets, group=group, clock=clock)
    ticker.tick()
    clock.now = datetime(2026, 3, 10, tzinfo=UTC)
    ticker.tick()
    assert fired_times(targets) == ["2026-03-07T07:30:00Z", "2026-03-09T06:30:00Z"]  # none on the 8th


def test_a_one_time_schedule_fires_once_and_is_deleted_after(moto_endpoint: str, group: str) -> None:
    create(group, "once", "at(2026-03-29T01:05:00)", "America/New_York", ActionAfterCompletion="DELETE")
    create(group, "once-kept", "at(2026-03-29T01:06:00)", "America/New_York")
    clock = Clock(datetime(2026, 3, 29, 5, 4, 30, tzinfo=UTC))
    targets = Targets()
    ticker = SchedulerTicker(aws_client("scheduler"), targets, group=group, clock=clock)
    ticker.tick()
    assert targets.calls == []
    for second in (5, 30, 65, 125):
        clock.now = datetime(2026, 3, 29, 5, 5, tzinfo=UTC) + timedelta(seconds=second)
        ticker.tick()
    assert fired_times(targets) == ["2026-03-29T05:05:00Z", "2026-03-29T05:06:00Z"]
    names = {s["Name"] for s in aws_client("scheduler").list_schedules(GroupName=group)["Schedules"]}
    assert names == {"once-kept"}


def test_rate_start_end_and_state_are_honoured(moto_endpoint: str, group: str) -> None:
    start = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    create(group, "every-ten", "rate(10 minutes)", StartDate=start, EndDate=start + timedelta(minutes=25))
    create(group, "disabled", "rate(1 minute)", State="DISABLED")
    clock = Clock(start - timedelta(minutes=5))
    targets = Targets()
    ticker = SchedulerTicker(aws_client("scheduler"), targets, group=group, clock=clock)
    ticker.tick()
    clock.now = start + timedelta(hours=1)
    ticker.tick()
    assert fired_times(targets) == ["2026-06-01T12:00:00Z", "2026-06-01T12:10:00Z", "2026-06-01T12:20:00Z"]


def test_a_schedule_added_while_running_fires_and_a_failed_target_is_retried(moto_endpoint: str, group: str) -> None:
    clock = Clock(minute_after(datetime.now(UTC) + timedelta(days=1)) + timedelta(seconds=30))
    failures = [RuntimeError("scheduler function unavailable")]
    targets = Targets()

    def flaky(arn: str, event: dict[str, Any]) -> Any:
        if failures:
            raise failures.pop()
        return targets(arn, event)

    ticker = SchedulerTicker(aws_client("scheduler"), flaky, group=group, clock=clock)
    ticker.tick()
    create(group, "added-later", "cron(* * * * ? *)")
    minute = minute_after(clock.now)
    clock.now = minute + timedelta(seconds=1)
    assert ticker.tick() == []  # due, but the target failed
    clock.now = minute + timedelta(seconds=2)
    assert [f.attempt for f in ticker.tick()] == [2]
    assert fired_times(targets) == [f"{minute:%Y-%m-%dT%H:%M:00Z}"]
