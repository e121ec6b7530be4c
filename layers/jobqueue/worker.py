"""The worker: runs one queue's jobs from SQS batches (the engine behind each worker Lambda).

A batch is claimed in one Redis round trip (moveToActive); then each job is started in the same round trip
that commits the previous job's outcome (moveToFinished), so an invocation cut at any point keeps every
outcome of the jobs that returned before the cut. `jobqueue.lifecycle` draws the whole state machine.

Attempts are counted in Redis: a job's attempt is its attempts made plus one, whatever SQS's receive count
says; a failed attempt makes the message visible again after the job's backoff; an exhausted or unrecoverable
job is failed in Redis first, then forwarded to the dead-letter queue by the worker (a forward that fails is
owed, and the next delivery pays it without running the job). Redis or SQS trouble spends no attempt: the
deliveries come back as copies (or, when SQS refuses those too, as redeliveries that the redrive safety net
tolerates).

Operators act on queues through `jobqueue.admin`, and the worker honours their marks in the claim: a job
removed while its message travelled (a tombstone) is dropped, and while the queue is paused every delivery is
deferred. The same round trip applies the queue's flow control (see `jobqueue.flow`).
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from jobqueue.backoff import backoff_delay_ms, visibility_seconds
from jobqueue.catalog import Catalog, default_catalog
from jobqueue.connection import QueueUrls, aws_client, redis_for
from jobqueue.errors import JobTimeoutError, MalformedMessageError, RetryAfterError, UnrecoverableError
from jobqueue.flow import BUSY_POLL_SECONDS, MAX_YIELDS, WaitBudget, defer_seconds, gates_for
from jobqueue.flow_commit import FLOW_HOLD_SECONDS, uncommitted
from jobqueue.job import DEAD_LETTER_ATTRIBUTES, MAX_SQS_DELAY_MS, Job, JobMessage, parse_message
from jobqueue.lifecycle import CLAIM_FATES, Fate
from jobqueue.payloads import PayloadStore, claim_of
from jobqueue.registry import Registry, registry
from jobqueue.scripts import CHECK, ClaimCode, Delivery, Finish, Gates, Release, Scripts
from jobqueue.settings import Settings, get_settings
from jobqueue.transport import SqsTransport

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from redis import Redis

    from jobqueue.flow_parents import ParentUpdates
    from jobqueue.scripts import Step

__all__ = ["DEAD_LETTER_ATTRIBUTES", "INFRA_DEFER_SECONDS", "PAUSED_DEFER_SECONDS", "Worker"]

logger = Logger(service="jobqueue")

# A job may start this early: SQS delays are whole seconds.
EARLY_TOLERANCE_MS = 1000
PAUSED_DEFER_SECONDS = 5
"""How long a job delivered while its queue is paused waits before it is delivered again (SQS DelaySeconds).

Pausing disables the queue's event source mappings, so only deliveries already in flight reach a paused
worker; each comes back this often, counting no attempt, until the queue is resumed.
"""
INFRA_DEFER_SECONDS = 5
"""How long deliveries wait when Redis cannot be reached (or SQS refused a forward) before they come back."""
COMMIT_MARGIN_MS = 2000
"""Time kept at the end of an invocation for the last commit and the batch's SQS calls (a tenth of the
function's timeout when that is shorter)."""
_TRANSIENT = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)


@dataclass
class _Record:
    """One SQS record of the batch and what became of it."""

    raw: dict[str, Any]
    message: JobMessage | None = None
    receive_count: int = 1
    fate: Fate = Fate.RUN
    reason: str = ""  # why it was deferred, dropped or died (lifecycle.CLAIM_FATES)
    due_at: int = 0  # ms: when a deferred job is due (0: by its message)
    defer_for: int = 0  # seconds a deferral copy waits at least
    finish: Finish | None = None  # the attempt's outcome, until committed
    visibility: int | None = None  # seconds until a redelivered record is visible again

    @property
    def id(self) -> str:
        return str(self.raw["messageId"])

    @property
    def job(self) -> JobMessage:
        assert self.message is not None
        return self.message


class _Deadline:
    """The invocation's remaining time: Lambda's own clock when there is a context."""

    def __init__(self, timeout_s: int, context: LambdaContext | None) -> None:
        self.context = context
        self.ends = time.monotonic() + timeout_s

    def remaining_ms(self) -> int:
        if self.context is not None:
            return int(self.context.get_remaining_time_in_millis())
        return int((self.ends - time.monotonic()) * 1000)


