"""Cron patterns: BullMQ's 5 fields to EventBridge Scheduler's 6, refusals, and run times across DST."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from jobqueue.catalog import CronEntry, load_catalog
from jobqueue.errors import CatalogError
from jobqueue.schedules import list_schedules, next_runs, schedule_job_id, schedule_name, to_scheduler_expression

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(("pattern", "expression"), [
    ("0 9 * * *", "cron(0 9 ? * * *)"),
    ("*/5 * * * *", "cron(0/5 * ? * * *)"),             # seed 002's health check; Scheduler writes steps start/step
    ("* * * * *", "cron(* * ? * * *)"),                 # seed 002's scheduled messages
    ("0 9 * * 1-5", "cron(0 9 ? * MON-FRI *)"),         # cron's 1-5 is Scheduler's 2-6
    ("0 9 * * mon-fri", "cron(0 9 ? * MON-FRI *)"),
    ("0 12 * * 0", "cron(0 12 ? * SUN *)"),
    ("0 12 * * 7", "cron(0 12 ? * SUN *)"),             # 7 is Sunday too
    ("0 12 * * 5-7", "cron(0 12 ? * SUN,FRI,SAT *)"),
    ("0 0 * * */2", "cron(0 0 ? * SUN,TUE,THU,SAT *)"),  # no steps in Scheduler's day-of-week
    ("0 0 1 * *", "cron(0 0 1 * ? *)"),
    ("30 4 1,15 * *", "cron(30 4 1,15 * ? *)"),
    ("0 0 */2 * *", "cron(0 0 1/2 * ? *)"),
    ("0 0 1 */3 *", "cron(0 0 1 1/3 ? *)"),
    ("0 0 * JAN,mar *", "cron(0 0 ? 1,3 * *)"),
    ("0 */2 * * *", "cron(0 0/2 ? * * *)"),
    ("5/15 * * * *", "cron(5/15 * ? * * *)"),
    ("0-30/10 8-17 * * *", "cron(0,10,20,30 8-17 ? * * *)"),
    ("0 0 L * *", "cron(0 0 L * ? *)"),
    ("0 12 * * 5L", "cron(0 12 ? * 6L *)"),
    ("0 12 * * FRI#2", "cron(0 12 ? * 6#2 *)"),
    ("0 0 ? * 1", "cron(0 0 ? * MON *)"),
    ("0 0 1-31 * 1-5", "cron(0 0 ? * * *)"),            # cron runs either day field: every day
])
def test_bullmq_patterns_become_scheduler_expressions(pattern: str, expression: str) -> None:
    assert to_scheduler_expression(pattern) == expression


@pytest.mark.parametrize(("pattern", "message"), [
    ("0 9 1 * 1", r"'0 9 1 \* 1': restricts both day-of-month \(1\) and day-of-week \(1\).*two cron entries"),
    ("* * *", r"'\* \* \*': expected 5 fields"),
    ("0 0 * * * *", "expected 5 fields"),
    ("61 * * * *", "minute value 61 is outside 0-59"),
    ("0 24 * * *", "hour value 24 is outside 0-23"),
    ("0 0 0 * *", "day-of-month value 0 is outside 1-31"),
    ("0 0 * * 8", "day-of-week value 8 is outside 0-7"),
    ("0 0 31 2 *", "never fires"),
    ("5-1 * * * *", "range '5-1' runs backwards"),
    ("*/0 * * * *", "step '0' is not a positive number"),
    ("1,,2 * * * *", "empty list item"),
    ("0 0 * FOO *", "month name 'FOO' is unknown"),
    ("0 0 15W * *", "'W' .* is not part of BullMQ's cron syntax"),
    ("H * * * *", "'H' .* not supported"),
    ("0 0 1,L * *", "'L' must stand alone"),
    ("0 0 * * 1L,2", "'L' and '#' take one weekday"),
    ("0 0 * * 1#6", "'L' and '#' take one weekday"),
    ("0 0 * * $", "characters cron does not use"),
])
def test_patterns_scheduler_cannot_run_are_refused_naming_the_pattern(pattern: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        to_scheduler_expression(pattern)


def test_catalog_refuses_bad_patterns_and_time_zones_at_load(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "catalog.toml"  # type: ignore[operator]
    path.write_text('[queues.reports]\ncron = [{ name = "daily", pattern = "0 9 1 * MON" }]\n')
    with pytest.raises(CatalogError, match=r"queue 'reports': field cron.0.pattern: .*restricts both"):
        load_catalog(str(path))
    path.write_text('[queues.reports]\ncron = [{ name = "daily", pattern = "0 9 * * *", tz = "Mars/Olympus" }]\n')
    with pytest.raises(CatalogError, match=r"queue 'reports': field cron.0.tz: .*'Mars/Olympus' is not an IANA"):
        load_catalog(str(path))
    path.write_text('[queues.reports]\ncron = [{ name = "a", pattern = "0 9 * * *" }, '
                    '{ name = "a", pattern = "0 10 * * *" }]\n')
    with pytest.raises(CatalogError, match=r"queue 'reports': .*cron entry names must be unique"):
        load_catalog(str(path))


def test_next_runs_keep_wall_clock_time_across_berlin_dst() -> None:
    daily = CronEntry(name="morning", pattern="0 9 * * *", tz="Europe/Berlin")
    runs = next_runs(daily, 3, now=datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert [r.isoformat() for r in runs] == [
        "2026-03-29T09:00:00+02:00", "2026-03-30T09:00:00+02:00", "2026-03-31T09:00:00+02:00"]
    before = next_runs(daily, 1, now=datetime(2026, 3, 27, 12, 0, tzinfo=UTC))
    assert before[0].astimezone(UTC).hour == 8 and runs[0].astimezone(UTC).hour == 7


def test_spring_forward_skips_the_missing_hour_and_fall_back_runs_once() -> None:
    # Scheduler: a wall-clock time that does not exist is skipped; a repeated one runs once.
    night = CronEntry(name="night", pattern="30 2 * * *", tz="Europe/Berlin")
    spring = next_runs(night, 2, now=datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert [r.isoformat() for r in spring] == ["2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"]
    autumn = next_runs(night, 2, now=datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert [r.astimezone(UTC).isoformat() for r in autumn] == [
        "2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00"]

    quarter = CronEntry(name="quarter", pattern="*/15 * * * *", tz="Europe/Berlin")
    runs = next_runs(quarter, 6, now=datetime(2026, 10, 25, 0, 20, tzinfo=UTC))  # 02:20 CEST, first 02:xx
    assert [r.strftime("%H:%M%z") for r in runs] == [
        "02:30+0200", "02:45+0200", "03:00+0100", "03:15+0100", "03:30+0100", "03:45+0100"]


def test_next_runs_follow_days_weekdays_and_last_day() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday
    weekdays = next_runs(CronEntry(name="w", pattern="0 9 * * 1-5"), 3, now)
    assert [r.strftime("%a %d") for r in weekdays] == ["Thu 01", "Fri 02", "Mon 05"]
    assert [r.day for r in next_runs(CronEntry(name="l", pattern="0 0 L * *"), 3, now)] == [31, 28, 31]
    assert [r.day for r in next_runs(CronEntry(name="f", pattern="0 0 * * 5#2"), 2, now)] == [9, 13]
    assert [r.day for r in next_runs(CronEntry(name="f", pattern="0 0 * * 5L"), 2, now)] == [30, 27]
    leap = next_runs(CronEntry(name="leap", pattern="0 0 29 2 *"), 2, now)
    assert [r.year for r in leap] == [2028, 2032]
    assert next_runs(CronEntry(name="now", pattern="0 9 * * *"), 1, datetime(2026, 1, 1, 9, 0, tzinfo=UTC))[0].day == 2


def test_list_schedules_shows_every_catalog_entry() -> None:
    now = datetime(2026, 3, 29, 0, 58, 30, tzinfo=UTC)
    listed = {(s["queue"], s["name"]): s for s in list_schedules(load_catalog(), now=now)}
    assert listed[("health-check", "run-health-check")] == {
        "queue": "health-check", "name": "run-health-check", "pattern": "*/5 * * * *", "tz": "UTC",
        "expression": "cron(0/5 * ? * * *)",
        "nextRuns": ["2026-03-29T01:00:00+00:00", "2026-03-29T01:05:00+00:00", "2026-03-29T01:10:00+00:00"]}
    assert listed[("scheduled-messages", "process-scheduled-messages")]["expression"] == "cron(* * ? * * *)"


def test_schedule_and_job_names_are_safe_and_distinct() -> None:
    at = datetime(2026, 3, 29, 3, 5, tzinfo=BERLIN)
    assert schedule_job_id("run-health-check", at) == "repeat-run-health-check-20260329T010500Z"
    odd = schedule_job_id("daily: report", at)
    assert ":" not in odd and " " not in odd and odd != schedule_job_id("daily--report", at)
    entry = CronEntry(name="x" * 80, pattern="* * * * *")
    long_name = schedule_name("email", entry, "prod-")
    assert len(long_name) == 64 and long_name.startswith("prod-email.xxx")
    assert schedule_name("email", CronEntry(name="digest", pattern="* * * * *")) == "email.digest"
