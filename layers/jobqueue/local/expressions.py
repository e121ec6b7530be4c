"""EventBridge Scheduler's schedule expressions, evaluated as Scheduler fires them: `cron(...)`, `rate(...)`, `at(...)`.

`cron(min hour day-of-month month day-of-week year)` is read into the engine's `CronSpec` (weekdays 1-7 from
Sunday become cron's 0-6), so local firing and `jobqueue schedules` share one calendar, time zones and daylight
saving rules included. `rate(n unit)` counts from the schedule's start date (else its creation); `at(...)` is one
wall-clock time in the schedule's time zone.

>>> from datetime import UTC, datetime
>>> expression = parse_expression("cron(0 9 ? * MON-FRI *)", "Europe/Berlin")
>>> [t.isoformat() for t in expression.times(datetime(2026, 3, 27, 12, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))]
['2026-03-30T09:00:00+02:00']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import takewhile
from typing import TYPE_CHECKING

from jobqueue.cron import next_times, parse_cron, time_zone
from jobqueue.errors import CatalogError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import tzinfo

    from jobqueue.cron import CronSpec

__all__ = ["Expression", "parse_expression"]

_FORM = re.compile(r"^(cron|rate|at)\((.*)\)$")
_RATE = re.compile(r"^(\d+) (minute|minutes|hour|hours|day|days)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}
_WEEKDAY_NUMBER = re.compile(r"(?<![#\d])(\d+)")
_YEARS = re.compile(r"^(\d{4})(?:-(\d{4}))?(?:/(\d+))?$")


@dataclass(frozen=True)
class Expression:
    """A parsed expression: `times(after, until)` are its firings in (after, until], oldest first."""

    text: str
    tz: tzinfo
    cron: CronSpec | None = None
    years: frozenset[int] | None = None
    every: timedelta | None = None
    once: datetime | None = None

    def times(self, after: datetime, until: datetime, anchor: datetime | None = None) -> list[datetime]:
        """Firings in (after, until]; `anchor` is where a rate counts from (start date, else creation)."""
        return list(takewhile(lambda t: t <= until, self._after(after, anchor or after)))

    def _after(self, after: datetime, anchor: datetime) -> Iterator[datetime]:
        """Every firing after `after`, oldest first."""
        if self.once is not None:
            yield from [self.once] if self.once > after else []
        elif self.every is not None:
            step = max(0, (after - anchor) // self.every + 1) if after >= anchor else 0
            while True:
                yield anchor + step * self.every
                step += 1
        else:
            assert self.cron is not None
            for run in next_times(self.cron, self.tz, after):
                if self.years is not None and run.year > max(self.years):
                    return
                if self.years is None or run.year in self.years:
                    yield run


def _error(text: str, problem: str) -> CatalogError:
    return CatalogError(f"schedule expression {text!r}: {problem}")


def _years(text: str, field: str) -> frozenset[int] | None:
    if field in ("*", "?"):
        return None
    years: set[int] = set()
    for item in field.split(","):
        found = _YEARS.match(item)
        if not found:
            raise _error(text, f"year {item!r} is not a year, a range or a range/step")
        first = int(found.group(1))
        last = int(found.group(2) or (2199 if found.group(3) else first))
        years.update(range(first, last + 1, int(found.group(3) or 1)))
    return frozenset(years)


def _weekdays(text: str, field: str) -> str:
    """Scheduler's day-of-week (1-7 from Sunday, or names) in cron's numbering (0-6 from Sunday)."""
    def shift(found: re.Match[str]) -> str:
        number = int(found.group(1))
        if not 1 <= number <= 7:
            raise _error(text, f"day-of-week value {number} is outside 1-7")
        return str(number - 1)

    return _WEEKDAY_NUMBER.sub(shift, field)


def _cron(text: str, body: str) -> tuple[CronSpec, frozenset[int] | None]:
    fields = body.split()
    if len(fields) != 6:
        raise _error(text, f"cron() takes 6 fields (minutes hours day-of-month month day-of-week year), "
                           f"got {len(fields)}")
    minute, hour, day, month, weekday, year = fields
    if (day == "?") == (weekday == "?"):
        raise _error(text, "exactly one of day-of-month and day-of-week must be '?'")
    if "W" in day.upper():
        raise _error(text, "'W' (nearest weekday) is not evaluated by the local runtime")
    try:
        spec = parse_cron(" ".join([minute, hour, day, month, _weekdays(text, weekday)]))
    except CatalogError as exc:
        raise _error(text, str(exc)) from exc
    return spec, _years(text, year)


def parse_expression(text: str, timezone: str = "UTC") -> Expression:
    """Parse a Scheduler expression in its ScheduleExpressionTimezone; CatalogError names what is wrong."""
    found = _FORM.match(text.strip())
    if not found:
        raise _error(text, "expected cron(...), rate(...) or at(...)")
    kind, body = found.group(1), found.group(2).strip()
    tz = time_zone(timezone)
    if kind == "cron":
        spec, years = _cron(text, body)
        return Expression(text, tz, cron=spec, years=years)
    if kind == "rate":
        rate = _RATE.match(body)
        if not rate or int(rate.group(1)) < 1:
            raise _error(text, "rate() takes a positive whole number and minute(s), hour(s) or day(s)")
        unit = rate.group(2).rstrip("s")
        return Expression(text, tz, every=timedelta(seconds=int(rate.group(1)) * _UNIT[unit]))
    try:
        local = datetime.strptime(body, "%Y-%m-%dT%H:%M:%S")
    except ValueError as exc:
        raise _error(text, "at() takes yyyy-mm-ddThh:mm:ss") from exc
    return Expression(text, tz, once=local.replace(tzinfo=tz).astimezone(UTC))
