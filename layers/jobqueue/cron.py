"""BullMQ's 5-field cron patterns: parsed once, converted to EventBridge Scheduler syntax, and stepped in time.

BullMQ reads patterns with npm `cron-parser`; EventBridge Scheduler, which fires them once deployed, speaks a
6-field dialect (`cron(min hour day-of-month month day-of-week year)`) with its own rules. Both are derived
from one parsed `CronSpec`, so what `jobqueue schedules` shows is what Scheduler runs.

>>> to_scheduler_expression("*/5 * * * 1-5")
'cron(0/5 * ? * MON-FRI *)'
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import pairwise
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator

from jobqueue.errors import CatalogError

__all__ = ["CronPattern", "CronSpec", "TimeZoneName", "next_times", "parse_cron", "refused_as_value_error", "time_zone",
           "to_scheduler_expression"]

DayRule = Literal["any", "day-of-month", "day-of-week", "both"]

# English names whatever the locale (calendar.month_abbr follows it).
_MONTHS = {"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10,
           "Nov": 11, "Dec": 12}
_WEEKDAYS = {"Sun": 0, "Mon": 1, "Tue": 2, "Wed": 3, "Thu": 4, "Fri": 5, "Sat": 6}
_WEEKDAY_NAMES = {number: name.upper() for name, number in _WEEKDAYS.items()}
_ALLOWED = re.compile(r"^[0-9A-Za-z*?/,#-]+$")
_NAME = re.compile(r"[A-Za-z]{3}")
_SPECIAL_WEEKDAY = re.compile(r"^([0-7])(L|#([1-5]))$")
# The longest gap between two runs of a pattern: February 29th, or a fifth Monday in February (28 years).
_HORIZON_DAYS = 366 * 29


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]
    top: int = -1
    """The largest distinct value (day-of-week accepts 7, which is 0 again)."""

    @property
    def every(self) -> frozenset[int]:
        return frozenset(range(self.low, (self.top if self.top >= 0 else self.high) + 1))


_MINUTE = _Field("minute", 0, 59, {})
_HOUR = _Field("hour", 0, 23, {})
_DAY = _Field("day-of-month", 1, 31, {})
_MONTH = _Field("month", 1, 12, _MONTHS)
_WEEKDAY = _Field("day-of-week", 0, 7, _WEEKDAYS, top=6)
_FIELDS = (_MINUTE, _HOUR, _DAY, _MONTH, _WEEKDAY)


@dataclass(frozen=True)
class CronSpec:
    """A 5-field pattern as sets of allowed values, with cron-parser's (BullMQ's) meaning.

    `day_rule` says which day field decides: cron runs a day when either restricted field matches
    ("both"), which Scheduler cannot express. Day-of-week numbers are cron's, 0 = Sunday.
    """

    pattern: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    day_rule: DayRule
    last_day: bool = False
    """`L` in day-of-month: the month's last day."""
    last_weekday: bool = False
    """`5L` in day-of-week: the month's last Friday."""
    nth_weekday: int = 0
    """`5#3` in day-of-week: the month's third Friday (3); 0 when not used."""

    def runs_on(self, day: date) -> bool:
        """Whether the pattern fires on `day` (its hours and minutes aside)."""
        if day.month not in self.months:
            return False
        length = calendar.monthrange(day.year, day.month)[1]
        by_day_of_month = day.day in self.days or (self.last_day and day.day == length)
        by_weekday = (day.isoweekday() % 7 in self.weekdays
                      and (not self.nth_weekday or (day.day - 1) // 7 + 1 == self.nth_weekday)
                      and (not self.last_weekday or day.day + 7 > length))
        rules = {"any": True, "day-of-month": by_day_of_month, "day-of-week": by_weekday,
                 "both": by_day_of_month or by_weekday}
        return rules[self.day_rule]


def _error(pattern: str, problem: str) -> CatalogError:
    return CatalogError(f"cron pattern {pattern!r}: {problem}")


def _check_characters(pattern: str, field: _Field, text: str) -> None:
    """Name what BullMQ's cron-parser would refuse, before the values are read."""
    if not _ALLOWED.match(text):
        raise _error(pattern, f"{field.name} {text!r} has characters cron does not use")
    letters = (_NAME.sub("", text) if field.names else text).upper()
    letters = "".join(c for c in letters if c.isalpha() and not (c == "L" and field in (_DAY, _WEEKDAY)))
    if "W" in letters:
        raise _error(pattern, f"{field.name} {text!r}: 'W' (nearest weekday) is not part of BullMQ's cron syntax")
    if "H" in letters:
        raise _error(pattern, f"{field.name} {text!r}: 'H' (hashed values) is not supported")
    if letters:
        raise _error(pattern, f"{field.name} {text!r}: unexpected {letters!r}")


def _number(pattern: str, field: _Field, text: str) -> int:
    if not text.isdigit():
        raise _error(pattern, f"{field.name} value {text!r} is not a number")
    value = int(text)
    if not field.low <= value <= field.high:
        raise _error(pattern, f"{field.name} value {value} is outside {field.low}-{field.high}")
    return value


def _item_values(pattern: str, field: _Field, item: str) -> range:
    """One comma-separated item: `*`, `a`, `a-b`, each optionally `/step` (`a/step` runs to the field's end)."""
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) == 0:
            raise _error(pattern, f"{field.name} step {step_text!r} is not a positive number")
        step = int(step_text)
    if base in ("*", "?"):
        return range(field.low, field.high + 1, step)
    first, dash, last = base.partition("-")
    start = _number(pattern, field, first)
    end = _number(pattern, field, last) if dash else (field.high if slash else start)
    if start > end:
        raise _error(pattern, f"{field.name} range {base!r} runs backwards")
    return range(start, end + 1, step)


