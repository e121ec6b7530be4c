"""The only caller of Lua: one typed method per script in `commands/`, each a single round trip."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal, cast

from jobqueue import __version__
from jobqueue.errors import JobNotFoundError
from jobqueue.keys import KEEP_TICKS, REMOVED_TTL_MS, dead_letter_record_name, repeat_ticks_key

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis import Redis
    from redis.commands.core import Script

    from jobqueue.job import JobMessage
    from jobqueue.keys import QueueKeys

__all__ = [
    "CHECK",
    "Added",
    "ClaimCode",
    "Claims",
    "Delivery",
    "Finish",
    "FlowNode",
    "Gates",
    "NewJob",
    "ParentUpdate",
    "Release",
    "Requeue",
    "Rollback",
    "Scripts",
    "Step",
    "Undo",
    "raise_for_code",
]

VERSION = f"jobqueue:{__version__}"

Added = Literal["new", "unsent", "exists"]
"""What addJobs did with one job: added it (marked unsent); found it recorded by an earlier add that never
confirmed its send ("unsent": the caller sends it now); found it sent ("exists": BullMQ's duplicate id)."""
_ADDED: dict[str, Added] = {"!": "unsent", "=": "exists"}

Rollback = Literal["removed", "durable", "unsure"]
"""What removeJobs did with one job SQS refused: rolled it back ("removed": it never runs); left it, its message
being in SQS after all ("durable": a worker took it, or another caller confirmed it); left it marked unsent, an
earlier add's job ("unsure": it may run)."""
_ROLLBACK: dict[int, Rollback] = {1: "removed", 0: "durable", 2: "unsure"}


class ClaimCode:
    """What moveToActive answers for each delivery (the script's header says more)."""

    CLAIMED = 0
    STALLED = 1
    CHECKED = 2
    MISSING = -1
    FINISHED = -2
    REMOVED = -3
    PAUSED = -4
    RUNNING = -5
    YIELD = -6
    BUSY = -8
    NOT_DUE = -9
    EXHAUSTED = -10
    DEAD_OWED = -11
    GROUP_BUSY = -12
    GROUP_LIMITED = -13


# A Delivery's `expected` for a message that will not run now (a deferral): moveToActive only tells whether
# its job was removed or finished.
CHECK = "check"


@dataclass(frozen=True)
class NewJob:
    custom_id: str
    name: str
    data: str
    opts: str
    delay: int
    priority: int


@dataclass(frozen=True)
class FlowNode:
    """One job of a flow as addFlowJobs records it: a parent when it has `children` (their job keys)."""

    job: NewJob
    parent_key: str = ""
    parent: str = ""  # BullMQ's `parent` field: JSON {id, queueKey, fpof|cpof|idof|rdof}
    children: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParentUpdate:
    """What a finished child tells its parent (updateParent-11.lua)."""

    parent_id: str
    child_key: str
    outcome: str  # "completed" | "failed"
    value: str  # return value JSON, or the failure reason
    policy: str  # "fpof" | "cpof" | "idof" | "rdof"


@dataclass(frozen=True)
class Delivery:
    job_id: str
    timestamp: int  # when the job was added: with the id, names the incarnation a tombstone is for
    expected: str  # "wait" | "delayed" | "prioritized" (a hint) | CHECK
    priority: int = 0  # 0: never yields to higher-priority jobs
    attempts: int = 1  # the job's `attempts`: a stall of the last one fails it
    group: str = ""  # the job's group id ("": none)


@dataclass(frozen=True)
class Gates:
    """The flow control moveToActive applies to one invocation's batch (see moveToActive-11.lua)."""

    token: str  # the invocation's concurrency slot
    lease_ms: int  # how long a started job (and the slot) is held without an answer: the function's timeout
    concurrency: int | None = None
    limit_max: int | None = None
    limit_duration: int = 0
    group_concurrency: int | None = None  # jobs of one group running at once
    group_limit_max: int | None = None  # starts of one group per group_limit_duration ms
    group_limit_duration: int = 0


@dataclass(frozen=True)
class Claims:
    """moveToActive's answer: a ClaimCode per delivery, and when each not-due job is due (ms, else 0)."""

    codes: list[int]
    dues: list[int]


@dataclass(frozen=True)
class Step:
    """moveToFinished's answer: a code per finished job (0 recorded, 1 already, -1 state lost), the started
    job's attempt number (0: none started, -1: its state was lost, RATE_LIMITED, FINISHED, GROUP_LIMITED,
    GROUP_BUSY), when the (queue's or group's) rate limit allows the refused start (ms), and whether the started
    job is a flow's child (its Finish passes that on, so the finish of any other job reads no `parent` field)."""

    LOST = -1
    RATE_LIMITED = -2
    FINISHED = -3
    GROUP_LIMITED = -4
    GROUP_BUSY = -5

    codes: list[int]
    attempt: int
    retry_after_ms: int = 0
    has_parent: bool = False


@dataclass(frozen=True)
class Requeue:
    """One job for retryJobs: a failed job to retry, a delayed job to promote, or a dead letter's job to re-create."""

    job_id: str
    mode: str  # "retry" | "promote" | "create"
    name: str = ""
    data: str = ""
    opts: str = ""
    priority: int = 0


@dataclass(frozen=True)
class Undo:
    """What undoRetryJobs needs to put one job back as it was."""

    job_id: str
    mode: str
    failed_score: str = ""  # its score in the zset it left: failed, or delayed for a promote
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Finish:
    job_id: str
    outcome: str  # "completed" | "retry" | "failed"
    attempt: int  # the attempt's number: the job's attempts made once it is recorded
    value: str
    stacktrace: str = "[]"
    due_at: int = 0
    keep_count: int | None = None
    keep_age: int | None = None
    group: str = ""  # the job's group id: its group slot is released
    has_parent: bool | None = None  # a flow's child, as its start answered (None: unknown, the script reads it)


@dataclass(frozen=True)
class Release:
    """A claimed job that will not run in this invocation: where it goes back to ("wait" | "delayed") and its
    group id ("": none)."""

    job_id: str
    where: str
    group: str = ""


@dataclass(frozen=True)
class DeadRecord:
    message: JobMessage
    reason: str
    attempts_made: int
    record: str


_INCLUDE = re.compile(r'^--- @include "(\w+)"$', re.MULTILINE)


@cache
def _source(name: str) -> str:
    """A script's text, each `--- @include "<name>"` line replaced by `commands/includes/<name>.lua` (Redis's Lua
    has no modules: helpers several scripts share are pasted in, as BullMQ's are)."""
    commands = resources.files("jobqueue").joinpath("commands")
    text = commands.joinpath(name).read_text()
    return _INCLUDE.sub(lambda m: commands.joinpath("includes", f"{m.group(1)}.lua").read_text().rstrip("\n"), text)


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

    def add_jobs(self, jobs: Sequence[NewJob], timestamp: int) -> list[tuple[str, Added]]:
        """Add jobs, each marked unsent; answers (id, what happened) in order (see `Added`)."""
        k = self.keys
        args: list[Any] = [k.base, timestamp, self.max_len_events, VERSION, len(jobs)]
        for job in jobs:
            args += [job.custom_id, job.name, job.data, job.opts, job.delay, job.priority]
        result = self._run(
            "addJobs-8.lua",
            [k.id, k.wait, k.delayed, k.prioritized, k.priority_counter, k.events, k.meta, k.unsent],
            args,
        )
        return [(r[1:], _ADDED[r[0]]) if r[0] in _ADDED else (r, "new") for r in result]

    def adopt_jobs(self, timestamp: int, limit: int) -> tuple[dict[str, int | None], bool]:
        """Jobs a BullMQ client made waiting or delayed since the last call, now marked unsent: id -> when due (ms;
        None: now); and whether the events stream holds more to read."""
        k = self.keys
        result = self._run("adoptJobs-7.lua", [k.events, k.meta, k.unsent, k.active, k.completed, k.failed, k.delayed],
                           [k.base, timestamp, limit])
        pairs = result[1:]
        return {str(pairs[i]): int(pairs[i + 1]) or None for i in range(0, len(pairs), 2)}, bool(int(result[0]))

    def confirm_sent(self, job_ids: Sequence[str]) -> None:
        """Clear the unsent marks of jobs whose SQS message was taken."""
        if job_ids:
            self.client.zrem(self.keys.unsent, *job_ids)

    def unsent_since(self, before: int, limit: int) -> list[str]:
        """Up to `limit` jobs marked unsent at or before `before` (ms), oldest first."""
        return cast("list[str]", self.client.zrangebyscore(self.keys.unsent, "-inf", before, start=0, num=limit))

    def move_to_active(self, deliveries: Sequence[Delivery], gates: Gates, due_by: int) -> Claims:
        """Claim what a batch may run now (a delayed job due by `due_by`, ms); a ClaimCode per delivery says
        what became of each."""
        k = self.keys
        args: list[Any] = [k.base, self.max_len_events, gates.concurrency or "", gates.token, gates.lease_ms,
                           due_by, len(deliveries), gates.group_concurrency or "", k.group_slots(""),
                           k.group_limiter(""), gates.group_limit_max or "", gates.group_limit_duration]
        for d in deliveries:
            args += [d.job_id, d.timestamp, d.expected, d.priority, d.attempts, d.group]
        codes, dues = self._run(
            "moveToActive-11.lua",
            [k.wait, k.active, k.delayed, k.prioritized, k.events, k.meta, k.removed, k.leases, k.slots, k.failed,
             k.parent_updates],
            args,
        )
        return Claims([int(c) for c in codes], [int(d) for d in dues])

    def move_to_finished(self, finishes: Sequence[Finish], timestamp: int, *, start: str = "", start_group: str = "",
                         releases: Sequence[Release] = (), token: str = "", gates: Gates | None = None) -> Step:
        """Commit outcomes, put back claimed jobs that will not run (`releases`), start the job `start` (of group
        `start_group`) if `gates`' rate limits allow, and release the invocation's slot `token`."""
        k = self.keys
        args: list[Any] = [k.base, timestamp, self.max_len_events, token, start, timestamp - REMOVED_TTL_MS,
                           len(finishes), len(releases), (gates.limit_max if gates else None) or "",
                           gates.limit_duration if gates else 0, start_group,
                           (gates.group_limit_max if gates else None) or "",
                           gates.group_limit_duration if gates else 0, k.group_slots(""), k.group_limiter(""),
                           (gates.group_concurrency if gates else None) or "", gates.lease_ms if gates else 0]
        for f in finishes:
            args += [f.job_id, f.outcome, f.attempt, f.value, f.stacktrace, f.due_at or "",
                     "" if f.keep_count is None else f.keep_count, f.keep_age or "", f.group,
                     "" if f.has_parent is None else int(f.has_parent)]
        for release in releases:
            args += [release.job_id, release.where, release.group]
        codes, attempt, retry_after, has_parent = self._run(
            "moveToFinished-13.lua",
            [k.active, k.completed, k.failed, k.delayed, k.events, k.metrics("completed"), k.metrics("failed"),
             k.leases, k.slots, k.removed, k.wait, k.limiter, k.parent_updates], args,
        )
        return Step([int(c) for c in codes], int(attempt), int(retry_after), bool(int(has_parent)))

    def restore_jobs(self, messages: Sequence[JobMessage], *, active: bool = False) -> int:
        """Recreate lost job hashes from their SQS copies (`active`: as jobs this invocation holds); a removed job
        (its tombstone) stays gone. Returns how many were recreated."""
        args: list[Any] = [self.keys.base, len(messages)]
        for m in messages:
            args += [m.id, m.name, m.data_json, m.opts.to_bullmq_json(), m.timestamp, m.opts.priority,
                     m.attempts_offset, "active" if active else ""]
        return int(self._run("restoreJobs-2.lua", [self.keys.active, self.keys.removed], args))

    def remove_unsent_jobs(self, job_ids: Sequence[str], timestamp: int) -> list[Rollback]:
        """Roll back jobs the add of `timestamp` recorded and SQS did not take, with tombstones; what became of
        each (see `Rollback`)."""
        k = self.keys
        codes = self._run(
            "removeJobs-6.lua", [k.wait, k.delayed, k.prioritized, k.events, k.unsent, k.removed],
            [k.base, self.max_len_events, timestamp, timestamp - REMOVED_TTL_MS, *job_ids],
        )
        return [_ROLLBACK[int(code)] for code in codes]

    def update_progress(self, job_id: str, progress: int | float | dict[str, Any]) -> None:
        code = self._run("updateProgress-2.lua", [self.keys.job(job_id), self.keys.events],
                         [job_id, json.dumps(progress), self.max_len_events])
        raise_for_code("updateProgress", int(code), job_id)

    def add_log(self, job_id: str, line: str, keep: int = 0) -> int:
        count = int(self._run("addLog-2.lua", [self.keys.job(job_id), self.keys.logs(job_id)], [line, keep]))
        raise_for_code("addLog", count, job_id)
        return count

    def number_tick(self, schedule: str, tick_id: str, limit: int) -> int:
        """The number (1 = first) of a tick of this queue's schedule with a `limit`; a tick fired again keeps it."""
        key = repeat_ticks_key(self.keys.prefix, self.keys.queue, schedule)
        return int(self._run("numberTick-1.lua", [key], [tick_id, limit, KEEP_TICKS]))

    def fail_dead_jobs(self, records: Sequence[DeadRecord], timestamp: int) -> list[bool]:
        """Mark dead jobs of this queue failed; whether each gets a dead-letter record (False: it completed).
        The first of a dead batch's two calls (failDeadJobs-8.lua), `record_dead_letters` the second."""
        k = self.keys
        args: list[Any] = [k.base, timestamp, self.max_len_events, len(records)]
        for r in records:
            m = r.message
            args += [m.id, m.name, m.data_json, m.opts.to_bullmq_json(), m.timestamp, r.reason, r.attempts_made]
        flags = self._run("failDeadJobs-8.lua", [k.completed, k.failed, k.active, k.delayed, k.prioritized, k.wait,
                                                 k.events, k.parent_updates], args)
        return [bool(int(f)) for f in flags]

    def record_dead_letters(self, records: Sequence[DeadRecord], timestamp: int, keep_ms: int) -> list[str]:
        """Record failed jobs in this (dead-letter) queue, dropping records older than `keep_ms`; their ids."""
        k = self.keys
        args: list[Any] = [timestamp, self.max_len_events, VERSION, len(records), timestamp - keep_ms]
        for r in records:
            args += [r.message.queue, r.message.id, r.record]
        return list(self._run("recordDeadLetters-3.lua", [k.wait, k.events, k.meta], args))

    # -- queue management (jobqueue.admin) --------------------------------------------------------------

    def set_paused(self, paused: bool) -> bool:
        """Set or clear the meta hash's `paused` flag; True if it changed."""
        k = self.keys
        return bool(self._run("pause-2.lua", [k.meta, k.events],
                              ["paused" if paused else "resumed", self.max_len_events]))

    def remove_job(self, job_id: str, timestamp: int) -> int:
        """1 removed, -1 no such job, -2 active (see removeJob-8.lua)."""
        k = self.keys
        return int(self._run(
            "removeJob-8.lua",
            [k.active, k.wait, k.delayed, k.prioritized, k.completed, k.failed, k.events, k.removed],
            [k.base, job_id, timestamp, self.max_len_events, timestamp - REMOVED_TTL_MS],
        ))

    def clean_jobs(
        self, state: str, timestamp: int, cutoff: int | None, limit: int, *, cleaned_event: bool
    ) -> list[str]:
        """Remove up to `limit` jobs of `state` (its key's name) added/finished at or before `cutoff`."""
        k = self.keys
        set_key = {"wait": k.wait, "prioritized": k.prioritized, "delayed": k.delayed, "completed": k.completed,
                   "failed": k.failed}[state]
        return list(self._run(
            "cleanJobsInSet-3.lua", [set_key, k.events, k.removed],
            [k.base, timestamp, "" if cutoff is None else cutoff, limit, state, self.max_len_events,
             timestamp - REMOVED_TTL_MS, "1" if cleaned_event else "0"],
        ))

    def retry_jobs(self, jobs: Sequence[Requeue], timestamp: int, *, promote: bool = False) -> list[int]:
        """Move failed jobs (or re-create dead ones; or, `promote`, delayed ones) to waiting, marked unsent; a code
        per job."""
        k = self.keys
        args: list[Any] = [k.base, timestamp, self.max_len_events, len(jobs)]
        for j in jobs:
            args += [j.job_id, j.mode, j.name, j.data, j.opts, j.priority]
        return [int(c) for c in self._run(
            "retryJobs-6.lua",
            [k.wait, k.prioritized, k.priority_counter, k.delayed if promote else k.failed, k.events, k.unsent], args,
        )]

    def undo_retry_jobs(self, undos: Sequence[Undo], *, promote: bool = False) -> int:
        """Put back jobs that retryJobs moved but SQS refused (to delayed when they were promoted)."""
        k = self.keys
        args: list[Any] = [k.base, self.max_len_events, len(undos)]
        for u in undos:
            args += [u.job_id, u.mode, u.failed_score, json.dumps(u.fields)]
        return int(self._run("undoRetryJobs-5.lua",
                             [k.wait, k.prioritized, k.delayed if promote else k.failed, k.events, k.unsent], args))

    def dead_letter_ids(self, queue: str, start: int, end: int) -> list[str]:
        """Record ids of `queue` in this (dead-letter) queue, newest first, matches `start`..`end` (-1: all)."""
        k = self.keys
        return list(self._run("getDeadLetters-1.lua", [k.dead_letters_of(queue)],
                              [k.base, dead_letter_record_name(queue), start, end]))

    def remove_dead_letters(self, queue: str, record_ids: Sequence[str]) -> int:
        """Remove `queue`'s records `record_ids` from this (dead-letter) queue; returns how many there were."""
        k = self.keys
        if not record_ids:
            return 0
        return int(self._run("removeDeadLetters-3.lua", [k.wait, k.events, k.dead_letters_of(queue)],
                             [k.base, dead_letter_record_name(queue), self.max_len_events, *record_ids]))

    # -- flows (jobqueue.flow_producer, jobqueue.flow_parents) ----------------------------------------------

    def add_flow_jobs(self, nodes: Sequence[FlowNode], timestamp: int, root_key: str) -> str | None:
        """Record this queue's share of one level of a flow, each job marked unsent; None when all were recorded,
        else the id of a job that exists already (then nothing was)."""
        k = self.keys
        args: list[Any] = [k.base, timestamp, self.max_len_events, VERSION, root_key, len(nodes)]
        for n in nodes:
            j = n.job
            args += [j.custom_id, j.name, j.data, j.opts, j.delay, j.priority, n.parent_key, n.parent,
                     len(n.children), *n.children]
        taken = self._run("addFlowJobs-8.lua", [k.wait, k.delayed, k.prioritized, k.priority_counter,
                                                 k.waiting_children, k.events, k.meta, k.unsent], args)
        return str(taken) or None

    def remove_flow_jobs(self, job_ids: Sequence[str], added: int, now: int) -> list[int]:
        """Remove jobs the flow add of `added` (ms) recorded: per job 1 removed, 0 a worker took it, 2 not there."""
        k = self.keys
        return [int(c) for c in self._run(
            "removeFlowJobs-7.lua",
            [k.wait, k.delayed, k.prioritized, k.waiting_children, k.events, k.unsent, k.removed],
            [k.base, self.max_len_events, now, now - REMOVED_TTL_MS, added, *job_ids])]

    def confirm_flow_parents(self, parents: Sequence[tuple[str, int]]) -> int:
        """Clear the add-time unsent marks (id, the add's timestamp) of parents still waiting for children."""
        if not parents:
            return 0
        k = self.keys
        return int(self._run("confirmFlowParents-2.lua", [k.waiting_children, k.unsent],
                             [x for pair in parents for x in pair]))

    def update_parent(self, update: ParentUpdate, now: int) -> int:
        """Apply a child's outcome to its parent, a job of this queue (codes in updateParent-11.lua)."""
        k = self.keys
        return int(self._run(
            "updateParent-11.lua",
            [k.waiting_children, k.wait, k.delayed, k.prioritized, k.priority_counter, k.failed, k.events,
             k.unsent, k.parent_updates, k.job(update.parent_id), k.dependencies(update.parent_id)],
            [update.parent_id, update.child_key, update.outcome, update.value, update.policy, now,
             self.max_len_events]))
