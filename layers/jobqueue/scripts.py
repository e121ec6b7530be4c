"""The only caller of Lua: one typed method per script in `commands/`, each a single round trip."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from jobqueue import __version__
from jobqueue.errors import JobNotFoundError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis import Redis
    from redis.commands.core import Script

    from jobqueue.job import JobMessage
    from jobqueue.keys import QueueKeys

__all__ = ["Delivery", "Finish", "NewJob", "Scripts", "StartCode", "raise_for_code"]

VERSION = f"jobqueue:{__version__}"


class StartCode:
    """What moveToActive answers for each job."""

    STARTED = 0
    STALLED = 1
    MISSING = -1
    FINISHED = -2


@dataclass(frozen=True)
class NewJob:
    custom_id: str
    name: str
    data: str
    opts: str
    delay: int
    priority: int


@dataclass(frozen=True)
class Delivery:
    job_id: str
    attempt: int
    expected: str  # "wait" | "delayed" | "prioritized"


@dataclass(frozen=True)
class Finish:
    job_id: str
    outcome: str  # "completed" | "retry" | "failed"
    attempts_made: int
    value: str
    stacktrace: str = "[]"
    due_at: int = 0
    keep_count: int | None = None
    keep_age: int | None = None


@dataclass(frozen=True)
class DeadRecord:
    message: JobMessage
    reason: str
    attempts_made: int
    record: str


@cache
def _source(name: str) -> str:
    return resources.files("jobqueue").joinpath("commands", name).read_text()


def raise_for_code(script: str, code: int, job_id: str) -> None:
    """Turn a script's negative answer into jobqueue's typed error."""
    if code == -1:
        raise JobNotFoundError(f"{script}: job {job_id!r} does not exist")
    if code < 0:
        raise JobNotFoundError(f"{script}: unexpected code {code} for job {job_id!r}")


class Scripts:
    """Lua scripts bound to one Redis client and one queue's keys; redis-py runs them by SHA."""

    def __init__(self, client: Redis, keys: QueueKeys, max_len_events: int = 10_000) -> None:
        self.client = client
        self.keys = keys
        self.max_len_events = max_len_events
        self._scripts: dict[str, Script] = {}

    def _script(self, name: str) -> Script:
        if name not in self._scripts:
            self._scripts[name] = self.client.register_script(_source(name))
        return self._scripts[name]

    def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return self._script(name)(keys=list(keys), args=list(args))

    def add_jobs(self, jobs: Sequence[NewJob], timestamp: int) -> list[tuple[str, bool]]:
        """Add jobs; answers (id, added) in order, added False where the custom id already existed."""
        k = self.keys
        args: list[Any] = [k.base, timestamp, self.max_len_events, VERSION, len(jobs)]
        for job in jobs:
            args += [job.custom_id, job.name, job.data, job.opts, job.delay, job.priority]
        result = self._run(
            "addJobs-7.lua",
            [k.id, k.wait, k.delayed, k.prioritized, k.priority_counter, k.events, k.meta],
            args,
        )
        return [(r[1:], False) if r.startswith("=") else (r, True) for r in result]

    def move_to_active(self, deliveries: Sequence[Delivery], timestamp: int) -> list[int]:
        k = self.keys
        args: list[Any] = [k.base, timestamp, self.max_len_events, len(deliveries)]
        for d in deliveries:
            args += [d.job_id, d.attempt, d.attempt - 1, d.expected]
        return [int(c) for c in self._run(
            "moveToActive-5.lua", [k.wait, k.active, k.delayed, k.prioritized, k.events], args
        )]

    def move_to_finished(self, finishes: Sequence[Finish], timestamp: int) -> list[int]:
        k = self.keys
        args: list[Any] = [k.base, timestamp, self.max_len_events, len(finishes)]
        for f in finishes:
            args += [f.job_id, f.outcome, f.attempts_made, f.value, f.stacktrace, f.due_at or "",
                     "" if f.keep_count is None else f.keep_count, f.keep_age or ""]
        return [int(c) for c in self._run(
            "moveToFinished-5.lua", [k.active, k.completed, k.failed, k.delayed, k.events], args
        )]

    def restore_jobs(self, messages: Sequence[JobMessage]) -> int:
        """Recreate lost job hashes from their SQS copies."""
        args: list[Any] = [self.keys.base, len(messages)]
        for m in messages:
            args += [m.id, m.name, m.data_json, m.opts.to_bullmq_json(), m.timestamp, m.opts.priority]
        return int(self._run("restoreJobs-0.lua", [], args))

    def remove_jobs(self, job_ids: Sequence[str]) -> int:
        k = self.keys
        return int(self._run(
            "removeJobs-4.lua", [k.wait, k.delayed, k.prioritized, k.events],
            [k.base, self.max_len_events, *job_ids],
        ))

    def update_progress(self, job_id: str, progress: int | float | dict[str, Any]) -> None:
        code = self._run("updateProgress-2.lua", [self.keys.job(job_id), self.keys.events],
                         [job_id, json.dumps(progress), self.max_len_events])
        raise_for_code("updateProgress", int(code), job_id)

    def add_log(self, job_id: str, line: str, keep: int = 0) -> int:
        count = int(self._run("addLog-2.lua", [self.keys.job(job_id), self.keys.logs(job_id)], [line, keep]))
        raise_for_code("addLog", count, job_id)
        return count

    def record_dead_letters(self, records: Sequence[DeadRecord], timestamp: int) -> list[str]:
        """Mark dead jobs failed in their queues and record them in this (dead-letter) queue."""
        k = self.keys
        args: list[Any] = [k.prefix, timestamp, self.max_len_events, VERSION, len(records)]
        for r in records:
            m = r.message
            args += [m.queue, m.id, m.name, m.data_json, m.opts.to_bullmq_json(), m.timestamp, r.reason,
                     r.attempts_made, r.record]
        return list(self._run("recordDeadLetters-3.lua", [k.wait, k.events, k.meta], args))