def _with_numbers(pattern: str, field: _Field, text: str) -> str:
    """Month and weekday names (any case) replaced by their numbers."""
    if not field.names:
        return text
    return _NAME.sub(lambda m: str(_name_number(pattern, field, m.group())), text)


def _name_number(pattern: str, field: _Field, name: str) -> int:
    number = field.names.get(name.title())
    if number is None:
        known = ", ".join(field.names).upper()
        raise _error(pattern, f"{field.name} name {name!r} is unknown (use {known})")
    return number


def _values(pattern: str, field: _Field, text: str) -> frozenset[int]:
    values: set[int] = set()
    for item in _with_numbers(pattern, field, text).split(","):
        if not item:
            raise _error(pattern, f"{field.name} has an empty list item")
        values.update(_item_values(pattern, field, item))
    return frozenset(v % 7 for v in values) if field is _WEEKDAY else frozenset(values)  # 7 is Sunday too


def _special_weekday(pattern: str, text: str) -> tuple[str, bool, int]:
    """Split `5L` / `FRI#3` into the weekday and its qualifier: (weekday, last, nth)."""
    numbered = _with_numbers(pattern, _WEEKDAY, text).upper()
    if "L" not in numbered and "#" not in numbered:
        return text, False, 0
    match = _SPECIAL_WEEKDAY.match(numbered)
    if not match:
        raise _error(pattern, f"day-of-week {text!r}: 'L' and '#' take one weekday and no list, e.g. 5L or 5#2")
    return match.group(1), match.group(2) == "L", int(match.group(3) or 0)


def _day_rule(day_restricted: bool, day_full: bool, weekday_restricted: bool, weekday_full: bool) -> DayRule:
    """cron-parser's rule: a day field written `*` or `?` does not restrict; if both restrict, either day runs.

    A restricting field that lists every day makes every day run, whatever the other says.
    """
    if day_restricted and weekday_restricted:
        return "any" if day_full or weekday_full else "both"
    if day_restricted:
        return "any" if day_full else "day-of-month"
    if weekday_restricted:
        return "any" if weekday_full else "day-of-week"
    return "any"


def parse_cron(pattern: str) -> CronSpec:
    """Parse a 5-field pattern (minute hour day-of-month month day-of-week) as BullMQ reads it.

    Lists, ranges, steps (`*/5`, `10-40/10`, `5/15`), month and weekday names, `?` for `*`, `L` (last day of
    the month), `5L` (last Friday) and `5#2` (second Friday). Anything else raises CatalogError naming the
    pattern and the field.
    """
    fields = pattern.split()
    if len(fields) != 5:
        raise _error(pattern, f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}")
    for field, text in zip(_FIELDS, fields, strict=True):
        _check_characters(pattern, field, text)
    minute, hour, day, month, weekday = fields
    last_day = day.upper() == "L"
    if "L" in day.upper() and not last_day:
        raise _error(pattern, f"day-of-month {day!r}: 'L' must stand alone (the month's last day)")
    weekday_text, last_weekday, nth = _special_weekday(pattern, weekday)
    days = frozenset() if last_day else _values(pattern, _DAY, day)
    weekdays = _values(pattern, _WEEKDAY, weekday_text)
    spec = CronSpec(
        pattern=pattern,
        minutes=_values(pattern, _MINUTE, minute),
        hours=_values(pattern, _HOUR, hour),
        days=days,
        months=_values(pattern, _MONTH, month),
        weekdays=weekdays,
        day_rule=_day_rule(day not in ("*", "?"), days == _DAY.every,
                           weekday not in ("*", "?"), weekdays == _WEEKDAY.every and not (last_weekday or nth)),
        last_day=last_day,
        last_weekday=last_weekday,
        nth_weekday=nth,
    )
    if spec.day_rule == "day-of-month" and not last_day:
        longest = max(calendar.monthrange(2024, m)[1] for m in spec.months)  # 2024: February has 29 days
        if min(days) > longest:
            raise _error(pattern, "never fires: none of its months has that day")
    return spec


# -- EventBridge Scheduler -------------------------------------------------------------------------------


