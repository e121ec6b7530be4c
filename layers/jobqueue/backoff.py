"""Retry delays: BullMQ's fixed and exponential backoff, with optional jitter."""

from __future__ import annotations

import math
import random

from jobqueue.catalog import MAX_VISIBILITY_S, Backoff

__all__ = ["backoff_delay_ms", "visibility_seconds"]


def backoff_delay_ms(backoff: Backoff | None, attempts_made: int, rand: random.Random | None = None) -> int:
    """Wait before the next attempt after `attempts_made` failed ones: `delay` or `delay * 2**(n-1)`.

    Jitter j draws the delay uniformly from [delay * (1 - j), delay], as BullMQ does: never longer.

    >>> backoff_delay_ms(Backoff(type="exponential", delay=1000), 3)
    4000
    """
    if backoff is None or attempts_made < 1:
        return 0
    delay = backoff.delay_for(attempts_made)
    if backoff.jitter:
        low = delay * (1 - backoff.jitter)
        delay = round(low + (rand or random).random() * (delay - low))
    return int(delay)


def visibility_seconds(delay_ms: int) -> int:
    """SQS counts whole seconds: round up so that a backoff is never cut short."""
    return min(MAX_VISIBILITY_S, math.ceil(delay_ms / 1000))
