"""The producer: `Queue(name).add(...)` makes a job durable in SQS and visible in Redis.

>>> from jobqueue import Queue
>>> job_id = Queue("email").add("password_reset", {"to": "a@example.com"})
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger
from pydantic import ValidationError
from redis.exceptions import RedisError

from jobqueue.catalog import Catalog, QueueConfig, default_catalog
from jobqueue.connection import QueueUrls, aws_client, redis_for
from jobqueue.errors import EnqueueError, InvalidJobError, PayloadTooLargeError, Rejection
from jobqueue.flow_commit import triage_unsent
from jobqueue.job import MAX_SQS_DELAY_MS, JobMessage, JobOptions, resolve_options
from jobqueue.keys import QueueKeys
from jobqueue.payloads import MARKER, Claim, PayloadStore, PayloadStoreError, claim_of
from jobqueue.scripts import NewJob, Scripts
from jobqueue.settings import Settings, get_settings
from jobqueue.transport import SqsTransport

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable, Iterator, Mapping

    from redis import Redis

__all__ = ["UNSENT_GRACE_MS", "JobInfo", "Queue", "job_info", "send_jobs", "stored_message"]

logger = Logger(service="jobqueue")

K = TypeVar("K", bound="Hashable")
REDIS_BATCH = 500
UNSENT_GRACE_MS = 60_000
"""How long a job may stay marked unsent before the sweeper sends it: longer than any add takes between
recording a job and confirming its message (an API invocation lasts 29 s at most)."""
# Room for the longest id a job can get, when the size check runs before ids are known.
_ID_ROOM = 128


@dataclass(frozen=True)
class JobInfo:
    """A job as Redis holds it, with BullMQ's field names and meanings (seed 003's job status)."""

    id: str
    name: str
    data: Any
    opts: dict[str, Any]
    state: str
    progress: Any
    attemptsMade: int
    timestamp: int
    processedOn: int | None
    finishedOn: int | None
    returnvalue: Any
    failedReason: str | None
    stacktrace: list[str]
    """The failed attempts' stack traces, oldest first (BullMQ's `stacktrace`; the last 10 are kept)."""
    parent: dict[str, Any] | None = None
    """A flow child's parent: BullMQ's `parent` field, `{id, queueKey, ...}` (jobqueue.flow_producer)."""
    children: dict[str, Any] | None = None
    """A flow parent's children by key, as BullMQ's `getDependencies` reads them: `processed` (key -> return
    value), `unprocessed`, `ignored` (key -> reason) and `failed` (those that failed the parent)."""


# The states of BullMQ's `getJobCounts()`, in the order `read_counts` queues their reads.
COUNT_STATES = ("active", "completed", "delayed", "failed", "prioritized", "waiting", "waiting-children")


def read_counts(pipe: Any, keys: QueueKeys) -> None:
    """Queue on `pipe` the reads BullMQ's `getJobCounts()` makes for one queue, one per COUNT_STATES entry."""
    pipe.llen(keys.active)
    pipe.zcard(keys.completed)
    pipe.zcard(keys.delayed)
    pipe.zcard(keys.failed)
    pipe.zcard(keys.prioritized)
    pipe.llen(keys.wait)
    pipe.zcard(keys.waiting_children)


def send_jobs(transport: SqsTransport, config: QueueConfig, messages: dict[K, JobMessage], *,
              deadline: float | None = None, due: Mapping[K, int] | None = None) -> dict[K, str]:
    """Send jobs to their priority lanes, each delayed until `due[key]` (ms) when given, else by its own delay;
    returns the keys of those SQS did not take (or that the deadline left unsent), with why."""
    now = int(time.time() * 1000)
    lanes: dict[str, list[tuple[K, dict[str, Any]]]] = {}
    for key, message in messages.items():
        entry = send_entry(message, now, due.get(key) if due else None)
        lanes.setdefault(config.lane_for(message.opts.priority).sqs_name, []).append((key, entry))
    refused: dict[K, str] = {}
    for lane, entries in lanes.items():
        refused.update(transport.send(lane, entries, deadline=deadline))
    return refused


