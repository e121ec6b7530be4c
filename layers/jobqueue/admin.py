"""Operating a queue: counts, job lists, pause and resume, drain, clean, retry, promote, remove, and its dead letters.

>>> from jobqueue import QueueAdmin
>>> admin = QueueAdmin("email")
>>> admin.metrics()  # doctest: +SKIP
{'queueName': 'email', 'waiting': 3, 'active': 1, 'completed': 120, 'failed': 2, 'delayed': 0, 'paused': 0,
 'total': 4}
>>> admin.pause()  # doctest: +SKIP
EventSourceStates(enabled=0, disabled=1, transitioning=0)
>>> admin.redrive(on_progress=lambda done, total: print(f"{done}/{total}"))  # doctest: +SKIP

Every change is one Lua call per batch of jobs. SQS keeps carrying every job, so a job removed (remove, drain,
clean) while its message is still on its way gets a tombstone that makes the worker drop that message instead
of restoring the job from it; a job put back to work (retry_failed, redrive) is sent to SQS again, and if SQS
refuses it, its Redis state is put back as it was.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from redis.exceptions import RedisError

from jobqueue.connection import aws_client
from jobqueue.errors import EnqueueError, InvalidArgumentError, JobActiveError, JobNotFoundError, Rejection
from jobqueue.job import DeadLetter, JobMessage, resolve_options
from jobqueue.keys import dead_letter_record_id, dead_letter_record_name
from jobqueue.mappings import EventSourceMappings, EventSourceStates
from jobqueue.queue import COUNT_STATES, JobInfo, Queue, job_info, read_counts, send_jobs, stored_message
from jobqueue.scripts import Requeue, Scripts, Undo
from jobqueue.timeline import Timeline, read_timeline
from jobqueue.transport import SQS_BATCH

if TYPE_CHECKING:
    from redis import Redis

    from jobqueue.catalog import Catalog
    from jobqueue.settings import Settings

__all__ = ["JOB_STATES", "DeadLetterInfo", "QueueAdmin"]

JOB_STATES = ("waiting", "active", "delayed", "prioritized", "completed", "failed")
"""The states `get_jobs` lists (BullMQ's names; "wait" is accepted for "waiting")."""
CLEAN_STATES = ("completed", "failed", "waiting", "delayed", "prioritized")
"""The states `clean` removes from; active jobs are running and are never cleaned."""
CLEAN_BATCH = 1000
"""Jobs removed per Lua call by `clean` and `drain`: each call stays short enough not to stall Redis."""
PROMOTE_LIMIT = 1000
"""Delayed jobs one `promote()` of all takes at most (soonest due first): a call stays within a request's time."""

# Hash fields retryJobs removes from a failed job, kept to put them back if SQS refuses it.
_FAILED_FIELDS = ("finishedOn", "processedOn", "failedReason", "stacktrace", "atm", "ats")
_KEY_STATE = {"waiting": "wait", "wait": "wait", "active": "active", "delayed": "delayed",
              "prioritized": "prioritized", "completed": "completed", "failed": "failed"}

ProgressFn = Callable[[int, int], None]
TIMELINE_SLACK = 1000
"""Stream entries beyond the cap a timeline reads: XTRIM's `~` leaves up to a node's worth more."""


@dataclass(frozen=True)
class DeadLetterInfo(DeadLetter):
    """A dead job awaiting triage: its record in the queue's dead-letter queue (seed 000's fields).

    `recordId` (`<queue>-<jobId>`) is what `redrive` and `remove_dead_letter` take.
    """

    recordId: str


@dataclass
class _Plan:
    """One job of a retry/redrive batch: how it goes back (None: it is waiting already), its message (None:
    nothing to send, only the record goes) and how to undo the move."""

    job_id: str
    record_id: str | None  # None: a promoted job has no dead-letter record
    requeue: Requeue | None
    message: JobMessage | None
    undo: Undo | None


def _loads(value: str | None) -> Any:
    """A JSON field of a hash, or the raw text if it is not JSON."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _state(state: str, accepted: tuple[str, ...]) -> str:
    """The Redis key suffix of a state name; InvalidArgumentError if the operation does not take it."""
    if state == "wait":
        state = "waiting"
    if state not in accepted:
        raise InvalidArgumentError(f"state {state!r} is not one of {', '.join(accepted)}")
    return _KEY_STATE[state]


def _not_negative(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or value < 0:
            raise InvalidArgumentError(f"{name} must be an integer >= 0, not {value!r}")


class QueueAdmin:
    """The operations seed 003 calls on a queue, and seed 004's dead-letter triage, for one catalog queue.

    >>> admin = QueueAdmin("lead-processing")
    >>> [job.id for job in admin.get_jobs("failed", 0, 9)]  # doctest: +SKIP
    >>> admin.retry_failed()  # doctest: +SKIP
    """

    def __init__(
        self,
        name: str,
        *,
        catalog: Catalog | None = None,
        settings: Settings | None = None,
        redis: Redis | None = None,
        sqs: Any = None,
        lambda_client: Any = None,
    ) -> None:
        self.queue = Queue(name, catalog=catalog, settings=settings, redis=redis, sqs=sqs)
        self._lambda = lambda_client
        self._mappings: EventSourceMappings | None = None
        self.name = name
        self.config = self.queue.config
        self.settings = self.queue.settings
        self.keys = self.queue.keys
        self.redis = self.queue.redis
        self.scripts = self.queue.scripts
        self.dead_letter_queue = self.config.dead_letter
        self.dead_letter_keys = self.settings.queue_keys(self.dead_letter_queue)
        self.dead_letter_scripts = Scripts(self.redis, self.dead_letter_keys, self.settings.max_len_events)

    @staticmethod
    def now_ms() -> int:
        return int(time.time() * 1000)

    # -- reading -----------------------------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """Seed 003's queue metrics, in one round trip.

        `waiting` counts prioritized jobs too (they wait, in priority order); `paused` is 1 or 0; `total` is
        what is still to run: waiting + active + delayed.
        """
        pipe = self.redis.pipeline(transaction=False)
        read_counts(pipe, self.keys)
        pipe.hexists(self.keys.meta, "paused")
        *values, paused = pipe.execute()
        counts = dict(zip(COUNT_STATES, (int(v) for v in values), strict=True))
        waiting = counts["waiting"] + counts["prioritized"]
        return {"queueName": self.name, "waiting": waiting, "active": counts["active"],
                "completed": counts["completed"], "failed": counts["failed"], "delayed": counts["delayed"],
                "paused": 1 if paused else 0, "total": waiting + counts["active"] + counts["delayed"]}

    def get_jobs(self, state: str, start: int = 0, end: int = 49, *, asc: bool = False) -> list[JobInfo]:
        """One page of the jobs in `state`, in BullMQ's `getJobs` order.

        Newest first for waiting and active (`asc=True`: oldest first); highest score first for the sorted
        sets (finished: most recently finished first; delayed: due last first; prioritized: lowest priority
        first), `asc=True` reversing it. `start` and `end` are inclusive indexes, as in BullMQ.
        """
        key_state = _state(state, JOB_STATES)
        key = getattr(self.keys, key_state)
        if key_state in ("wait", "active"):
            if asc:
                ids = cast("list[str]", self.redis.lrange(key, -(end + 1) if end != -1 else 0, -(start + 1)))
                ids.reverse()
            else:
                ids = cast("list[str]", self.redis.lrange(key, start, end))
        elif asc:
            ids = cast("list[str]", self.redis.zrange(key, start, end))
        else:
            ids = cast("list[str]", self.redis.zrevrange(key, start, end))
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hgetall(self.keys.job(job_id))
        label = "waiting" if key_state == "wait" else key_state
        return [job_info(job_id, raw, label) for job_id, raw in zip(ids, pipe.execute(), strict=True)
                if raw and "name" in raw]

    # -- pause -------------------------------------------------------------------------------------------

    def pause(self) -> EventSourceStates:
        """Stop the queue: BullMQ 6's `paused` flag in `meta`, then every lane's event source mapping disabled.

        Jobs stay waiting and their messages stay in SQS, not received while the mappings are disabled. The flag
        comes first: a delivery made before a mapping has stopped (Lambda's Disabling window, or a crash or an
        error between the two steps) finds it and is sent back to come again `PAUSED_DEFER_SECONDS` later,
        counting no attempt. If Lambda fails, EventSourceError says so with the flag already set; pausing
        again completes it. Jobs already running finish. Returns the mappings' states as Lambda answered.
        """
        self.scripts.set_paused(True)
        return self.mappings.disable()

    def resume(self) -> EventSourceStates:
        """Start the queue again: the mappings enabled first, then the flag cleared.

        In that order a failure in between leaves the queue paused (the flag set, deliveries deferred), never a
        queue that reads as running while nothing receives its messages; resuming again completes it.
        """
        states = self.mappings.enable()
        self.scripts.set_paused(False)
        return states

    def event_sources(self) -> EventSourceStates:
        """Whether the queue's event source mappings actually receive its messages, as Lambda reports them."""
        return self.mappings.states()

    @property
    def mappings(self) -> EventSourceMappings:
        """The event source mappings of the queue's lanes (found by queue ARN; the ARNs are read once)."""
        if self._mappings is None:
            sqs, urls = self.queue.sqs, self.queue.urls
            arns = [sqs.get_queue_attributes(QueueUrl=urls.url(lane.sqs_name), AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"] for lane in self.config.lanes()]
            self._mappings = EventSourceMappings(self._lambda or aws_client("lambda"), arns,
                                                 label=f"queue {self.name!r}")
        return self._mappings

    def is_paused(self) -> bool:
        return bool(self.redis.hexists(self.keys.meta, "paused"))

    # -- removing ----------------------------------------------------------------------------------------

    def drain(self, include_delayed: bool = False) -> int:
        """Remove every waiting job (prioritized ones too, and delayed ones if asked); returns how many.

        Active jobs are never touched. The removed jobs' messages are dropped by the worker when they arrive.
        """
        states = ["wait", "prioritized", *(["delayed"] if include_delayed else [])]
        removed = 0
        for state in states:
            while True:
                ids = self.scripts.clean_jobs(state, self.now_ms(), None, CLEAN_BATCH, cleaned_event=False)
                removed += len(ids)
                if len(ids) < CLEAN_BATCH:
                    break
        return removed

    def clean(self, grace_ms: int, limit: int = 1000, state: str = "completed") -> list[str]:
        """BullMQ's clean: remove up to `limit` (0: no limit) jobs in `state` older than `grace_ms`, oldest first.

        Age is when a job finished (completed, failed), else when it last started or was added. Returns the
        ids removed. Finished jobs go with their logs, as retention deletes them.
        """
        _not_negative(grace_ms=grace_ms, limit=limit)
        key_state = _state(state, CLEAN_STATES)
        now = self.now_ms()
        cutoff = now - grace_ms
        remaining = limit or math.inf
        removed: list[str] = []
        while remaining > 0:
            batch = int(min(CLEAN_BATCH, remaining))
            ids = self.scripts.clean_jobs(key_state, now, cutoff, batch, cleaned_event=True)
            removed += ids
            remaining -= len(ids)
            if len(ids) < batch:
                break
        return removed

    def remove(self, job_id: str) -> bool:
        """Remove one job in any state but active; False if there is no such job.

        Raises JobActiveError for a running job: it would finish, or be retried, after its state was gone.
        """
        code = self.scripts.remove_job(job_id, self.now_ms())
        if code == -2:
            raise JobActiveError(f"queue {self.name!r}: job {job_id!r} is active; remove it once it has finished")
        return code == 1

    # -- putting jobs back to work -----------------------------------------------------------------------

    def retry_failed(self, limit: int = 1000, *, on_progress: ProgressFn | None = None,
                     deadline: float | None = None) -> list[str]:
        """Put up to `limit` (0: all) failed jobs, oldest first, back to waiting with fresh attempts.

        Each is sent to SQS again (the whole job, same id); its dead-letter record, if any, is removed once SQS
        took it. Returns the ids. If SQS refuses some, they stay failed and EnqueueError says which were retried.
        A retry cut short (killed, Redis lost) is completed by running it again; the sweeper sends its jobs too.
        `deadline` (`time.monotonic()`): no batch starts after it; `on_progress` then tells how far it got.
        """
        _not_negative(limit=limit)
        ids = cast("list[str]", self.redis.zrange(self.keys.failed, 0, limit - 1)) + self._cut_short()
        return self._requeue([(job_id, dead_letter_record_id(self.name, job_id)) for job_id in ids], on_progress,
                             deadline)

    def retry_job(self, job_id: str) -> list[str]:
        """Put one failed job back to waiting with fresh attempts, as `retry_failed` does (same move, send and
        settle steps, same undo when SQS refuses it). A retry of it cut short (still marked unsent, its record
        there) is completed. [] when the job is neither, and nothing changes."""
        if self.redis.zscore(self.keys.failed, job_id) is None and job_id not in self._cut_short():
            return []
        return self._requeue([(job_id, dead_letter_record_id(self.name, job_id))], None)

    def promote(self, job_ids: list[str] | None = None, limit: int = PROMOTE_LIMIT, *,
                on_progress: ProgressFn | None = None, deadline: float | None = None) -> list[str]:
        """BullMQ's `job.promote()` / `queue.promoteJobs()`: delayed jobs start now; returns the ids promoted.

        `job_ids` None: up to `limit` delayed jobs, soonest due first (call again for more). Each goes the way a
        retry goes (moved to waiting marked unsent, with its `delay` 0 and its attempts kept; sent at once; its
        mark cleared; put back delayed if SQS refuses it). Its old delayed message, arriving later, finds it not
        delayed: it runs the job only if the new message has not (moveToActive), else is dropped or deferred.
        An id that is not delayed is skipped. `on_progress` and `deadline` work as in `retry_failed`."""
        _not_negative(limit=limit)
        if job_ids is None:
            job_ids = cast("list[str]", self.redis.zrange(self.keys.delayed, 0, limit - 1))
        return self._requeue([(job_id, None) for job_id in dict.fromkeys(job_ids)], on_progress, deadline,
                             promote=True)

    def timeline(self, job_id: str) -> Timeline:
        """The job's events and ended attempts from the queue's events stream (`jobqueue.timeline`), reading no
        more of the stream than its cap keeps."""
        return read_timeline(self.redis, self.keys.events, job_id,
                             max_entries=self.settings.max_len_events + TIMELINE_SLACK)

    def _cut_short(self) -> list[str]:
        """Jobs an earlier retry moved and did not finish putting back: marked unsent, their record still there."""
        unsent = cast("list[str]", self.redis.zrange(self.keys.unsent, 0, -1))
        pipe = self.redis.pipeline(transaction=False)
        for job_id in unsent:
            pipe.hget(self.dead_letter_keys.job(dead_letter_record_id(self.name, job_id)), "name")
        expected = dead_letter_record_name(self.name)
        return [job_id for job_id, name in zip(unsent, pipe.execute(), strict=True) if name == expected]

    def redrive(self, record_ids: list[str] | None = None, on_progress: ProgressFn | None = None, *,
                deadline: float | None = None) -> list[str]:
        """Send dead jobs back to this queue with fresh attempts (seed 004's triage); returns the job ids re-added.

        `record_ids` are `DeadLetterInfo.recordId`s; None means all of this queue's records. A job Redis still
        holds (failed) goes back as it was added; one Redis lost is re-created from its record under its
        original id, with the catalog's default options. Each redriven record is removed once its job is in SQS.
        A record whose job is alive again (waiting, active, completed) is only removed, its id not returned.
        `on_progress(done, total)` is called after every batch of 10, and when `deadline` (`time.monotonic()`)
        stops it early: what is left is redriven by calling it again.
        """
        if record_ids is None:
            record_ids = self.dead_letter_scripts.dead_letter_ids(self.name, 0, -1)
        else:
            record_ids = list(dict.fromkeys(record_ids))
            pipe = self.redis.pipeline(transaction=False)
            for record_id in record_ids:
                pipe.hget(self.dead_letter_keys.job(record_id), "name")
            expected = dead_letter_record_name(self.name)
            missing = [r for r, name in zip(record_ids, pipe.execute(), strict=True) if name != expected]
            if missing:
                raise JobNotFoundError(f"queue {self.name!r}: no dead letters {missing} in {self.dead_letter_queue!r}")
        skip = len(self.name) + 1
        return self._requeue([(record_id[skip:], record_id) for record_id in record_ids], on_progress, deadline)

    def _requeue(self, items: list[tuple[str, str | None]], on_progress: ProgressFn | None,
                 deadline: float | None = None, *, promote: bool = False) -> list[str]:
        """(job id, record id) pairs back to waiting and SQS, SQS_BATCH at a time, none started after `deadline`;
        `promote`: delayed jobs (no record) instead of failed ones."""
        requeued: list[str] = []
        for start in range(0, len(items), SQS_BATCH):
            if deadline is not None and time.monotonic() >= deadline:
                if on_progress:
                    on_progress(start, len(items))
                break
            requeued += self._requeue_batch(items[start:start + SQS_BATCH], start, requeued, promote)
            if on_progress:
                on_progress(min(start + SQS_BATCH, len(items)), len(items))
        return requeued

    def _requeue_batch(self, items: list[tuple[str, str | None]], first: int, before: list[str],
                       promote: bool) -> list[str]:
        """Move, send, then settle: a job goes back to waiting marked unsent, is sent, then its dead-letter record is
        removed and last its mark cleared. Cut short with its record there, a run again completes it; with only
        its mark left, the sweeper sends a copy (dropped as a duplicate) and clears it."""
        now = self.now_ms()
        plans = self._promote_plans([job_id for job_id, _ in items]) if promote else self._retry_plans(items, now)
        moving = [p for p in plans if p.requeue]
        requeues = [p.requeue for p in moving if p.requeue]
        codes = self.scripts.retry_jobs(requeues, now, promote=promote) if moving else []
        moved = {p.job_id for p, code in zip(moving, codes, strict=True) if code == 0}
        to_send = {p.job_id: p.message for p in plans if p.message and (p.job_id in moved or p.requeue is None)}
        refused = send_jobs(self.queue.transport, self.config, to_send)
        sent = [job_id for job_id in to_send if job_id not in refused]
        settled = set(sent) | {p.job_id for p in plans if p.message is None}
        records = [p.record_id for p in plans if p.job_id in settled and p.record_id]
        if records:
            self.dead_letter_scripts.remove_dead_letters(self.name, records)
        self.scripts.confirm_sent(sent)
        if refused:
            try:
                self.scripts.undo_retry_jobs([p.undo for p in moving if p.job_id in refused and p.undo],
                                             promote=promote)
                undone = True
            except RedisError:  # they stay waiting, marked unsent: the sweeper sends them
                undone = False
            positions = {job_id: first + i for i, (job_id, _) in enumerate(items)}
            raise EnqueueError(
                f"queue {self.name!r}: SQS refused {len(refused)} of {len(to_send)} jobs; they were left as they "
                f"were{'' if promote else ', their dead letters kept'} (first reason: {next(iter(refused.values()))})",
                [*before, *sent],
                [Rejection(positions[job_id], job_id, f"SQS refused it: {why}",
                           may_run=not undone or job_id not in moved) for job_id, why in refused.items()],
            )
        return sent

    def _retry_plans(self, items: list[tuple[str, str | None]], now: int) -> list[_Plan]:
        """How each (job id, record id: the job's own when None) of a retry or redrive batch goes back, from one
        read of Redis."""
        named = [(job_id, record_id or dead_letter_record_id(self.name, job_id)) for job_id, record_id in items]
        pipe = self.redis.pipeline(transaction=False)
        for job_id, record_id in named:
            pipe.hgetall(self.keys.job(job_id))
            pipe.zscore(self.keys.failed, job_id)
            pipe.zscore(self.keys.unsent, job_id)
            pipe.hgetall(self.dead_letter_keys.job(record_id))
        found = pipe.execute()
        return [plan for i, (job_id, record_id) in enumerate(named)
                if (plan := self._plan(job_id, record_id, found[4 * i:4 * i + 4], now))]

    def _promote_plans(self, job_ids: list[str]) -> list[_Plan]:
        """The delayed jobs of `job_ids`, each with its message due now (its attempts made kept) and its place in
        `delayed` (score, `delay`) to go back to if SQS refuses it."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(self.keys.job(job_id))
            pipe.zscore(self.keys.delayed, job_id)
        found = pipe.execute()
        plans: list[_Plan] = []
        for i, job_id in enumerate(job_ids):
            raw, score = cast("tuple[dict[str, str], float | None]", (found[2 * i], found[2 * i + 1]))
            message = stored_message(self.config, job_id, {**raw, "delay": "0"}) if score is not None else None
            if message is None:
                continue
            message = message.model_copy(update={"attempts_offset": int(raw.get("atm") or 0)})
            undo = Undo(job_id, "promote", str(int(score or 0)), {"delay": raw.get("delay", "0")})
            plans.append(_Plan(job_id, None, Requeue(job_id, "promote"), message, undo))
        return plans

    def _plan(self, job_id: str, record_id: str, found: list[Any], now: int) -> _Plan | None:
        """How one job goes back: retried from its failed hash, re-created from its record, sent again (a run cut
        short left it waiting, unsent), its stale record only removed (the job lives), or not at all.

        `found` is what Redis holds: the job's hash, its scores in `failed` and `unsent`, the record's hash.
        """
        raw, failed, unsent, record = cast("tuple[dict[str, str], float | None, float | None, dict[str, str]]",
                                           tuple(found))
        has_record = record.get("name") == dead_letter_record_name(self.name)
        if raw and "name" in raw:
            message = stored_message(self.config, job_id, raw)
            if failed is None:  # alive: a move cut short before SQS took it sends it again, else its record goes
                if unsent is not None and not (raw.get("ats") or raw.get("finishedOn")):
                    return _Plan(job_id, record_id, None, message, None)
                return _Plan(job_id, record_id, None, None, None) if has_record else None
            undo = Undo(job_id, "retry", str(int(failed)), {f: raw[f] for f in _FAILED_FIELDS if f in raw})
            return _Plan(job_id, record_id, Requeue(job_id, "retry"), message, undo)
        if not has_record:
            return None
        letter = _loads(record.get("data"))
        if not isinstance(letter, dict) or not isinstance(letter.get("name"), str):
            return None
        opts = resolve_options(self.config, letter["name"], {} if job_id.isdigit() else {"jobId": job_id})
        message = JobMessage(queue=self.name, id=job_id, name=letter["name"], data=letter.get("data"), opts=opts,
                             timestamp=now)
        requeue = Requeue(job_id, "create", message.name, message.data_json, opts.to_bullmq_json(), opts.priority)
        return _Plan(job_id, record_id, requeue, message, Undo(job_id, "create"))

    # -- dead letters ------------------------------------------------------------------------------------

    def dead_letters(self, start: int = 0, end: int = 99) -> list[DeadLetterInfo]:
        """One page (inclusive indexes, newest first; `end` -1: to the end) of this queue's dead jobs.

        The dead-letter queue may be shared (seed 004's `dead`); only this queue's records are listed.
        """
        _not_negative(start=start)
        ids = self.dead_letter_scripts.dead_letter_ids(self.name, start, end)
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for record_id in ids:
            pipe.hget(self.dead_letter_keys.job(record_id), "data")
        letters: list[DeadLetterInfo] = []
        for record_id, data in zip(ids, pipe.execute(), strict=True):
            record = _loads(data)
            if not isinstance(record, dict):
                continue
            letters.append(DeadLetterInfo(
                recordId=record_id,
                originalJobId=str(record.get("originalJobId", record_id[len(self.name) + 1:])),
                queue=str(record.get("queue", self.name)),
                name=str(record.get("name", "")),
                data=record.get("data"),
                error=str(record.get("error", "")),
                attemptsMade=int(record.get("attemptsMade") or 0),
                failedAt=str(record.get("failedAt", "")),
            ))
        return letters

    def dead_letter_count(self) -> int:
        """How many dead jobs of this queue await triage: the size of its index, one command at any size (a record
        removed behind jobqueue's back counts until the next page read drops its entry)."""
        return int(self.redis.zcard(self.dead_letter_keys.dead_letters_of(self.name)))

    def remove_dead_letter(self, record_id: str) -> bool:
        """Discard one of this queue's dead-letter records for good; False if it has no such record."""
        return self.dead_letter_scripts.remove_dead_letters(self.name, [record_id]) == 1
