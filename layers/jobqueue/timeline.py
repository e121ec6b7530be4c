"""A job's history from its queue's BullMQ events stream: what the dashboard's attempt timeline shows.

The Lua scripts append an event when a job is added (`added`, then `waiting` or `delayed`), starts (`active`),
when an attempt fails and is retried (`delayed`, with `delay` the time it is due again), fails for good (`failed`),
completes (`completed`), is retried or redriven (`waiting` with `prev` failed) or removed. Each stream entry's id
is the time Redis wrote it, so the gaps between a failure and its next due time are the job's backoff delays
(seed 000's 1, 2, 4, 8 s). The stream is capped (`JOBQUEUE_MAX_LEN_EVENTS`): `complete` says whether the whole
stream was read, so older events of a busy queue may be gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from redis import Redis

__all__ = ["Attempt", "JobEvent", "Timeline", "read_timeline"]

PAGE = 1000
"""Stream entries read per XREVRANGE call."""
_OUTCOMES = {"delayed": "retry", "failed": "failed", "completed": "completed"}
_ENDINGS = tuple(_OUTCOMES)


@dataclass(frozen=True)
class JobEvent:
    event: str
    at: int
    """ms since the epoch: when Redis wrote it"""
    fields: dict[str, str]


@dataclass(frozen=True)
class Attempt:
    """One run of the job that ended: how, when, and how long it waited before the next run was due."""

    attempt: int
    startedAt: int | None
    """ms since the epoch, from its `active` event (None when that event is gone)"""
    endedAt: int
    outcome: str
    """retry, failed or completed"""
    reason: str | None
    nextDueAt: int | None
    delayMs: int | None
    """the backoff before the next attempt (nextDueAt - endedAt), for a retried attempt"""


@dataclass
class Timeline:
    events: list[JobEvent] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    complete: bool = True


def _entry_ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def read_timeline(redis: Redis, events_key: str, job_id: str, *, max_entries: int) -> Timeline:
    """The job's events oldest first and its ended attempts, reading at most `max_entries` stream entries
    (newest first, PAGE at a time): bounded work whatever the queue's size."""
    found: list[JobEvent] = []
    upper, read = "+", 0
    while read < max_entries:
        asked = min(PAGE, max_entries - read)
        page = cast("list[tuple[str, dict[str, str]]]", redis.xrevrange(events_key, max=upper, min="-", count=asked))
        found += [JobEvent(values.get("event", ""), _entry_ms(entry_id),
                           {k: v for k, v in values.items() if k not in ("event", "jobId")})
                  for entry_id, values in page if values.get("jobId") == job_id]
        read += len(page)
        if len(page) < asked:
            found.reverse()
            return Timeline(found, _attempts(found), complete=True)
        upper = "(" + page[-1][0]
    found.reverse()
    return Timeline(found, _attempts(found), complete=False)


def _attempts(events: list[JobEvent]) -> list[Attempt]:
    """Each event that ends an attempt, numbered; a retry or redrive (`waiting` after `failed`) starts over at 1,
    as the job's attempts do. A `delayed` right after `added` is the job's own delay, not a retry."""
    attempts: list[Attempt] = []
    number, started = 0, None
    for index, event in enumerate(events):
        if event.event == "waiting" and event.fields.get("prev") == "failed":
            number = 0
        if event.event == "active":
            started = event.at
        if event.event not in _ENDINGS or (event.event == "delayed" and index and events[index - 1].event == "added"):
            continue
        number += 1
        due = int(event.fields["delay"]) if event.event == "delayed" and event.fields.get("delay", "").isdigit() \
            else None
        attempts.append(Attempt(attempt=number, startedAt=started, endedAt=event.at, outcome=_OUTCOMES[event.event],
                                reason=event.fields.get("failedReason"), nextDueAt=due,
                                delayMs=None if due is None else max(0, due - event.at)))
        started = None
    return attempts
