"""Repeat options: BullMQ's pattern/every/tz/limit/start/end as Scheduler expressions, refusals, next runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from jobqueue.errors import CatalogError
from jobqueue.repeat import Repeat, rate_expression


def test_nine_every_morning_in_berlin() -> None:
    digest = Repeat(queue="email", name="digest", pattern="0 9 * * *", tz="Europe/Berlin")
    assert (digest.expression(), digest.tz) == ("cron(0 9 ? * * *)", "Europe/Berlin")
    # 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer (DST starts 2026-03-29).
    runs = digest.next_runs(3, datetime(2026, 3, 27, 12, 0, tzinfo=UTC))
    assert [r.astimezone(UTC).hour for r in runs] == [8, 7, 7]
    assert all((r.hour, r.minute) == (9, 0) for r in runs)


@pytest.mark.parametrize(("every", "expression"), [
    (60_000, "rate(1 minute)"), (300_000, "rate(5 minutes)"), (3_600_000, "rate(1 hour)"),
    (7_200_000, "rate(2 hours)"), (90 * 60_000, "rate(90 minutes)"), (86_400_000, "rate(1 day)"),
    (7 * 86_400_000, "rate(7 days)"),
])
def test_every_becomes_a_rate(every: int, expression: str) -> None:
    assert rate_expression(every) == expression


@pytest.mark.parametrize("every", [1, 1000, 59_999, 90_000])
def test_every_that_scheduler_cannot_run_is_refused(every: int) -> None:
    with pytest.raises(CatalogError, match=rf"every {every} ms: .* whole minutes"):
        rate_expression(every)


@pytest.mark.parametrize(("fields", "message"), [
    ({"pattern": "0 9 * * * *"}, "expected 5 fields"),
    ({"pattern": "0 25 * * *"}, "hour value 25 is outside 0-23"),
    ({"pattern": "0 9 * * *", "tz": "Berlin"}, "'Berlin' is not an IANA time zone"),
    ({"every": 0}, "greater than 0"),
    ({"pattern": "* * * * *", "every": 60_000}, "exactly one of 'pattern'"),
    ({"pattern": "* * * * *", "limit": 0}, "greater than or equal to 1"),
    ({"pattern": "* * * * *", "startDate": "2030-01-01T00:00:00Z", "endDate": "2029-01-01T00:00:00Z"},
     "is not after startDate"),
    ({"pattern": "* * * * *", "name": "has space"}, "should match pattern"),
    ({"pattern": "* * * * *", "repeatEvery": 5}, "Extra inputs are not permitted"),
])
def test_invalid_repeat_options_name_the_problem(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Repeat.model_validate({"queue": "email", "name": "x", **fields})


def test_next_runs_respect_start_and_end_dates() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    every = Repeat.model_validate({"queue": "email", "name": "x", "every": 3_600_000,
                                   "startDate": "2026-01-02T10:30:00Z", "endDate": "2026-01-02T12:30:00Z"})
    assert [r.isoformat() for r in every.next_runs(5, now)] == [
        "2026-01-02T10:30:00+00:00", "2026-01-02T11:30:00+00:00", "2026-01-02T12:30:00+00:00"]
    cron = Repeat.model_validate({"queue": "email", "name": "x", "pattern": "0 * * * *",
                                  "startDate": "2026-01-01T05:00:00", "endDate": "2026-01-01T06:59:00Z"})
    assert [r.hour for r in cron.next_runs(5, now)] == [5, 6]
    assert cron.start_date is not None and cron.start_date.tzinfo is UTC  # no offset: UTC, as Scheduler reads it
    assert Repeat(queue="email", name="x", every=60_000).options() == {"every": 60_000, "tz": "UTC"}
