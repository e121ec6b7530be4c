"""Seed 002's cron entries, `* * * * *` (scheduled messages) and `*/5 * * * *` (health check), fire on their
minutes in the local runtime: the ticker on a clock the test moves across ten minutes, the real scheduler
function adding each tick's job, and the workers running every one of them once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from jobqueue import Queue
from jobqueue.connection import aws_client
from jobqueue.local.runner import FunctionRunner
from jobqueue.local.ticker import SchedulerTicker
from jobqueue.schedules import initialize, schedule_job_id
from tests.conftest import Namespace
from tests.support.functions import LocalFunctions
from tests.support.processors import attempts_of

TARGET = "arn:aws:lambda:us-east-1:000000000000:function:scheduler"
ROLE = "arn:aws:iam::000000000000:role/scheduler"
ENTRIES = {"scheduled-messages": "process-scheduled-messages", "health-check": "run-health-check"}


def test_scheduled_messages_every_minute_and_health_check_every_five(ns: Namespace) -> None:
    scheduler = aws_client("scheduler")
    group = f"g-{uuid.uuid4().hex[:10]}"
    scheduler.create_schedule_group(Name=group)
    initialize(scheduler, ns.catalog, target_arn=TARGET, role_arn=ROLE, group=group)
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=1, minutes=1, seconds=30)
    now = [start]
    function = FunctionRunner("scheduler")
    fired: list[tuple[str, str]] = []

    def invoke(arn: str, event: dict[str, Any]) -> Any:
        fired.append((event["name"], event["scheduledTime"]))
        return function.invoke(event)

    ticker = SchedulerTicker(scheduler, invoke, group=group, clock=lambda: now[0])
    ticker.tick()
    minutes = [start.replace(second=0) + timedelta(minutes=m) for m in range(1, 11)]
    for minute in minutes:
        now[0] = minute + timedelta(seconds=2)
        ticker.tick()
    expected = {("process-scheduled-messages", f"{m:%Y-%m-%dT%H:%M:00Z}") for m in minutes} | {
        ("run-health-check", f"{m:%Y-%m-%dT%H:%M:00Z}") for m in minutes if m.minute % 5 == 0}
    assert sorted(fired) == sorted(expected)  # each due minute once, no other

    LocalFunctions(ns, list(ENTRIES)).pump(lambda: all(
        Queue(queue).get_job_counts()["completed"] == sum(1 for name, _ in fired if name == entry)
        for queue, entry in ENTRIES.items()), timeout=30)
    for name, when in fired:
        job_id = schedule_job_id(name, datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC))
        assert [a["attempt"] for a in attempts_of(job_id)] == [1], job_id
