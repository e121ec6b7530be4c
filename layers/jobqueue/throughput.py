"""Jobs finished in a recent window, from BullMQ's per-minute metrics (what `Queue.getMetrics` reads).

moveToFinished-13.lua keeps, per queue and kind (completed, failed), a hash `metrics:<kind>` with the running
`count` and `prevTS`/`prevCount` (when and at which count the newest minute was closed), and a list
`metrics:<kind>:data` of closed minutes, newest first: its head is the minute before `prevTS`'s. The jobs counted
since `prevTS` (`count - prevCount`) belong to `prevTS`'s minute. Removing jobs (retention, `clean`) changes none
of it, so the figures hold however little a queue keeps.

>>> finished_within(["10", "120000", "7"], ["2", "5"], now_ms=150_000, minutes=60)
10
>>> finished_within(["10", "120000", "7"], ["2", "5"], now_ms=120_000 + 60 * 60_000, minutes=60)
0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.client import Pipeline

    from jobqueue.keys import QueueKeys

__all__ = ["MINUTE_MS", "finished_within", "read_metrics"]

MINUTE_MS = 60_000


def read_metrics(pipe: Pipeline, keys: QueueKeys, kind: str, minutes: int) -> None:
    """Queue on `pipe` the two reads `finished_within` takes: the metrics hash's fields, then its newest points."""
    pipe.hmget(keys.metrics(kind), "count", "prevTS", "prevCount")
    pipe.lrange(f"{keys.metrics(kind)}:data", 0, minutes - 1)


def finished_within(meta: Sequence[str | None], points: Sequence[str], *, now_ms: int, minutes: int) -> int:
    """Jobs finished in the `minutes` up to `now_ms` (the current minute included), from `read_metrics`' answers."""
    count, prev_ts, prev_count = meta
    if count is None or prev_ts is None:
        return 0
    age = now_ms // MINUTE_MS - int(prev_ts) // MINUTE_MS  # minutes from prevTS's minute to now's
    total = int(count) - int(prev_count or 0) if age < minutes else 0
    # points[i] is the minute `age + 1 + i` minutes ago.
    return total + sum(int(p) for p in points[:max(0, minutes - age - 1)])
