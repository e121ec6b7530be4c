"""Flow control for the worker: what moveToActive may refuse, and how long a refused delivery waits.

Every gate is decided in Redis, in the batch's moveToActive round trip (see moveToActive-11.lua), so it holds
across every instance of a queue's worker function:

- **priority**: a prioritized job yields while a job of higher priority (a lower number) of its queue waits;
  after `MAX_YIELDS` deferrals it runs anyway, so a flood of urgent jobs delays others but never starves them.
- **rate limit** `{max, duration}`: at most `max` jobs start in any window of `duration` ms (a sliding-window
  log, exact where a fixed window lets through twice `max` across a boundary).
- **concurrency**: at most `concurrency` invocations of the queue's worker run jobs at once, whatever the
  number of lanes and event sources feeding it (Lambda runs a batch's records one after another).
- **leases**: a started job is leased for the function's timeout; another delivery of it meanwhile is a
  duplicate (deferred until the lease ends), one after the lease has expired is a stall (run again).
- **groups** (a job's `group: {id}`, its tenant): at most `group_concurrency` jobs of one group run at once (a
  job holds a slot of its group from its start until its outcome is committed, or until its lease expires when
  its invocation died), and at most `group_rate_limit.max` of them start in any `duration` ms. Both are checked
  when a job starts (moveToFinished), and the claim already refuses the jobs of a group at a limit. A refused job
  is deferred at once, with the batch's other jobs of its group, never waited for in the invocation: its time
  goes to other groups' jobs instead.

A refused delivery waits inside the invocation while that is short (a limited or busy batch sleeps and asks
again, for the whole remainder of the batch in one call), else it is deferred: re-sent with DelaySeconds as a
copy that counts no attempt, the job keeping its state in Redis. Deferrals never consume an attempt and
never send a job to the dead-letter queue.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobqueue.scripts import Gates

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from jobqueue.catalog import QueueConfig

__all__ = ["BUSY_POLL_SECONDS", "MAX_YIELDS", "WaitBudget", "defer_seconds", "gates_for"]

MAX_YIELDS = 30
"""Deferrals a job accepts for higher-priority work before it runs regardless (its message counts them)."""
YIELD_DEFER_SECONDS = 1
BUSY_DEFER_SECONDS = 2
GROUP_BUSY_DEFER_SECONDS = 1
"""How long a delivery refused because its group's jobs take all of its `group_concurrency` waits (SQS
DelaySeconds): SQS's shortest delay, so a busy group's next jobs come round soon (they never wait in an
invocation: that would hold up other groups' jobs), and never at once, so a refusal cannot spin."""
BUSY_POLL_SECONDS = 0.1
"""How often a batch refused for concurrency asks again while it may wait in the invocation."""


def gates_for(config: QueueConfig, concurrency: int, limit_max: int | None, limit_duration: int) -> Gates:
    """One invocation's gates: a fresh slot token, leases as long as the function may run."""
    group_limit = config.group_rate_limit
    return Gates(token=uuid.uuid4().hex, lease_ms=config.timeout * 1000, concurrency=concurrency,
                 limit_max=limit_max, limit_duration=limit_duration, group_concurrency=config.group_concurrency,
                 group_limit_max=group_limit.max if group_limit else None,
                 group_limit_duration=group_limit.duration if group_limit else 0)


def defer_seconds(action: str, wait_ms: int = 0) -> int:
    """DelaySeconds of a copy deferred for `action` (yield, busy, group-busy; limited and running wait `wait_ms`:
    until the rate limit allows a start, until the running job's lease ends; group-limited waits for the time its
    claim answered, at least this); never 0, so it cannot spin."""
    if action in ("limited", "running", "group-limited"):
        return max(1, math.ceil(wait_ms / 1000) + (action == "running"))
    if action == "group-busy":
        return GROUP_BUSY_DEFER_SECONDS
    return YIELD_DEFER_SECONDS if action == "yield" else BUSY_DEFER_SECONDS


@dataclass
class WaitBudget:
    """How long an invocation may wait for the rate limit or a slot: half its time, the rest being for jobs."""

    deadline: float

    @classmethod
    def of(cls, timeout_s: int, context: LambdaContext | None) -> WaitBudget:
        available = timeout_s * 1000
        if context is not None:
            available = min(available, context.get_remaining_time_in_millis())
        return cls(time.monotonic() + available / 2000)

    def allows(self, seconds: float) -> bool:
        return time.monotonic() + seconds <= self.deadline
