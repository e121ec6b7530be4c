"""The producer: `Queue(name).add(...)` makes a job durable in SQS and visible in Redis.

>>> from jobqueue import Queue
>>> job_id = Queue("email").add("password_reset", {"to": "a@example.com"})
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from redis.exceptions import RedisError

from jobqueue.catalog import Catalog, QueueConfig, default_catalog
from jobqueue.connection import QueueUrls, aws_client, redis_client
from jobqueue.errors import EnqueueError, InvalidJobError, JobQueueError, PayloadTooLargeError
from jobqueue.job import MAX_SQS_DELAY_MS, JobMessage, resolve_options
from jobqueue.keys import QueueKeys
from jobqueue.scripts import NewJob, Scripts
from jobqueue.settings import Settings, get_settings
from jobqueue.transport import SQS_BATCH, SqsTransport

if TYPE_CHECKING:
    from collections.abc import Iterable

    from redis import Redis

__all__ = ["JobInfo", "Queue", "job_info"]

REDIS_BATCH = 500
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


def lane_batches(config: QueueConfig, messages: list[JobMessage]) -> list[tuple[str, list[JobMessage]]]:
    """SendMessageBatch-sized groups of jobs, each group bound for one priority lane."""
    lanes: dict[str, list[JobMessage]] = {}
    for message in messages:
        lanes.setdefault(config.lane_for(message.opts.priority).sqs_name, []).append(message)
    return [(lane, group[start:start + SQS_BATCH])
            for lane, group in lanes.items() for start in range(0, len(group), SQS_BATCH)]


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
    )


class Queue:
    """Adds jobs to one catalog queue and reads its state.

    SQS holds the durable copy of every job; Redis holds its state in BullMQ's layout. A job is written to
    Redis first and then sent; if the send fails its Redis state is rolled back and the caller gets an error.
    """

    def __init__(
        self,
        name: str,
        *,
        catalog: Catalog | None = None,
        settings: Settings | None = None,
        redis: Redis | None = None,
        sqs: Any = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.catalog = catalog or default_catalog()
        self.config = self.catalog.queue(name)
        self.name = name
        self.keys = QueueKeys(self.settings.prefix, name)
        self.redis = redis or redis_client(self.settings.redis_url)
        self.sqs = sqs or aws_client("sqs")
        self.urls = QueueUrls(self.sqs, self.settings.sqs_name_prefix)
        self.transport = SqsTransport(self.sqs, self.urls)
        self.scripts = Scripts(self.redis, self.keys, self.settings.max_len_events)

    # -- producing ---------------------------------------------------------------------------------------

    def add(self, name: str, data: Any = None, **opts: Any) -> str:
        """Add one job; returns its id. Options are BullMQ's (attempts, backoff, delay, priority, jobId, ...)."""
        return self.add_bulk([{"name": name, "data": data, "opts": opts}])[0]

    def add_bulk(self, jobs: Iterable[dict[str, Any]]) -> list[str]:
        """Add many jobs (`{"name", "data", "opts"}` each): one Redis call per 500, one SQS call per 10."""
        drafts = [self._draft(i, job) for i, job in enumerate(jobs)]
        ids: list[str] = []
        for start in range(0, len(drafts), REDIS_BATCH):
            ids += self._add_chunk(drafts[start:start + REDIS_BATCH])
        return ids

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
        message = JobMessage(queue=self.name, id=opts.job_id or "0" * _ID_ROOM, name=name, data=data,
                             opts=opts, timestamp=0)
        size = len(message.body().encode())
        if size > self.settings.max_payload_bytes:
            raise PayloadTooLargeError(
                f"queue {self.name!r}, job {name!r}: message of {size} bytes exceeds the limit of "
                f"{self.settings.max_payload_bytes} bytes; store large payloads elsewhere and pass a reference"
            )
        return message

    def _add_chunk(self, drafts: list[JobMessage]) -> list[str]:
        timestamp = int(time.time() * 1000)
        new_jobs = [
            NewJob(d.opts.job_id or "", d.name, d.data_json, d.opts.to_bullmq_json(), d.opts.delay,
                   d.opts.priority)
            for d in drafts
        ]
        try:
            added = self.scripts.add_jobs(new_jobs, timestamp)
        except RedisError as exc:
            raise JobQueueError(f"queue {self.name!r}: could not record jobs in Redis: {exc}") from exc
        messages = [
            d.model_copy(update={"id": job_id, "timestamp": timestamp})
            for d, (job_id, is_new) in zip(drafts, added, strict=True) if is_new
        ]
        self._send(messages)
        return [job_id for job_id, _ in added]

    def _send(self, messages: list[JobMessage]) -> None:
        """Send 10 at a time to each job's lane; roll back the Redis state of every job SQS did not take."""
        rejected: dict[str, str] = {}
        for lane, batch in lane_batches(self.config, messages):
            rejected.update(self.transport.send(lane, [
                (m.id, {"MessageBody": m.body(), "DelaySeconds": math.ceil(min(m.opts.delay, MAX_SQS_DELAY_MS) / 1000)})
                for m in batch]))
        accepted = [m.id for m in messages if m.id not in rejected]
        if not rejected:
            return
        try:
            self.scripts.remove_jobs(list(rejected))
        except RedisError as exc:
            raise EnqueueError(
                f"queue {self.name!r}: SQS refused {len(rejected)} jobs and rolling back their Redis state "
                f"failed too ({exc}); they will never run", accepted, rejected,
            ) from exc
        raise EnqueueError(
            f"queue {self.name!r}: SQS refused {len(rejected)} of {len(messages)} jobs; they were not added "
            f"(first reason: {next(iter(rejected.values()))})", accepted, rejected,
        )

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
        found = pipe.execute()
        states = ["completed", "failed", "delayed", "prioritized", "active", "waiting"]
        return next((s for s, hit in zip(states, found, strict=True) if hit is not None), "unknown")

    def get_job(self, job_id: str) -> JobInfo | None:
        """The job's hash as BullMQ's `getJob` reads it, or None."""
        raw = cast("dict[str, str]", self.redis.hgetall(self.keys.job(job_id)))
        if not raw or "name" not in raw:
            return None
        return job_info(job_id, raw, self.get_state(job_id))

    def get_logs(self, job_id: str) -> list[str]:
        return cast("list[str]", self.redis.lrange(self.keys.logs(job_id), 0, -1))
