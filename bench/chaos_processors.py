"""The processors of `make chaos` (bench/chaos.py), loaded by the runtime's function processes.

Every run of the `chaos` queue's processor appends JSON lines to a run log outside Redis (CHAOS_RUN_LOG), so the
chaos driver can count real runs whatever Redis forgot: `start` when the processor is entered, then `done` just
before it returns or `fail` just before it raises a transient error (CHAOS_FAIL_RATE of the runs, decided by
a hash of CHAOS_SEED, job and attempt). The queue's `on_dead` hook logs `dead`. Each line carries the client's
token (`data.token`), the job id and timestamp (one incarnation of a job), the attempt the engine passed, the
process id and the time. Every other catalog queue gets a no-op processor, so the seed systems' cron jobs
finish quietly during the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import TYPE_CHECKING, Any

from jobqueue import Job, processor
from jobqueue.catalog import default_catalog

if TYPE_CHECKING:
    from jobqueue.job import DeadLetter

__all__ = ["QUEUE", "TransientError", "record_dead", "run"]

QUEUE = "chaos"
_log: list[int] = []
"""The run log's descriptor, opened on first use."""


class TransientError(RuntimeError):
    """The injected failure: retryable, like a dependency's timeout."""


def _write(event: str, **fields: Any) -> None:
    """One line, one write(2) on an O_APPEND descriptor: lines of concurrent processes never interleave, and a
    line is in the file once write returns, even if the process is SIGKILLed right after."""
    if not _log:
        _log.append(os.open(os.environ["CHAOS_RUN_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    line = json.dumps({"ev": event, **fields, "pid": os.getpid(), "t": time.time()}, separators=(",", ":"))
    os.write(_log[0], (line + "\n").encode())


def _fails(job: Job) -> bool:
    rate = float(os.environ.get("CHAOS_FAIL_RATE", "0.3"))
    digest = hashlib.sha256(f"{os.environ.get('CHAOS_SEED', '')}:{job.id}:{job.timestamp}:{job.attempt}".encode())
    return int.from_bytes(digest.digest()[:8], "big") / 2**64 < rate


@processor(QUEUE)
def run(job: Job) -> dict[str, Any]:
    """Log the run, work `data.ms` milliseconds (so a SIGKILL can land inside a run), fail transiently or not."""
    data = job.data if isinstance(job.data, dict) else {}
    fields = {"token": data.get("token"), "job": job.id, "ts": job.timestamp, "attempt": job.attempt}
    _write("start", **fields)
    time.sleep(max(0, int(data.get("ms", 0))) / 1000)
    if _fails(job):
        _write("fail", **fields)
        raise TransientError(f"injected transient failure on attempt {job.attempt}")
    _write("done", **fields)
    return {"token": fields["token"], "attempt": job.attempt}


def record_dead(letter: DeadLetter) -> None:
    """The chaos queue's `on_dead` hook: every dead letter, as the dead-letter function saw it."""
    data = letter.data if isinstance(letter.data, dict) else {}
    _write("dead", token=data.get("token"), job=letter.originalJobId, attemptsMade=letter.attemptsMade,
           error=letter.error[:300])


def _no_op(job: Job) -> None:
    """Other queues' jobs (the seeds' cron ticks) finish at once."""


for _name in default_catalog().queues:
    if _name != QUEUE:
        processor(_name)(_no_op)
