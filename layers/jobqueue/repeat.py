"""BullMQ's repeat options (`pattern` or `every`, `tz`, `limit`, `startDate`, `endDate`) as Scheduler runs them.

A `Repeat` is one repeatable job: a catalog cron entry, or one added at run time (`POST /schedules`). It is
validated where it is made, so that a pattern EventBridge Scheduler would refuse, or a time zone it does not
know, is a clear error naming the field instead of a failed deployment; and it knows its Scheduler expression
(`cron(...)` in its time zone, or `rate(...)` for `every`) and its next run times.

>>> Repeat(queue="email", name="digest", pattern="0 9 * * *", tz="Europe/Berlin").expression()
'cron(0 9 ? * * *)'
>>> Repeat(queue="health-check", name="ping", every=300_000).expression()
'rate(5 minutes)'
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice, takewhile
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from jobqueue.catalog import QUEUE_NAME, CronEntry
from jobqueue.cron import (
    CronPattern,
    TimeZoneName,
    next_times,
    parse_cron,
    refused_as_value_error,
    time_zone,
    to_scheduler_expression,
)
from jobqueue.errors import CatalogError

__all__ = ["Repeat", "rate_expression"]

_MINUTE_MS = 60_000
_UNITS = ((24 * 60, "day"), (60, "hour"), (1, "minute"))


def rate_expression(every_ms: int) -> str:
    """Scheduler's `rate(value unit)` for BullMQ's `every` (ms): whole minutes, hours or days only.

    >>> rate_expression(86_400_000)
    'rate(1 day)'
    """
    if every_ms < _MINUTE_MS or every_ms % _MINUTE_MS:
        raise CatalogError(f"every {every_ms} ms: EventBridge Scheduler's rate() runs in whole minutes "
                           f"(a multiple of 60000 ms, at least 60000)")
    minutes = every_ms // _MINUTE_MS
    size, unit = next((size, unit) for size, unit in _UNITS if minutes % size == 0)
    value = minutes // size
    return f"rate({value} {unit}{'' if value == 1 else 's'})"


def _as_utc(value: datetime | None) -> datetime | None:
    # A date without an offset is UTC, as Scheduler reads StartDate and EndDate.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Repeat(BaseModel):
    """One repeatable job of `queue`: run `name` with `data` on `pattern` (5-field cron in `tz`) or `every` ms."""

    # Built on first validation: only run-time schedules (POST /schedules) need it, not a cold start.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    queue: Annotated[str, Field(pattern=QUEUE_NAME, description="a queue of the catalog")]
    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$",
                      description="the job name; unique among schedules")
    pattern: CronPattern | None = Field(None, description="5-field cron pattern (BullMQ's), e.g. '0 9 * * *'")
    every: Annotated[int, Field(gt=0), AfterValidator(refused_as_value_error(rate_expression))] | None = Field(
        None, description="ms between runs (whole minutes for Scheduler's rate())")
    tz: TimeZoneName = Field("UTC", description="IANA time zone of the pattern, e.g. 'Europe/Berlin'")
    data: dict[str, Any] = Field(default_factory=dict)
    limit: int | None = Field(None, ge=1, description="runs at most this many times")
    start_date: datetime | None = Field(None, alias="startDate", description="no run before (ISO 8601)")
    end_date: datetime | None = Field(None, alias="endDate", description="no run after (ISO 8601)")

    @field_validator("start_date", "end_date")
    @classmethod
    def _dates_in_utc(cls, value: datetime | None) -> datetime | None:
        return _as_utc(value)

    @model_validator(mode="after")
    def _one_timing(self) -> Repeat:
        if (self.pattern is None) == (self.every is None):
            raise ValueError("give exactly one of 'pattern' (cron) and 'every' (ms)")
        if self.start_date and self.end_date and self.end_date <= self.start_date:
            raise ValueError(f"endDate {self.end_date.isoformat()} is not after "
                             f"startDate {self.start_date.isoformat()}")
        return self

    @classmethod
    def of(cls, queue: str, entry: CronEntry) -> Repeat:
        """A catalog cron entry (already validated by the catalog)."""
        return cls(queue=queue, name=entry.name, pattern=entry.pattern, tz=entry.tz, data=entry.data)

    def expression(self) -> str:
        """The Scheduler ScheduleExpression: `cron(...)` (with `tz` as its time zone) or `rate(...)`."""
        return to_scheduler_expression(self.pattern) if self.pattern else rate_expression(self.every or 0)

    def options(self) -> dict[str, Any]:
        """The repeat options beyond queue, name and data, as the API takes them (what a run-time schedule keeps)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"queue", "name", "data"})

    def next_runs(self, count: int = 3, now: datetime | None = None) -> list[datetime]:
        """The next `count` run times after `now` within the start and end dates, as Scheduler runs them.

        A cron pattern's times are in `tz` (across daylight-saving changes a skipped time does not run and a
        repeated one runs once); `every` counts from `startDate`, or, without one, from `now` (an estimate:
        Scheduler counts from when the schedule was created).
        """
        now = _as_utc(now) or datetime.now(UTC)
        after = max(now, self.start_date - timedelta(microseconds=1)) if self.start_date else now
        if self.pattern:
            runs = next_times(parse_cron(self.pattern), time_zone(self.tz), after)
        else:
            step = timedelta(milliseconds=self.every or 0)
            first = self.start_date or now
            skipped = max(0, (after - first) // step + 1) if after >= first else 0
            runs = (first + step * (skipped + i) for i in range(count + 1))
        end = self.end_date
        return list(islice(takewhile(lambda run: end is None or run <= end, runs), count))