def _json_or_raw(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


def job_info(job_id: str, raw: dict[str, str], state: str) -> JobInfo:
    """A job hash (HGETALL) read with BullMQ's meanings."""
    return JobInfo(
        id=job_id,
        name=raw["name"],
        data=_json_or_raw(raw.get("data")),
        opts=_json_or_raw(raw.get("opts")) or {},
        state=state,
        progress=_json_or_raw(raw.get("progress")) or 0,
        attemptsMade=int(raw.get("atm") or 0),
        timestamp=int(raw.get("timestamp") or 0),
        processedOn=_int_or_none(raw.get("processedOn")),
        finishedOn=_int_or_none(raw.get("finishedOn")),
        returnvalue=_json_or_raw(raw.get("returnvalue")),
        failedReason=raw.get("failedReason"),
        stacktrace=_stack_traces(raw.get("stacktrace")),
        parent=_json_or_raw(raw.get("parent")),
    )


def _stack_traces(value: str | None) -> list[str]:
    traces = _json_or_raw(value)
    return [str(t) for t in traces] if isinstance(traces, list) else []


def stored_message(config: QueueConfig, job_id: str, raw: dict[str, str]) -> JobMessage | None:
    """The SQS message of a job Redis holds (its hash, HGETALL), to send it again; None if there is no job.

    Options jobqueue cannot read (a BullMQ client's) fall back to the catalog's defaults for the job's name.
    """
    if "name" not in raw:
        return None
    opts: JobOptions | None = None
    if raw.get("opts"):
        try:
            opts = JobOptions.model_validate_json(raw["opts"])
        except ValidationError:
            opts = None
    if opts is None:
        opts = resolve_options(config, raw["name"], {} if job_id.isdigit() else {"jobId": job_id})
    if raw.get("delay") == "0" and opts.delay:  # promoted (BullMQ's promote zeroes the hash's delay): due now
        opts = opts.model_copy(update={"delay": 0})
    return JobMessage(queue=config.name, id=job_id, name=raw["name"], data=_json_or_raw(raw.get("data")), opts=opts,
                      timestamp=int(raw.get("timestamp") or 0))


def send_entry(message: JobMessage, now: int, due_at: int | None = None) -> dict[str, Any]:
    """The SendMessageBatch entry of a job: delayed by what is left of its delay, or until `due_at` (ms) when
    given (SQS's 15 minutes at most: a job due later is deferred again by the worker)."""
    delay = min(max(0, (message.due_at() if due_at is None else due_at) - now), MAX_SQS_DELAY_MS)
    return message.entry(math.ceil(delay / 1000))


@dataclass
class _Chunk:
    """One Redis call's worth of an add: the jobs, what addJobs made of each, and what became of them."""

    first: int  # index of the chunk's first job in the call
    drafts: list[JobMessage]
    stamp: int = 0  # the add's timestamp: every job it records carries it, and so does its unsent mark
    ids: list[str | None] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    claims: dict[int, Claim] = field(default_factory=dict)  # the jobs whose data this add put in S3

    def reject(self, positions: Iterable[int], reason: str, *, may_run: bool) -> None:
        for i in positions:
            self.rejections.append(Rejection(self.first + i, self.ids[i] if i < len(self.ids) else None, reason,
                                             may_run))
            if i < len(self.ids):
                self.ids[i] = None


class Queue:
    """Adds jobs to one catalog queue and reads its state.

    SQS holds the durable copy of every job; Redis holds its state in BullMQ's layout. A job is recorded in Redis
    first, marked unsent, then sent, and its mark cleared once SQS took it. If the send fails the job is rolled
    back and the caller gets an EnqueueError; a job whose producer died, or could not roll it back, keeps its mark:
    a retry of the same add (same `jobId`) sends it, and so does the sweeper (`resend_unsent`) a minute later.
    """

    def __init__(
        self,
        name: str,
        *,
        catalog: Catalog | None = None,
        settings: Settings | None = None,
        redis: Redis | None = None,
        sqs: Any = None,
        s3: Any = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.catalog = catalog or default_catalog()
        self.config = self.catalog.queue(name)
        self.name = name
        self.keys = self.settings.queue_keys(name)
        self.redis = redis or redis_for(self.settings)
        self.sqs = sqs or aws_client("sqs")
        self.payloads = PayloadStore(self.settings.payload_bucket, self.settings.payload_threshold_bytes, s3)
        self.urls = QueueUrls(self.sqs, self.settings.sqs_name_prefix)
        self.transport = SqsTransport(self.sqs, self.urls)
        self.scripts = Scripts(self.redis, self.keys, self.settings.max_len_events)

    # -- producing ---------------------------------------------------------------------------------------

    def add(self, name: str, data: Any = None, **opts: Any) -> str:
        """Add one job; returns its id. Options are BullMQ's (attempts, backoff, delay, priority, jobId, ...)."""
        return self.add_bulk([{"name": name, "data": data, "opts": opts}])[0]

    def add_bulk(self, jobs: Iterable[dict[str, Any]], *, deadline: float | None = None) -> list[str]:
        """Add many jobs (`{"name", "data", "opts"}` each): one Redis call per 500, one SQS call per 10.

        Every job is validated before anything is written. `deadline` (a `time.monotonic()` value) bounds the
        call: jobs not sent by then are not accepted. When some job is not accepted, EnqueueError says which
        were (their ids) and, for each other, why and whether it may still run; calling again with the same
        job ids completes the call without running any job twice.
        """
        drafts = [self._draft(i, job) for i, job in enumerate(jobs)]
        ids: list[str | None] = []
        rejections: list[Rejection] = []
        for first in range(0, len(drafts), REDIS_BATCH):
            chunk = _Chunk(first, drafts[first:first + REDIS_BATCH])
            if rejections or (deadline is not None and time.monotonic() >= deadline):
                chunk.reject(range(len(chunk.drafts)), "not attempted: "
                             + ("an earlier part of the call failed" if rejections else "the call ran out of time"),
                             may_run=False)
            else:
                self._add_chunk(chunk, deadline)
            ids += chunk.ids or [None] * len(chunk.drafts)
            rejections += chunk.rejections
        if rejections:
            unsure = sum(r.may_run for r in rejections)
            raise EnqueueError(
                f"queue {self.name!r}: {len(rejections)} of {len(drafts)} jobs were not accepted "
                f"({unsure} of them may still run: retry those only with the same jobId); "
                f"first reason: {rejections[0].reason}", ids, rejections)
        return cast("list[str]", ids)

    def _draft(self, index: int, job: dict[str, Any]) -> JobMessage:
        if not isinstance(job, dict) or not isinstance(job.get("name"), str) or not job["name"]:
            raise InvalidJobError(f"job {index}: needs a non-empty string 'name'")
        unknown = set(job) - {"name", "data", "opts"}
        if unknown:
            raise InvalidJobError(f"job {index}: unknown fields {sorted(unknown)}")
        name, data = job["name"], job.get("data")
        opts = resolve_options(self.config, name, dict(job.get("opts") or {}))
        try:
            json.dumps(data, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidJobError(f"queue {self.name!r}, job {name!r}: data is not JSON: {exc}") from exc
        if claim_of(data) is not None:
            raise InvalidJobError(f"queue {self.name!r}, job {name!r}: data has the shape of a payload placeholder "
                                  f"(the field {MARKER!r} is jobqueue's own)")
        message = JobMessage(queue=self.name, id=opts.job_id or "0" * _ID_ROOM, name=name, data=data,
                             opts=opts, timestamp=0)
        self._check_size(message)
        return message

    def _check_size(self, message: JobMessage) -> None:
        """Large data goes to the payload bucket (up to its limit); what the message carries must fit SQS."""
        where = f"queue {self.name!r}, job {message.name!r}"
        envelope = message
        if self.payloads.is_large(message.data_json):
            size = len(message.data_json.encode())
            if size > self.settings.max_data_bytes:
                raise PayloadTooLargeError(f"{where}: data of {size} bytes exceeds the payload bucket's limit of "
                                           f"{self.settings.max_data_bytes} bytes (JOBQUEUE_MAX_DATA_BYTES)")
            envelope = message.model_copy(update={"data": Claim("b" * 63, "k" * 256, size, "0" * 64).placeholder()})
        size = len(envelope.body().encode())
        if size > self.settings.max_payload_bytes:
            hint = "" if self.payloads.bucket else "; set JOBQUEUE_PAYLOAD_BUCKET to keep large data in S3"
            raise PayloadTooLargeError(f"{where}: message of {size} bytes exceeds the limit of "
                                       f"{self.settings.max_payload_bytes} bytes{hint}")

    def _add_chunk(self, chunk: _Chunk, deadline: float | None) -> None:
        """Record the chunk's jobs, send those that need a message, confirm what SQS took, roll back the rest."""
        chunk.stamp = int(time.time() * 1000)
        try:
            self._check_in(chunk)
        except PayloadStoreError as exc:
            chunk.reject(range(len(chunk.drafts)), str(exc), may_run=False)
            self._forget([("", c) for c in chunk.claims.values()])  # no job was recorded
            return
        new_jobs = [NewJob(d.opts.job_id or "", d.name, d.data_json, d.opts.to_bullmq_json(), d.opts.delay,
                           d.opts.priority) for d in chunk.drafts]
        try:
            added = self.scripts.add_jobs(new_jobs, chunk.stamp)
        except RedisError as exc:
            chunk.reject(range(len(chunk.drafts)), f"could not record the jobs in Redis: {exc}", may_run=True)
            # A job the call may have recorded after all keeps its object: the sweeper deletes only what no job
            # names. An id Redis was to give is unknown: that object is left to the bucket's lifecycle rule.
            self._forget([(chunk.drafts[i].opts.job_id or "", c) for i, c in chunk.claims.items()
                          if chunk.drafts[i].opts.job_id])
            return
        chunk.ids = [job_id for job_id, _ in added]
        # A retried add of a job Redis holds keeps that job's own object: the one this add put points nowhere.
        self._forget([(added[i][0], c) for i, c in chunk.claims.items() if added[i][1] != "new"])
        to_send = {i: d.model_copy(update={"id": job_id, "timestamp": chunk.stamp})
                   for i, (d, (job_id, how)) in enumerate(zip(chunk.drafts, added, strict=True)) if how == "new"}
        to_send.update(self._unsent_messages({i: job_id for i, (job_id, how) in enumerate(added) if how == "unsent"}))
        refused = send_jobs(self.transport, self.config, to_send, deadline=deadline)
        sent = [m.id for i, m in to_send.items() if i not in refused]
        try:
            self.scripts.confirm_sent(sent)
        except RedisError as exc:  # they are in SQS: the sweeper's later copy is dropped as a duplicate
            logger.warning("unsent marks not cleared", extra={"queue": self.name, "error": str(exc)})
        if refused:
            self._roll_back(chunk, {i: (to_send[i].id, why) for i, why in refused.items()})

    def _check_in(self, chunk: _Chunk) -> None:
        """Put each large job's data in the payload bucket, before anything is recorded; its draft then carries
        the placeholder. A put that fails leaves the objects already put in `chunk.claims`."""
        for i, draft in enumerate(chunk.drafts):
            data_json = draft.data_json
            if self.payloads.is_large(data_json):
                claim = self.payloads.put(self.name, draft.opts.job_id, data_json.encode())
                chunk.claims[i] = claim
                chunk.drafts[i] = draft.model_copy(update={"data": claim.placeholder()})

    def _forget(self, claims: list[tuple[str, Claim]]) -> None:
        """Hand objects this add put that no job points at, `(job id or "", claim)`, to the sweeper, which deletes
        those no job hash or dead-letter record names (`jobqueue.payload_sweep`). If Redis does not take them,
        the bucket's lifecycle rule expires them."""
        entries = [f"{job_id}\n{json.dumps(c.placeholder(), separators=(',', ':'))}" for job_id, c in claims]
        if not entries:
            return
        try:
            self.redis.rpush(self.keys.payloads_gone, *entries)
        except RedisError as exc:
            logger.warning("payload objects left to the lifecycle rule",
                           extra={"queue": self.name, "count": len(entries), "error": str(exc)})

    def _unsent_messages(self, unsent: dict[int, str]) -> dict[int, JobMessage]:
        """Messages of jobs an earlier add recorded and never confirmed sent, built from what Redis holds."""
        hashes = self._hashes(list(unsent.values()))
        messages = {i: stored_message(self.config, job_id, hashes[job_id]) for i, job_id in unsent.items()}
        return {i: m for i, m in messages.items() if m is not None}

    def _hashes(self, job_ids: list[str]) -> dict[str, dict[str, str]]:
        """The jobs' hashes (empty for a job Redis does not hold), in one round trip."""
        if not job_ids:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(self.keys.job(job_id))
        return dict(zip(job_ids, pipe.execute(), strict=True))

    def _roll_back(self, chunk: _Chunk, refused: dict[int, tuple[str, str]]) -> None:
        """Remove the jobs SQS did not take; one whose message is in SQS after all is accepted, one that cannot be
        removed may still run and is reported so."""
        first_reason = next(iter(refused.values()))[1]
        positions = list(refused)
        try:
            fates = self.scripts.remove_unsent_jobs([refused[i][0] for i in positions], chunk.stamp)
        except RedisError as exc:
            chunk.reject(positions, f"SQS refused it ({first_reason}) and rolling it back failed ({exc}); it is "
                                    f"recorded and will be sent within a minute", may_run=True)
            return
        by_fate = {fate: [i for i, f in zip(positions, fates, strict=True) if f == fate]
                   for fate in ("removed", "unsure")}
        chunk.reject(by_fate["removed"], f"SQS refused it, so it was not added: {first_reason}", may_run=False)
        chunk.reject(by_fate["unsure"], f"SQS refused it ({first_reason}); an earlier add of the same jobId "
                                        f"recorded it and may have sent it, else it is sent within a minute",
                     may_run=True)

    def resend_unsent(self, older_than_ms: int = UNSENT_GRACE_MS, limit: int = REDIS_BATCH) -> int:
        """The sweeper: send every job whose producer recorded it `older_than_ms` ago and never confirmed its
        message (it died, or could not roll the job back), so no job waits without one. Returns how many were
        sent. A copy of a job that did reach SQS is a duplicate the worker drops."""
        sent = 0
        before = int(time.time() * 1000) - older_than_ms
        while True:
            ids = self.scripts.unsent_since(before, limit)
            if not ids:
                return sent
            hashes = self._hashes(ids)
            started = [job_id for job_id, raw in hashes.items() if raw.get("ats") or raw.get("finishedOn")]
            self.scripts.confirm_sent(started)  # its message arrived: only the mark goes
            held = triage_unsent(self.scripts, {j: hashes[j] for j in ids if j not in started})
            took, refused = self._send_held(dict.fromkeys(held), hashes)
            sent += took
            if refused:
                logger.warning("sweeper: SQS refused jobs", extra={"queue": self.name, "count": len(refused)})
                return sent
            if len(ids) < limit:
                return sent

    def adopt_foreign(self, limit: int = REDIS_BATCH) -> int:
        """The sweeper: send the jobs a BullMQ client made waiting or delayed (npm `queue.add`, Bull Board's retry
        or promote), which reach Redis without an SQS message; returns how many were sent. The events stream
        names them: jobqueue's own waiting and delayed events carry `sqs`. Each is marked unsent before it is
        sent, so one this call could not send (SQS refused it, the process died) is sent by `resend_unsent`."""
        adopted = 0
        while True:
            found, more = self.scripts.adopt_jobs(int(time.time() * 1000), limit)
            sent, refused = self._send_held(found)
            adopted += sent
            if refused:
                logger.warning("sweeper: SQS refused jobs a BullMQ client added", extra={"queue": self.name,
                                                                                       "count": len(refused)})
                return adopted
            if not more:
                return adopted

    def resend_pending(self, limit: int = REDIS_BATCH) -> int:
        """Send a message for every job Redis holds as waiting, prioritized, active or delayed (delayed until its
        time in the delayed set), and the dead letter of every failed job whose dead letter is owed (forwarded,
        not yet recorded): for an SQS that lost its messages while Redis kept the jobs, as the local runtime's
        in-memory moto does at every restart. Returns how many were sent; raises EnqueueError naming what SQS
        refused (the jobs stay as they are, so calling again completes it). A job that did keep its message gets
        a copy the worker (or the dead-letter function) drops."""
        total = 0
        for page in self._pending_pages(limit):
            sent, refused = self._send_held(page)
            total += sent
            self._raise_refused(refused, list(page))
        for owed in self._owed_dead_letters(limit):
            refused = self.transport.send(self.config.dead_letter,
                                          [(job_id, {"MessageBody": m.body()}) for job_id, m in owed.items()])
            total += len(owed) - len(refused)
            self._raise_refused(refused, list(owed))
        return total

    def _raise_refused(self, refused: dict[str, str], job_ids: list[str]) -> None:
        if refused:
            reasons = sorted(set(refused.values()))
            raise EnqueueError(f"queue {self.name!r}: SQS refused {len(refused)} of the jobs Redis holds "
                               f"({reasons[0]}); sending them again completes it",
                               [None if job_id in refused else job_id for job_id in job_ids],
                               [Rejection(i, job_id, refused[job_id], may_run=True)
                                for i, job_id in enumerate(job_ids) if job_id in refused])

    def _owed_dead_letters(self, limit: int) -> Iterator[dict[str, JobMessage]]:
        """Failed jobs whose dead letter is owed (`dlp`: the worker forwarded it, the dead-letter function has not
        recorded it), `limit` at a time, with their messages."""
        start = 0
        while ids := cast("list[str]", self.redis.zrange(self.keys.failed, start, start + limit - 1)):
            start += limit
            owed = {job_id: m for job_id, raw in self._hashes(ids).items()
                    if raw.get("dlp") and (m := stored_message(self.config, job_id, raw)) is not None}
            if owed:
                yield owed

    def _send_held(self, due: dict[str, int | None],
                   hashes: Mapping[str, dict[str, str]] | None = None) -> tuple[int, dict[str, str]]:
        """Send jobs Redis holds (`due`: id -> when due, ms, None for now) as their stored messages, with the
        attempts they made, and clear the unsent marks of those SQS took; how many it took, and the refused
        with why. A job Redis does not hold is skipped (its mark cleared). `hashes` spares reading them again."""
        hashes = {job_id: hashes[job_id] for job_id in due} if hashes is not None else self._hashes(list(due))
        messages = {job_id: m.model_copy(update={"attempts_offset": int(raw.get("atm") or 0)})
                    for job_id, raw in hashes.items() if (m := stored_message(self.config, job_id, raw)) is not None}
        refused = send_jobs(self.transport, self.config, messages,
                            due={job_id: at for job_id, at in due.items() if at is not None and job_id in messages})
        self.scripts.confirm_sent([job_id for job_id in due if job_id not in refused])
        return len(messages) - len(refused), refused

    def _pending_pages(self, limit: int) -> Iterator[dict[str, int | None]]:
        """The jobs waiting, active, prioritized and delayed, `limit` at a time: id -> when due (ms; None: now)."""
        k = self.keys
        for key in (k.wait, k.active, k.prioritized, k.delayed):
            start = 0
            while True:
                end = start + limit - 1
                page: dict[str, int | None]
                if key in (k.wait, k.active):
                    page = dict.fromkeys(cast("list[str]", self.redis.lrange(key, start, end)))
                else:
                    scored = cast("list[tuple[str, float]]", self.redis.zrange(key, start, end, withscores=True))
                    page = {job_id: int(score) // 4096 if key == k.delayed else None for job_id, score in scored}
                if page:
                    yield page
                if len(page) < limit:
                    break
                start += limit

    # -- reading -----------------------------------------------------------------------------------------

    def get_job_counts(self) -> dict[str, int]:
        """Counts per state, exactly as BullMQ's `getJobCounts()` computes them."""
        pipe = self.redis.pipeline(transaction=False)
        read_counts(pipe, self.keys)
        return dict(zip(COUNT_STATES, (int(v) for v in pipe.execute()), strict=True))

    def get_state(self, job_id: str) -> str:
        """BullMQ's `getState`: membership in the finished and scheduled sets, then the lists."""
        k = self.keys
        pipe = self.redis.pipeline(transaction=False)
        for zset in (k.completed, k.failed, k.delayed, k.prioritized):
            pipe.zscore(zset, job_id)
        for lst in (k.active, k.wait):
            pipe.lpos(lst, job_id)
        pipe.zscore(k.waiting_children, job_id)
        found = pipe.execute()
        states = ["completed", "failed", "delayed", "prioritized", "active", "waiting", "waiting-children"]
        return next((s for s, hit in zip(states, found, strict=True) if hit is not None), "unknown")

    def get_job(self, job_id: str) -> JobInfo | None:
        """The job's hash as BullMQ's `getJob` reads it, or None."""
        raw = cast("dict[str, str]", self.redis.hgetall(self.keys.job(job_id)))
        if not raw or "name" not in raw:
            return None
        return replace(job_info(job_id, raw, self.get_state(job_id)), children=self.get_children(job_id))

    def get_children(self, job_id: str) -> dict[str, Any] | None:
        """A flow parent's children (JobInfo.children), read as BullMQ's `getDependencies()`; None if it has none."""
        k = self.keys
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(k.processed(job_id))
        pipe.smembers(k.dependencies(job_id))
        pipe.hgetall(k.failed_children(job_id))
        pipe.zrange(k.unsuccessful(job_id), 0, -1)
        processed, unprocessed, ignored, failed = pipe.execute()
        if not (processed or unprocessed or ignored or failed):
            return None
        return {"processed": {key: _json_or_raw(v) for key, v in processed.items()},
                "unprocessed": sorted(unprocessed), "ignored": ignored, "failed": failed}

    def get_job_logs(self, job_id: str, start: int = 0, end: int = -1, *, asc: bool = True) -> tuple[list[str], int]:
        """BullMQ's `getJobLogs`: lines `start`..`end` (inclusive; oldest first, or newest first unless `asc`) and
        how many lines the job has."""
        key = self.keys.logs(job_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.lrange(key, *((start, end) if asc else (-(end + 1), -(start + 1))))
        pipe.llen(key)
        lines, count = pipe.execute()
        return (lines if asc else lines[::-1]), int(count)
