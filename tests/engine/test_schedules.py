"""Cron entries: a Scheduler tick adds one job however often it fires; `initialize` mirrors the catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from jobqueue import Queue
from jobqueue.catalog import build_catalog
from jobqueue.connection import aws_client
from jobqueue.errors import CatalogError
from jobqueue.local.runner import FunctionRunner
from jobqueue.schedules import SchedulerEvent, fire, initialize
from tests.conftest import ROOT, Namespace

TICK: SchedulerEvent = {"queue": "health-check", "name": "run-health-check", "data": {"deep": True},
                        "scheduledTime": "2026-03-29T01:05:00Z"}
TARGET = "arn:aws:lambda:us-east-1:123456789012:function:jobqueue-scheduler"
ROLE = "arn:aws:iam::123456789012:role/jobqueue-scheduler"


def messages(ns: Namespace, queue: str) -> list[dict[str, Any]]:
    response = ns.sqs.receive_message(QueueUrl=ns.queue_urls[queue], MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [json.loads(m["Body"]) for m in response.get("Messages", [])]


def test_the_same_tick_fired_twice_adds_one_job(ns: Namespace) -> None:
    first, again = fire(TICK), fire(dict(TICK))  # type: ignore[arg-type]
    assert first == again == "repeat-run-health-check-20260329T010500Z"
    queue = Queue("health-check")
    assert queue.get_job_counts()["waiting"] == 1
    job = queue.get_job(first)
    assert job is not None and (job.name, job.data, job.state) == ("run-health-check", {"deep": True}, "waiting")
    assert [m["id"] for m in messages(ns, "health-check")] == [first]


def test_different_ticks_add_different_jobs(ns: Namespace) -> None:
    later: SchedulerEvent = {**TICK, "scheduledTime": "2026-03-29T03:10:00+02:00"}
    ids = {fire(TICK), fire(later)}
    assert ids == {"repeat-run-health-check-20260329T010500Z", "repeat-run-health-check-20260329T011000Z"}
    assert Queue("health-check").get_job_counts()["waiting"] == 2
    assert sorted(m["id"] for m in messages(ns, "health-check")) == sorted(ids)


def test_scheduler_function_fires_the_sample_event(ns: Namespace) -> None:
    event = json.loads((ROOT / "events" / "scheduler.json").read_text())
    result = FunctionRunner("scheduler").invoke(event)
    assert result == {"queue": "health-check", "jobId": "repeat-run-health-check-20260329T010500Z"}
    assert Queue("health-check").get_state(result["jobId"]) == "waiting"


def test_a_malformed_tick_is_refused(ns: Namespace) -> None:
    with pytest.raises(Exception, match="needs string 'queue' and 'name'"):
        fire(cast("SchedulerEvent", {"name": "x"}))
    with pytest.raises(Exception, match="not an ISO 8601 time"):
        fire({**TICK, "scheduledTime": "yesterday"})


def _catalog(crons: dict[str, list[dict[str, Any]]]) -> Any:
    return build_catalog({queue: {"cron": entries} for queue, entries in crons.items()}, {})


def _deployed(scheduler: Any, group: str) -> dict[str, dict[str, Any]]:
    names = [s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"]]
    return {name: scheduler.get_schedule(Name=name, GroupName=group) for name in names}


def test_initialize_creates_then_updates_schedules_equal_to_the_catalog(ns: Namespace, tmp_path: Path) -> None:
    scheduler = aws_client("scheduler")
    group = ns.settings.prefix  # a group of this test's own
    catalog = _catalog({
        "health-check": [{"name": "run-health-check", "pattern": "*/5 * * * *"}],
        "email": [{"name": "digest", "pattern": "0 9 * * 1-5", "tz": "Europe/Berlin", "data": {"kind": "daily"}}],
    })
    created = initialize(scheduler, catalog, target_arn=TARGET, role_arn=ROLE, group=group,
                         retry_policy={"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
                         dead_letter_arn="arn:aws:sqs:us-east-1:123456789012:scheduler-dlq")
    assert [(c["schedule"], c["action"]) for c in created] == [
        ("health-check.run-health-check", "created"), ("email.digest", "created")]

    deployed = _deployed(scheduler, group)
    assert set(deployed) == {"health-check.run-health-check", "email.digest"}
    digest = deployed["email.digest"]
    assert digest["ScheduleExpression"] == "cron(0 9 ? * MON-FRI *)"
    assert digest["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert digest["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert digest["State"] == "ENABLED"
    target = digest["Target"]
    assert (target["Arn"], target["RoleArn"]) == (TARGET, ROLE)
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
    assert target["DeadLetterConfig"] == {"Arn": "arn:aws:sqs:us-east-1:123456789012:scheduler-dlq"}
    assert json.loads(target["Input"]) == {"queue": "email", "name": "digest", "data": {"kind": "daily"},
                                           "scheduledTime": "<aws.scheduler.scheduled-time>"}
    assert deployed["health-check.run-health-check"]["ScheduleExpression"] == "cron(0/5 * ? * * *)"

    changed = _catalog({"email": [{"name": "digest", "pattern": "30 7 * * *", "tz": "Europe/Berlin"}]})
    updated = initialize(scheduler, changed, target_arn=TARGET, role_arn=ROLE, group=group, prune=True)
    assert [(c["schedule"], c["action"]) for c in updated] == [
        ("email.digest", "updated"), ("health-check.run-health-check", "deleted")]
    deployed = _deployed(scheduler, group)
    assert list(deployed) == ["email.digest"]
    assert deployed["email.digest"]["ScheduleExpression"] == "cron(30 7 ? * * *)"
    for name in deployed:
        scheduler.delete_schedule(Name=name, GroupName=group)


def test_initialize_with_a_prefix_leaves_other_schedules_alone(ns: Namespace) -> None:
    scheduler = aws_client("scheduler")
    prefix = f"{ns.settings.prefix}-"
    catalog = _catalog({"health-check": [{"name": "tick", "pattern": "* * * * *"}]})
    scheduler.create_schedule(Name=f"other-{prefix}x", ScheduleExpression="rate(5 minutes)",
                              FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": TARGET, "RoleArn": ROLE})
    changes = initialize(scheduler, catalog, target_arn=TARGET, role_arn=ROLE, name_prefix=prefix, prune=True)
    assert [(c["schedule"], c["action"]) for c in changes] == [(f"{prefix}health-check.tick", "created")]
    assert scheduler.get_schedule(Name=f"other-{prefix}x")["ScheduleExpression"] == "rate(5 minutes)"
    with pytest.raises(CatalogError, match="needs a name_prefix"):
        initialize(scheduler, catalog, target_arn=TARGET, role_arn=ROLE, prune=True)
    for name in (f"other-{prefix}x", f"{prefix}health-check.tick"):
        scheduler.delete_schedule(Name=name)