class _Invocation:
    """One worker invocation on one batch: claim, run each job committing as it goes, then the SQS side."""

    def __init__(self, worker: Worker, context: LambdaContext | None) -> None:
        self.worker = worker
        config = worker.config
        self.gates: Gates = gates_for(config, *worker.gate_settings)
        self.budget = WaitBudget.of(config.timeout, context)
        self.deadline = _Deadline(config.timeout, context)
        self.records: list[_Record] = []
        self.margin_ms = min(COMMIT_MARGIN_MS, config.timeout * 100)

    def run(self, raw_records: list[dict[str, Any]]) -> PartialItemFailureResponse:
        self.records = [self._parse(raw) for raw in raw_records]
        self._drop_duplicates()
        self._hold_uncommitted_flows()
        claimable = [r for r in self.records if r.fate in (Fate.RUN, Fate.CHECK)]
        try:
            self._claim(claimable)
        except _TRANSIENT as exc:
            logger.warning("redis unavailable: batch deferred", extra={"queue": self.worker.name, "error": str(exc)})
            for record in claimable:
                self._defer(record, "redis", INFRA_DEFER_SECONDS)
        self._run_claimed()
        self._forward()
        self._tell_parents()
        return {"batchItemFailures": [{"itemIdentifier": r.id} for r in self.records
                                      if r.fate in (Fate.RETRY, Fate.REDELIVER, Fate.MALFORMED)]}

    # -- parse and claim ---------------------------------------------------------------------------------
    def _parse(self, raw: dict[str, Any]) -> _Record:
        record = _Record(raw=raw)
        try:
            record.message = parse_message(raw.get("body", ""))
            if record.message.queue != self.worker.name:
                raise MalformedMessageError(
                    f"job for queue {record.message.queue!r} delivered to {self.worker.name!r}")
            record.receive_count = int(raw.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        except (MalformedMessageError, ValueError) as exc:
            record.fate, record.reason, record.visibility = Fate.MALFORMED, str(exc), 0
            logger.error("malformed message", extra={"queue": self.worker.name, "messageId": raw.get("messageId"),
                                                     "error": str(exc)})
            return record
        if record.job.due_at() > self.worker.now_ms() + EARLY_TOLERANCE_MS:
            record.fate = Fate.CHECK
        return record

    def _drop_duplicates(self) -> None:
        """Two messages of one job in one batch (a producer's retry, the sweeper's copy): the first decides, the
        others are deleted. Claims by this invocation are idempotent, so only this keeps the job to one run.
        A job is its id and its timestamp: a custom id removed and added again is another job."""
        seen: set[tuple[str, int]] = set()
        for record in self.records:
            if record.message is None or record.fate == Fate.MALFORMED:
                continue
            incarnation = (record.job.id, record.job.timestamp)
            if incarnation in seen:
                record.fate, record.reason = Fate.DROP, "duplicate"
            seen.add(incarnation)

    def _hold_uncommitted_flows(self) -> None:
        """A flow's child whose add has not committed (jobqueue.flow_commit) does not run yet: its delivery comes
        back later, spending no attempt. One read for the batch, and only when it holds flow children."""
        children = [r for r in self.records if r.fate in (Fate.RUN, Fate.CHECK) and r.message is not None
                    and r.job.opts.parent is not None]
        if not children:
            return
        try:
            held = uncommitted(self.worker.scripts, [(r.job.id, r.job.timestamp) for r in children])
        except _TRANSIENT:
            return  # the claim finds Redis down as well, and defers the batch
        for record in children:
            if record.job.id in held:
                self._defer(record, "flow", FLOW_HOLD_SECONDS)

    def _claim(self, records: list[_Record]) -> None:
        """Claim `records` in one round trip (two when some job's state was lost and is restored first)."""
        if not records:
            return
        scripts = self.worker.scripts
        claims = scripts.move_to_active([self._delivery(r) for r in records], self.gates, self._due_by())
        codes, dues = claims.codes, claims.dues
        lost = [r for r, code in zip(records, codes, strict=True) if code == ClaimCode.MISSING]
        if lost:
            scripts.restore_jobs([r.job for r in lost])
            logger.warning("restored lost job state", extra={"queue": self.worker.name,
                                                             "jobIds": [r.job.id for r in lost]})
            again = scripts.move_to_active([self._delivery(r) for r in lost], self.gates, self._due_by())
            retried = iter(zip(again.codes, again.dues, strict=True))
            pairs = [next(retried) if code == ClaimCode.MISSING else (code, due)
                     for code, due in zip(codes, dues, strict=True)]
            codes, dues = [c for c, _ in pairs], [d for _, d in pairs]
        for record, code, due in zip(records, codes, dues, strict=True):
            record.fate, record.reason = CLAIM_FATES[code]
            record.due_at = due
            if record.fate == Fate.DEFER:
                record.defer_for = self._defer_seconds(record.reason)
            if record.reason in ("stalled", "removed") or record.fate == Fate.DEAD:
                self.worker.log_event(record.reason if record.fate != Fate.DEAD else "dead-letter owed", record)

    def _due_by(self) -> int:
        return self.worker.now_ms() + EARLY_TOLERANCE_MS

    def _delivery(self, record: _Record) -> Delivery:
        message = record.job
        if record.fate == Fate.CHECK:
            return Delivery(message.id, message.timestamp, CHECK)
        if message.attempts_offset or record.receive_count > 1 or message.opts.delay:
            expected = "delayed"
        else:
            expected = "prioritized" if message.opts.priority > 0 else "wait"
        may_yield = message.yields < MAX_YIELDS
        return Delivery(message.id, message.timestamp, expected, message.opts.priority if may_yield else 0,
                        message.opts.attempts, message.opts.group_id)

    def _defer_seconds(self, reason: str) -> int:
        if reason == "paused":
            return PAUSED_DEFER_SECONDS
        if reason == "running":
            return defer_seconds(reason, self.gates.lease_ms)
        return defer_seconds(reason) if reason in ("yield", "busy", "group-busy", "group-limited") else 0

    def _defer(self, record: _Record, reason: str, seconds: int) -> None:
        record.fate, record.reason, record.defer_for = Fate.DEFER, reason, seconds

    def _may_wait(self, record: _Record, seconds: float) -> bool:
        """Whether waiting `seconds` fits the wait budget and still leaves time to run `record`."""
        left_after = self.deadline.remaining_ms() - seconds * 1000
        return self.budget.allows(seconds) and left_after >= self._ttl_ms(record) + self.margin_ms

    def _wait_turn(self, record: _Record) -> None:
        """Wait in the invocation until a slot lets `record` start, asking again for every waiting record at
        once (the ones granted too run next); when the budget runs out, the waiting records are deferred."""
        while record.fate == Fate.WAIT:
            waiting = [r for r in self.records if r.fate == Fate.WAIT]
            if not self._may_wait(record, BUSY_POLL_SECONDS):
                for other in waiting:
                    self._defer(other, other.reason, self._defer_seconds(other.reason))
                return
            time.sleep(BUSY_POLL_SECONDS)
            for other in waiting:
                other.fate = Fate.RUN
            self._claim(waiting)

    # -- run: each job started in the round trip that commits the one before ----------------------------
    def _run_claimed(self) -> None:
        previous: _Record | None = None
        refused: dict[str, tuple[str, int]] = {}  # groups whose start was refused: why, and for how long
        for record in self.records:
            if record.fate == Fate.WAIT:
                try:
                    self._wait_turn(record)
                except _TRANSIENT:
                    self._defer(record, "redis", INFRA_DEFER_SECONDS)
            if record.fate != Fate.RUN:
                continue
            group = record.job.opts.group_id
            if group in refused:  # the batch's other jobs of that group are put back without asking again
                record.fate, (record.reason, record.defer_for) = Fate.RELEASE, refused[group]
                continue
            if self.deadline.remaining_ms() < self._ttl_ms(record) + self.margin_ms:
                record.fate, record.reason = Fate.RELEASE, "deadline"
                continue
            step = self._step(previous, start=record)
            previous = None
            while step is not None and step.attempt == step.RATE_LIMITED:
                if not self._may_wait(record, step.retry_after_ms / 1000):
                    record.fate, record.reason = Fate.RELEASE, "limited"
                    record.defer_for = defer_seconds("limited", step.retry_after_ms)
                    break
                time.sleep(step.retry_after_ms / 1000)
                step = self._step(None, start=record)
            if step is None:
                break
            if step.attempt in (step.GROUP_LIMITED, step.GROUP_BUSY):  # put back at once: no waiting for a group
                reason = "group-limited" if step.attempt == step.GROUP_LIMITED else "group-busy"
                refused[group] = reason, defer_seconds(reason, step.retry_after_ms)
                record.fate, (record.reason, record.defer_for) = Fate.RELEASE, refused[group]
            elif step.attempt == step.FINISHED:
                record.fate, record.reason = Fate.DROP, "finished"
            elif step.attempt == step.LOST:  # its state was lost and could not be restored: it was removed
                record.fate, record.reason = Fate.DROP, "removed"
            elif record.fate == Fate.RUN:
                self._attempt(record, step.attempt, step.has_parent)
                previous = record
        releases = [r for r in self.records if r.fate in (Fate.RELEASE, Fate.RUN) and r.finish is None]
        if self._step(previous, releases=releases) is not None:
            for record in releases:
                self._defer(record, record.reason if record.fate == Fate.RELEASE else "redis", record.defer_for)
        else:
            for record in releases:
                record.fate = Fate.REDELIVER  # still claimed: its next claim waits out the lease, no attempt

    def _step(self, previous: _Record | None, *, start: _Record | None = None,
              releases: list[_Record] | None = None) -> Step | None:
        """Commit `previous`'s outcome and start `start` (or, without one, release `releases` and the slot) in
        one round trip; retried while Redis is unreachable and time allows. Returns moveToFinished's answer
        (the started job's attempt), None when Redis could not be reached: then `previous` is redelivered."""
        worker, finishes = self.worker, [previous.finish] if previous and previous.finish else []
        release_pairs = [Release(r.job.id, "delayed" if r.job.opts.delay or r.receive_count > 1 else "wait",
                                 r.job.opts.group_id) for r in releases or []]
        token = "" if start else self.gates.token
        pause = 0.05
        while True:
            try:
                step = worker.scripts.move_to_finished(finishes, worker.now_ms(), start=start.job.id if start else "",
                                                       start_group=start.job.opts.group_id if start else "",
                                                       releases=release_pairs, token=token, gates=self.gates)
                step = self._restore_lost(step, previous, start, finishes, token)
                break
            except _TRANSIENT as exc:
                if self.deadline.remaining_ms() < pause * 1000 + self.margin_ms / 2:
                    logger.error("redis unavailable: outcome not committed",
                                 extra={"queue": worker.name, "error": str(exc)})
                    if previous:
                        previous.fate, previous.visibility = Fate.REDELIVER, None
                    return None
                time.sleep(pause)
                pause = min(1.0, pause * 2)
        if previous:
            self._committed(previous)
        return step

    def _restore_lost(self, step: Step, previous: _Record | None, start: _Record | None, finishes: list[Finish],
                      token: str) -> Step:
        """Redis lost a held job's state (a flush, a failover): rebuild it from the message, as active, and
        commit again."""
        lost = ([previous.job] if previous and step.codes and step.codes[0] == -1 else []) + \
            ([start.job] if start and step.attempt == step.LOST else [])
        if not lost:
            return step
        self.worker.scripts.restore_jobs(lost, active=True)
        logger.warning("restored lost job state", extra={"queue": self.worker.name, "jobIds": [m.id for m in lost]})
        return self.worker.scripts.move_to_finished(finishes, self.worker.now_ms(), start=start.job.id if start else "",
                                                    start_group=start.job.opts.group_id if start else "",
                                                    token=token, gates=self.gates)

    def _committed(self, record: _Record) -> None:
        finish = record.finish
        assert finish is not None
        record.fate = {"completed": Fate.DONE, "retry": Fate.RETRY, "failed": Fate.DEAD}[finish.outcome]

    def _ttl_ms(self, record: _Record) -> int:
        return record.job.opts.ttl or self.worker.config.job_timeout_ms

    def _attempt(self, record: _Record, attempt: int, has_parent: bool) -> None:
        """Run the processor once and decide the attempt's outcome (committed by the next step); `has_parent`: the
        job is a flow's child, as its start found it."""
        worker, message = self.worker, record.job
        job = Job(id=message.id, name=message.name, data=message.data, opts=message.opts, queue=worker.name,
                  timestamp=message.timestamp, attempt=attempt, _scripts=worker.scripts,
                  keep_logs=worker.config.keep_logs)
        worker.log_event("active", record, attempt)
        retention = message.opts.remove_on_complete
        try:
            fn = worker.registry.lookup(worker.name, message.name)
            if fn is None:
                raise UnrecoverableError(f"no processor registered for queue {worker.name!r}, job {message.name!r}")
            claim = claim_of(message.data)
            if claim is not None:  # a missing object is unrecoverable; any other S3 error fails this attempt only
                job.data = worker.payloads.fetch(claim)
            with _time_limit(self._ttl_ms(record)):
                value = json.dumps(fn(job), default=str)
            record.finish = Finish(message.id, "completed", attempt, value,
                                   keep_count=retention.count if retention else None,
                                   keep_age=retention.age if retention else None, group=message.opts.group_id,
                                   has_parent=has_parent)
            worker.log_event("completed", record, attempt)
            return
        except (Exception, _TtlExpired) as exc:
            error = JobTimeoutError(f"job ran past its ttl of {self._ttl_ms(record)} ms") \
                if isinstance(exc, _TtlExpired) else exc
            reason = str(error) or type(error).__name__
            stacktrace = json.dumps(["".join(traceback.format_exception(exc))])
        if not isinstance(error, UnrecoverableError) and attempt < message.opts.attempts:
            asked_ms = error.delay_ms if isinstance(error, RetryAfterError) else 0
            record.visibility = visibility_seconds(max(backoff_delay_ms(message.opts.backoff, attempt), asked_ms))
            record.finish = Finish(message.id, "retry", attempt, reason, stacktrace,
                                   due_at=worker.now_ms() + record.visibility * 1000, group=message.opts.group_id,
                                   has_parent=has_parent)
            worker.log_event("retrying", record, attempt, reason)
            return
        retention = message.opts.remove_on_fail
        record.finish = Finish(message.id, "failed", attempt, reason, stacktrace,
                               keep_count=retention.count if retention else None,
                               keep_age=retention.age if retention else None, group=message.opts.group_id,
                               has_parent=has_parent)
        worker.log_event("failed", record, attempt, reason)

    def _tell_parents(self) -> None:
        """Apply to their parents the outcomes of the flow children this invocation finished (or found dead of a
        stall): one read finds the updates their finish recorded. What Redis or SQS trouble leaves undone stays
        recorded for the sweeper (jobqueue.flow_parents)."""
        children = [r.job.id for r in self.records if r.message is not None and r.job.opts.parent is not None]
        if not children:
            return
        try:
            self.worker.parent_updates().apply(self.worker.name, children)
        except (RedisError, BotoCoreError, ClientError) as exc:
            logger.warning("flow parents not told: the sweeper tells them",
                           extra={"queue": self.worker.name, "error": str(exc)})

    # -- the SQS side: copies, dead letters, visibility ---------------------------------------------------
    def _forward(self) -> None:
        """Send deferral copies to their lanes and dead jobs to the DLQ, 10 per call, and schedule retries. A
        record whose forward fails is redelivered instead: nothing is deleted before its copy exists."""
        worker = self.worker
        deferred = [r for r in self.records if r.fate == Fate.DEFER]
        dead = [r for r in self.records if r.fate == Fate.DEAD]
        failed: dict[str, str] = {}
        for lane, records in worker.by_lane(deferred):
            failed.update(worker.transport.send(lane, [(r.id, worker.deferred_entry(r)) for r in records]))
        if dead:
            entries = [(r.id, worker.dead_entry(r)) for r in dead]
            failed.update(worker.transport.send(worker.config.dead_letter, entries))
        for record in deferred + dead:
            if record.id in failed:
                record.fate, record.visibility = Fate.REDELIVER, INFRA_DEFER_SECONDS
        for lane, records in worker.by_lane([r for r in self.records if r.visibility is not None and
                                             r.fate in (Fate.RETRY, Fate.REDELIVER, Fate.MALFORMED)]):
            worker.transport.change_visibility(lane, [(r.raw["receiptHandle"], r.visibility or 0) for r in records])


class _TtlExpired(BaseException):
    """Raised into a processor at its ttl; a BaseException so that its own `except Exception` cannot swallow it."""


@contextmanager
def _time_limit(ms: int) -> Iterator[None]:
    """Interrupt the block after `ms` (SIGALRM: the handler's main thread only, as Lambda runs it). A timer
    already set (a test runner's) is put back with what is left of it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _TtlExpired

    began = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, ms / 1000)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(0.001, outer - (time.monotonic() - began)))


class Worker:
    """Processes SQS batches of one catalog queue (every priority lane of it).

    >>> worker = Worker("lead-processing")
    >>> def lambda_handler(event, context):
    ...     return worker.handle(event, context)
    """

    def __init__(
        self,
        name: str,
        *,
        catalog: Catalog | None = None,
        settings: Settings | None = None,
        redis: Redis | None = None,
        sqs: Any = None,
        processors: Registry | None = None,
        clock: Callable[[], float] = time.time,
        s3: Any = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.catalog = catalog or default_catalog()
        self.config = self.catalog.queue(name)
        self.name = name
        self.registry = processors or registry
        self.registry.load(self.catalog.processors)
        self.scripts = Scripts(redis or redis_for(self.settings),
                               self.settings.queue_keys(name), self.settings.max_len_events)
        self._sqs = sqs
        self.payloads = PayloadStore(self.settings.payload_bucket, self.settings.payload_threshold_bytes, s3)
        self.clock = clock
        self._parents: ParentUpdates | None = None
        limiter = self.config.effective_limiter()
        self.gate_settings = (self.config.effective_concurrency(), limiter.max if limiter else None,
                              limiter.duration if limiter else 0)

    @cached_property
    def transport(self) -> SqsTransport:
        """Made on first use: a batch whose jobs all complete makes no SQS call (its event source deletes them)."""
        sqs = self._sqs or aws_client("sqs")
        return SqsTransport(sqs, QueueUrls(sqs, self.settings.sqs_name_prefix))

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def parent_updates(self) -> ParentUpdates:
        """Who tells flow parents their children's outcomes (imported and built on first use: most queues have no
        flows, and a cold start does not pay for them)."""
        from jobqueue.flow_parents import ParentUpdates

        if self._parents is None:
            self._parents = ParentUpdates(catalog=self.catalog, settings=self.settings, redis=self.scripts.client,
                                          sqs=self.transport.sqs)
        return self._parents

    def handle(self, event: dict[str, Any], context: LambdaContext | None = None) -> PartialItemFailureResponse:
        """The worker Lambda's whole job: returns the partial batch response."""
        return _Invocation(self, context).run(event.get("Records") or [])

    def log_event(self, event: str, record: _Record, attempt: int | None = None, reason: str | None = None) -> None:
        message = record.job
        logger.info(f"job {event}", extra={"event": event, "queue": self.name, "jobId": message.id,
                                            "jobName": message.name, "attempt": attempt, "reason": reason})

    def by_lane(self, records: list[_Record]) -> list[tuple[str, list[_Record]]]:
        """Records grouped by the SQS queue (priority lane) their job travels in; unreadable ones by the default."""
        lanes: dict[str, list[_Record]] = {}
        for record in records:
            priority = record.message.opts.priority if record.message else 0
            lanes.setdefault(self.config.lane_for(priority).sqs_name, []).append(record)
        return list(lanes.items())

    def deferred_entry(self, record: _Record) -> dict[str, Any]:
        """A copy that arrives when the job is due, or after its deferral; this delivery counts no attempt."""
        message = record.job
        due = record.due_at or message.due_at()
        seconds = math.ceil(min(max(0, due - self.now_ms()), MAX_SQS_DELAY_MS) / 1000)
        seconds = min(max(seconds, record.defer_for), MAX_SQS_DELAY_MS // 1000)
        copy = message.model_copy(update={"yields": message.yields + 1} if record.reason == "yield" else {})
        return copy.entry(seconds)

    def dead_entry(self, record: _Record) -> dict[str, Any]:
        """The job for the DLQ, with why it died when this invocation knows (else the handler reads Redis)."""
        entry: dict[str, Any] = {"MessageBody": record.job.body()}
        if record.finish:
            reason, attempts = DEAD_LETTER_ATTRIBUTES
            entry["MessageAttributes"] = {
                reason: {"DataType": "String", "StringValue": record.finish.value[:4096] or "failed"},
                attempts: {"DataType": "Number", "StringValue": str(record.finish.attempt)},
            }
        return entry
