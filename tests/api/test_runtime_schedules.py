"""Repeatable jobs added at run time through the API: validated, real Scheduler schedules, listed, removed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from jobqueue import Queue
from jobqueue.connection import aws_client
from jobqueue.schedules import SchedulerEvent, fire
from tests.api.conftest import SCHEDULER_ENV, ApiClient
from tests.conftest import Namespace


@pytest.fixture
def prefix(ns: Namespace, api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This test's schedule name prefix; whatever it created in Scheduler is deleted afterwards."""
    name_prefix = f"{ns.settings.prefix}-"
    monkeypatch.setenv("JOBQUEUE_SCHEDULE_PREFIX", name_prefix)
    yield name_prefix
    scheduler = aws_client("scheduler")
    for schedule in scheduler.list_schedules(NamePrefix=name_prefix)["Schedules"]:
        scheduler.delete_schedule(Name=schedule["Name"])


def test_a_daily_digest_at_nine_in_berlin_becomes_a_scheduler_schedule(api: ApiClient, prefix: str) -> None:
    body = {"queue": "email", "name": "daily-digest", "pattern": "0 9 * * *", "tz": "Europe/Berlin",
            "data": {"kind": "digest"}, "limit": 30, "endDate": "2027-01-01T00:00:00Z"}
    answer = api.call("POST", "/schedules", body=body)
    assert answer.status == 201, answer.text
    created = answer.json
    assert (created["expression"], created["tz"], created["limit"]) == ("cron(0 9 ? * * *)", "Europe/Berlin", 30)
    assert all(run.endswith(("+01:00", "+02:00")) and "T09:00:00" in run for run in created["nextRuns"])

    schedule = aws_client("scheduler").get_schedule(Name=f"{prefix}email.daily-digest")
    assert schedule["ScheduleExpression"] == "cron(0 9 ? * * *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert schedule["GroupName"] == "default" and schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert (target["Arn"], target["RoleArn"]) == (SCHEDULER_ENV["JOBQUEUE_SCHEDULER_TARGET_ARN"],
                                                  SCHEDULER_ENV["JOBQUEUE_SCHEDULER_ROLE_ARN"])
    event = json.loads(target["Input"])
    assert {k: event[k] for k in ("queue", "name", "data", "scheduledTime", "limit")} == {
        "queue": "email", "name": "daily-digest", "data": {"kind": "digest"},
        "scheduledTime": "<aws.scheduler.scheduled-time>", "limit": 30}

    listed = {s["name"]: s for s in api.call("GET", "/schedules").json["schedules"]}
    assert listed["daily-digest"]["source"] == "api" and listed["daily-digest"]["pattern"] == "0 9 * * *"
    assert "run-health-check" in listed  # the catalog's entries too

    again = api.call("POST", "/schedules", body=body)
    assert again.status == 409 and "already exists" in again.json["message"]
    removed = api.call("DELETE", "/schedules/daily-digest")
    assert (removed.status, removed.json) == (200, {"queue": "email", "name": "daily-digest", "removed": True})
    assert "daily-digest" not in {s["name"] for s in api.call("GET", "/schedules").json["schedules"]}
    assert api.call("DELETE", "/schedules/daily-digest").status == 404
    catalog_entry = api.call("DELETE", "/schedules/run-health-check")
    assert catalog_entry.status == 409 and "from the catalog" in catalog_entry.json["message"]


def test_every_n_minutes_becomes_a_rate(api: ApiClient, prefix: str) -> None:
    answer = api.call("POST", "/schedules", body={"queue": "health-check", "name": "ping", "every": 600_000,
                                                  "startDate": "2030-01-01T00:00:00Z"})
    assert answer.status == 201, answer.text
    assert answer.json["expression"] == "rate(10 minutes)"
    assert answer.json["nextRuns"] == ["2030-01-01T00:00:00+00:00", "2030-01-01T00:10:00+00:00",
                                       "2030-01-01T00:20:00+00:00"]
    schedule = aws_client("scheduler").get_schedule(Name=f"{prefix}health-check.ping")
    assert schedule["ScheduleExpression"] == "rate(10 minutes)"


@pytest.mark.parametrize(("body", "message"), [
    ({"pattern": "0 9 * *"}, "body.pattern: Value error, cron pattern '0 9 * *': expected 5 fields"),
    ({"pattern": "61 9 * * *"}, "minute value 61 is outside 0-59"),
    ({"pattern": "0 9 1 * 1"}, "restricts both day-of-month (1) and day-of-week (1)"),
    ({"pattern": "0 9 * * *", "tz": "Europe/Atlantis"}, "time zone 'Europe/Atlantis' is not an IANA time zone"),
    ({"every": 90_000}, "every 90000 ms: EventBridge Scheduler's rate() runs in whole minutes"),
    ({}, "give exactly one of 'pattern' (cron) and 'every' (ms)"),
    ({"pattern": "* * * * *", "startDate": "2030-01-02T00:00:00Z", "endDate": "2030-01-01T00:00:00Z"},
     "is not after startDate"),
    ({"pattern": "* * * * *", "limit": 0}, "body.limit"),
])
def test_invalid_schedules_are_refused_naming_the_problem(api: ApiClient, prefix: str, body: dict[str, object],
                                                          message: str) -> None:
    answer = api.call("POST", "/schedules", body={"queue": "email", "name": "bad", **body})
    assert answer.status == 400, answer.text
    assert message in answer.json["message"]
    assert aws_client("scheduler").list_schedules(NamePrefix=prefix)["Schedules"] == []


def test_an_unknown_queue_is_a_404(api: ApiClient, prefix: str) -> None:
    answer = api.call("POST", "/schedules", body={"queue": "nope", "name": "x", "pattern": "* * * * *"})
    assert answer.status == 404 and "unknown queue 'nope'" in answer.json["message"]


def test_a_limit_stops_adding_jobs_after_that_many_ticks(ns: Namespace) -> None:
    tick: SchedulerEvent = {"queue": "health-check", "name": "twice", "limit": 2}
    times = ["2026-03-29T01:00:00Z", "2026-03-29T01:01:00Z", "2026-03-29T01:02:00Z"]
    added = [fire({**tick, "scheduledTime": t}) for t in times]
    assert added == ["repeat-twice-20260329T010000Z", "repeat-twice-20260329T010100Z", ""]
    assert fire({**tick, "scheduledTime": times[1]}) == added[1], "a tick fired again is still within the limit"
    assert Queue("health-check").get_job_counts()["waiting"] == 2
