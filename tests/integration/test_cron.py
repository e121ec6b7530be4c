"""A catalog cron entry fires within its minute: the catalog's schedules upserted into the emulator's Scheduler
API, the local Scheduler ticker on the real clock invoking the scheduler function, the worker running the tick."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from jobqueue import Queue
from jobqueue.connection import aws_client
from jobqueue.local.runner import FunctionRunner
from jobqueue.local.ticker import SchedulerTicker
from jobqueue.schedules import initialize, schedule_job_id
from tests.integration.conftest import Emulator
from tests.support.functions import LocalFunctions
from tests.support.processors import attempts_of

TARGET = "arn:aws:lambda:us-east-1:000000000000:function:scheduler"
ROLE = "arn:aws:iam::000000000000:role/scheduler"


def test_every_minute_entry_runs_within_its_minute(emulator: Emulator) -> None:
    scheduler = aws_client("scheduler")
    group = f"g-{uuid.uuid4().hex[:10]}"
    scheduler.create_schedule_group(Name=group)
    initialize(scheduler, emulator.ns.catalog, target_arn=TARGET, role_arn=ROLE, group=group)
    function = FunctionRunner("scheduler")

    def invoke(arn: str, event: dict[str, Any]) -> Any:
        assert arn == TARGET
        return function.invoke(event)

    ticker = SchedulerTicker(scheduler, invoke, group=group, interval=0.5).start()
    try:
        minute = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        job_id = schedule_job_id("process-scheduled-messages", minute)
        queue = Queue("scheduled-messages")
        LocalFunctions(emulator.ns, ["scheduled-messages"]).pump(
            lambda: queue.get_state(job_id) == "completed", timeout=100)
    finally:
        ticker.stop()
        for schedule in scheduler.list_schedules(GroupName=group)["Schedules"]:
            scheduler.delete_schedule(Name=schedule["Name"], GroupName=group)
        scheduler.delete_schedule_group(Name=group)
    started = [datetime.fromtimestamp(a["at"] / 1000, UTC) for a in attempts_of(job_id)]
    assert len(started) == 1 and minute <= started[0] < minute + timedelta(minutes=1), (minute, started)
