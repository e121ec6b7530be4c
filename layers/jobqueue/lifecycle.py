"""The life of one delivery in a worker invocation, as one state machine: read it top to bottom.

```
 SQS record ──parse──▶ MALFORMED                          (redelivered; SQS redrives it to the DLQ)
     │  due later by its message ──▶ CHECK ──claim──▶ DEFER (a copy arrives when due) | DROP
     ▼
   claim (moveToActive, the whole batch) ──▶ RUN | WAIT | DEFER | DROP | DEAD
     │                                        WAIT: the queue's concurrency is taken: asks again in the
     │                                        invocation (then RUN), or DEFER when its wait budget is spent
     ▼                                        (a job's group busy or rate limited: DEFER at once)
   RUN ──no time left for its ttl──▶ RELEASE  (put back, no attempt spent, a copy comes back later)
     │
   start (moveToFinished, committing the previous job) ──rate limited──▶ waits in the invocation, or RELEASE
     │                                                   ──its group rate limited──▶ RELEASE
     │  the processor runs: attempt = attempts made + 1
     ▼
   DONE (completed) | RETRY (delayed: visible again after its backoff) | DEAD (failed for good)
```

Every outcome is committed to Redis before the next processor starts; the batch's SQS side (deferral copies,
dead letters, visibility changes, the partial batch response) follows at the end. A record is deleted from
its queue only when nothing more is owed for it: DONE, DROP, or a copy (DEFER, RELEASE) or dead letter (DEAD)
that SQS accepted. Otherwise it is redelivered, and its next claim finds what Redis recorded: a finished job
is dropped, a dead letter still owed is forwarded again, a stalled attempt is counted.

Attempts are jobqueue's, not SQS's: `atm` (attempts made) in the job's hash is the number of processor runs
that ended, and `ats` (attempts started) tells a stalled attempt (started, never ended) from a claim that
never reached its processor. SQS's receive count only drives the redrive safety net (`RECEIVE_MARGIN`).
"""

from __future__ import annotations

from enum import StrEnum

from jobqueue.scripts import ClaimCode

__all__ = ["CLAIM_FATES", "Fate"]


class Fate(StrEnum):
    """Where a delivery stands; the worker acts on it at the end of the batch."""

    RUN = "run"  # claimed: its processor runs in this invocation
    CHECK = "check"  # due later by its message: claimed only to learn whether it is finished or removed
    WAIT = "wait"  # refused for the rate limit or concurrency: may wait for its turn in the invocation
    DEFER = "defer"  # re-sent as a copy that arrives later (counts no receive, spends no attempt)
    RELEASE = "release"  # claimed, but no time was left to run it: put back, then deferred
    DROP = "drop"  # finished or removed: deleted without running
    DONE = "done"  # completed
    RETRY = "retry"  # failed an attempt, has more: visible again after its backoff
    DEAD = "dead"  # failed for good: forwarded to the dead-letter queue
    REDELIVER = "redeliver"  # nothing could be decided (Redis or SQS unavailable): redelivered as it is
    MALFORMED = "malformed"  # not a job of this queue


CLAIM_FATES: dict[int, tuple[Fate, str]] = {
    ClaimCode.CLAIMED: (Fate.RUN, ""),
    ClaimCode.STALLED: (Fate.RUN, "stalled"),
    ClaimCode.CHECKED: (Fate.DEFER, "delay"),
    ClaimCode.FINISHED: (Fate.DROP, "finished"),
    ClaimCode.REMOVED: (Fate.DROP, "removed"),
    ClaimCode.PAUSED: (Fate.DEFER, "paused"),
    ClaimCode.RUNNING: (Fate.DEFER, "running"),
    ClaimCode.YIELD: (Fate.DEFER, "yield"),
    ClaimCode.BUSY: (Fate.WAIT, "busy"),
    ClaimCode.NOT_DUE: (Fate.DEFER, "delay"),
    ClaimCode.EXHAUSTED: (Fate.DEAD, "stalled"),
    ClaimCode.DEAD_OWED: (Fate.DEAD, "owed"),
    ClaimCode.GROUP_BUSY: (Fate.DEFER, "group-busy"),
    ClaimCode.GROUP_LIMITED: (Fate.DEFER, "group-limited"),
}
"""What each moveToActive answer means for the delivery, and why (the reason names its deferral or drop).
ClaimCode.MISSING is not here: the worker restores the job from its message and claims it again."""