def _render(values: frozenset[int], field: _Field, label: Callable[[int], str] = str) -> str:
    """A value set in Scheduler syntax: `*`, `start/step` up to the field's end, or ranges and single values."""
    if values == field.every:
        return "*"
    ordered = sorted(values)
    steps = {b - a for a, b in pairwise(ordered)}
    if field is not _WEEKDAY and len(ordered) >= 3 and len(steps) == 1:
        step = steps.pop()
        if step > 1 and ordered[-1] + step > field.high:
            return f"{ordered[0]}/{step}"
    runs: list[list[int]] = []
    for value in ordered:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    return ",".join(f"{label(r[0])}-{label(r[-1])}" if len(r) >= 3 else ",".join(map(label, r)) for r in runs)


def _scheduler_weekdays(spec: CronSpec) -> str:
    # Scheduler numbers weekdays 1-7 from Sunday and takes no step there; names avoid the off-by-one for readers.
    if spec.last_weekday or spec.nth_weekday:
        [weekday] = spec.weekdays
        return f"{weekday + 1}L" if spec.last_weekday else f"{weekday + 1}#{spec.nth_weekday}"
    return _render(spec.weekdays, _WEEKDAY, _WEEKDAY_NAMES.__getitem__)


def to_scheduler_expression(pattern: str | CronSpec) -> str:
    """The EventBridge Scheduler `cron(...)` expression that fires when BullMQ's pattern does.

    Scheduler needs exactly one of day-of-month and day-of-week to be `?`, numbers weekdays 1-7 from Sunday,
    has a year field, and takes no step in day-of-week (steps there become lists). A pattern that restricts
    both day fields (cron runs on either) has no Scheduler equivalent and is refused.

    >>> to_scheduler_expression("0 9 * * *")
    'cron(0 9 ? * * *)'
    """
    spec = pattern if isinstance(pattern, CronSpec) else parse_cron(pattern)
    if spec.day_rule == "both":
        day, weekday = spec.pattern.split()[2::2]
        raise _error(spec.pattern, (
            f"restricts both day-of-month ({day}) and day-of-week ({weekday}); cron runs on either, but "
            "EventBridge Scheduler needs one of them to be '*'. Split it into two cron entries"))
    day, weekday = "?", "*"
    if spec.day_rule == "day-of-month":
        day, weekday = "L" if spec.last_day else _render(spec.days, _DAY), "?"
    elif spec.day_rule == "day-of-week":
        weekday = _scheduler_weekdays(spec)
    fields = [_render(spec.minutes, _MINUTE), _render(spec.hours, _HOUR), day, _render(spec.months, _MONTH),
              weekday, "*"]
    return f"cron({' '.join(fields)})"


def time_zone(name: str) -> tzinfo:
    """The IANA time zone `name` (what Scheduler's ScheduleExpressionTimezone takes), or CatalogError.

    Other zones need a time zone database: the system's, or the `tzdata` package where there is none (Lambda).
    UTC needs none, so a catalog of UTC entries loads anywhere.
    """
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CatalogError(f"time zone {name!r} is not an IANA time zone name (e.g. 'Europe/Berlin')") from exc


# -- run times -------------------------------------------------------------------------------------------


def next_times(spec: CronSpec, tz: tzinfo, after: datetime) -> Iterator[datetime]:
    """Run times strictly after `after`, in `tz`, the way EventBridge Scheduler keeps wall-clock schedules.

    Across a daylight-saving change Scheduler skips a wall-clock time that does not exist (spring forward)
    and runs a repeated one once, at its first occurrence (fall back); so does this.
    """
    if after.tzinfo is None:
        after = after.replace(tzinfo=UTC)
    day, idle = after.astimezone(tz).date(), 0
    while idle < _HORIZON_DAYS:  # a pattern that has not run for that long never will
        idle += 1
        if spec.runs_on(day):
            for hour in sorted(spec.hours):
                for minute in sorted(spec.minutes):
                    run = _wall_clock(datetime.combine(day, time(hour, minute)), tz)
                    if run is not None and run > after:
                        idle = 0
                        yield run
        day += timedelta(days=1)


def _wall_clock(local: datetime, tz: tzinfo) -> datetime | None:
    """`local` in `tz` at its first occurrence, or None when the clock skips it."""
    aware = local.replace(tzinfo=tz, fold=0)
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local:
        return None
    return aware


def refused_as_value_error(check: Callable[[Any], object]) -> Callable[[Any], Any]:
    """A pydantic validator from a check that raises CatalogError, so the model's error names the field."""

    def validate(value: Any) -> Any:
        try:
            check(value)
        except CatalogError as exc:
            raise ValueError(str(exc)) from exc
        return value

    return validate


CronPattern = Annotated[str, AfterValidator(refused_as_value_error(to_scheduler_expression))]
"""A 5-field cron pattern EventBridge Scheduler can run (refused where it is loaded, not at deployment)."""
TimeZoneName = Annotated[str, AfterValidator(refused_as_value_error(time_zone))]
"""An IANA time zone name."""
