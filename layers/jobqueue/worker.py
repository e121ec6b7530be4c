"""The worker: runs one queue's jobs from SQS batches (the engine behind each worker Lambda).

A batch moves through Redis in two round trips (moveToActive, moveToFinished) whatever its size. Attempts
are counted by SQS: attempt n of a job is its message's ApproximateReceiveCount plus the attempts made
before the message was sent. A failed attempt makes the message visible again after the job's backoff; the
last one lets SQS's redrive policy move it to the dead-letter queue. Jobs that must leave earlier (an
unrecoverable error, or fewer attempts than the queue's maxReceiveCount) are sent there directly.

Operators act on queues through `jobqueue.admin`, and the worker honours two of their marks, both read in the
moveToActive round trip: a job removed while its message travelled (a tombstone) is dropped without running,
and while the queue is paused every delivery is deferred: re-sent after `PAUSED_DEFER_SECONDS` as a copy that
counts no attempt, the job staying where it waits in Redis. The same round trip applies the queue's flow
control (priority yielding, rate limit, global concurrency, leases: see `jobqueue.flow`).
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from jobqueue.backoff import backoff_delay_ms, visibility_seconds
from jobqueue.batch import run_batch
from jobqueue.catalog import Catalog, default_catalog
from jobqueue.connection import QueueUrls, aws_client, redis_client
from jobqueue.errors import JobQueueError, MalformedMessageError, RetryAfterError, UnrecoverableError
from jobqueue.flow import BUSY_POLL_SECONDS, MAX_YIELDS, WaitBudget, defer_seconds, gates_for
from jobqueue.job import MAX_SQS_DELAY_MS, Job, JobMessage, parse_message
from jobqueue.keys import QueueKeys
from jobqueue.registry import Registry, registry
from jobqueue.scripts import CHECK, Delivery, Finish, Gates, Scripts, StartCode
from jobqueue.settings import Settings, get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from redis import Redis

__all__ = ["DEAD_LETTER_ATTRIBUTES", "PAUSED_DEFER_SECONDS", "RetryLater", "Worker"]

logger = Logger(service="jobqueue")

# Message attributes that carry why a job died when the worker (not SQS redrive) sends it to the DLQ.
DEAD_LETTER_ATTRIBUTES = ("jobqueue-failed-reason", "jobqueue-attempts-made")
# A message that arrives this early is on time: SQS delays are whole seconds.
_EARLY_TOLERANCE_MS = 1000
PAUSED_DEFER_SECONDS = 5
"""How long a job delivered while its queue is paused waits before it is delivered again (SQS DelaySeconds).

Deployed, pausing also disables the queue's event source mapping, so few deliveries reach a paused worker;
locally (and in the window before the mapping stops) each waiting job comes back this often, counting no
attempt, until the queue is resumed.
"""


class RetryLater(JobQueueError):
    """Reported to Powertools so the record becomes a batch item failure and SQS delivers it again."""


@dataclass
class _Entry:
    """One record of the batch and what became of it."""

    raw: dict[str, Any]
    message: JobMessage | None = None
    error: str = ""
    attempt: int = 0
    receive_count: int = 0
    action: str = "run"  # run | skip | removed | exhausted | malformed | running | a deferral | a wait
    outcome: str = ""  # completed | retry | failed
    value: str = ""
    stacktrace: str = "[]"
    due_at: int = 0
    dead: bool = False  # leaves for the DLQ through the worker (not redrive)
    visibility: int | None = None
    defer_for: int = 0  # seconds a deferred copy waits (besides the job's own delay)


# Deliveries re-sent as copies that count no attempt: a delay hop, a paused queue, a priority yield, a rate
# limit or a busy queue that could not be waited for in the invocation, and a duplicate of a running job (its
# copy comes back after the lease, to find the job finished and be dropped, or stalled and run it; a receive
# that counted instead could exhaust the message and redrive it to the DLQ).
_DEFERRALS = ("defer", "paused", "yield", "limited", "busy", "running")
# Deliveries that wait in the invocation, asking moveToActive again, until they start or the budget runs out.
_WAITS = ("wait-limit", "wait-slot")
_REFUSED = {StartCode.PAUSED: "paused", StartCode.YIELD: "yield", StartCode.LIMITED: "wait-limit",
            StartCode.BUSY: "wait-slot", StartCode.RUNNING: "running"}


@dataclass
class _BatchRun:
    worker: Worker
    gates: Gates
    budget: WaitBudget
    entries: dict[str, _Entry] = field(default_factory=dict)
    retry_after_ms: int = 0
    holds_slot: bool = False

    # -- before: validate every record, start the batch in one Redis round trip -------------------------
    def start(self, records: list[dict[str, Any]]) -> None:
        now = self.worker.now_ms()
        for raw in records:
            entry = _Entry(raw=raw)
            self.entries[raw["messageId"]] = entry
            try:
                entry.message = parse_message(raw.get("body", ""))
                if entry.message.queue != self.worker.name:
                    raise MalformedMessageError(
                        f"job for queue {entry.message.queue!r} delivered to {self.worker.name!r}"
                    )
                entry.receive_count = int(raw.get("attributes", {}).get("ApproximateReceiveCount", "1"))
            except (MalformedMessageError, ValueError) as exc:
                entry.action, entry.error, entry.visibility = "malformed", str(exc), 0
                logger.error("malformed message", extra={"queue": self.worker.name,
                                                         "messageId": raw.get("messageId"), "error": str(exc)})
                continue
            message = entry.message
            entry.attempt = message.attempts_offset + entry.receive_count
            if message.due_at() > now + _EARLY_TOLERANCE_MS and entry.attempt == message.attempts_offset + 1:
                entry.action = "defer"
            elif entry.attempt > message.opts.attempts:
                entry.action, entry.outcome, entry.dead = "exhausted", "failed", True
                entry.value = f"attempts exhausted: delivery {entry.attempt} of {message.opts.attempts}"
        self._activate([e for e in self.entries.values() if e.action in ("run", "defer", "exhausted")])

    def _activate(self, entries: list[_Entry]) -> None:
        """Start the jobs to run; drop deliveries of removed or finished jobs; mark what must wait or defer."""
        if not entries:
            return
        scripts = self.worker.scripts
        starts = scripts.move_to_active([self._delivery(e) for e in entries], self.gates)
        codes, self.retry_after_ms = starts.codes, starts.retry_after_ms
        lost = [e for e, code in zip(entries, codes, strict=True) if code == StartCode.MISSING]
        if lost:
            scripts.restore_jobs([e.message for e in lost if e.message])
            logger.warning("restored lost job state", extra={"queue": self.worker.name,
                                                             "jobIds": [e.message.id for e in lost if e.message]})
            retried = scripts.move_to_active([self._delivery(e) for e in lost], self.gates)
            self.retry_after_ms = max(self.retry_after_ms, retried.retry_after_ms)
            codes = [retried.codes.pop(0) if code == StartCode.MISSING else code for code in codes]
        for entry, code in zip(entries, codes, strict=True):
            if code in (StartCode.STARTED, StartCode.STALLED):
                self.holds_slot = True
            if code == StartCode.FINISHED:
                entry.action, entry.outcome, entry.dead = "skip", "", False
            elif code == StartCode.STALLED:
                self.worker.log_event("stalled", entry)
            elif code == StartCode.REMOVED:
                entry.action, entry.outcome, entry.dead = "removed", "", False
                self.worker.log_event("dropped", entry)
            elif code in _REFUSED:
                entry.action = _REFUSED[code]
                if entry.action in ("yield", "running"):
                    entry.defer_for = defer_seconds(entry.action, self.gates.lease_ms)

    def _delivery(self, entry: _Entry) -> Delivery:
        message = entry.message
        assert message is not None
        if entry.action != "run":
            return Delivery(message.id, message.timestamp, entry.attempt, CHECK)
        may_yield = message.yields < MAX_YIELDS
        return Delivery(message.id, message.timestamp, entry.attempt, self._expected(entry),
                        message.opts.priority if may_yield else 0)

    def _wait_turn(self, entry: _Entry) -> None:
        """Wait in the invocation until `entry` may start, asking again for every waiting record at once (the
        ones granted too run next); when the budget runs out, the waiting records are deferred instead."""
        while entry.action in _WAITS:
            waiting = [e for e in self.entries.values() if e.action in _WAITS]
            limited = any(e.action == "wait-limit" for e in waiting)
            pause = self.retry_after_ms / 1000 if limited else BUSY_POLL_SECONDS
            if not self.budget.allows(pause):
                for other in waiting:
                    other.action = "limited" if other.action == "wait-limit" else "busy"
                    other.defer_for = defer_seconds(other.action, self.retry_after_ms)
                return
            time.sleep(pause)
            for other in waiting:
                other.action = "run"
            self._activate(waiting)

    @staticmethod
    def _expected(entry: _Entry) -> str:
        message = entry.message
        assert message is not None
        if entry.attempt > 1 or message.opts.delay > 0:
            return "delayed"
        return "prioritized" if message.opts.priority > 0 else "wait"

    # -- each record -----------------------------------------------------------------------------------
    def run(self, record: SQSRecord) -> None:
        entry = self.entries[record.message_id]
        if entry.action == "malformed":
            raise MalformedMessageError(entry.error)
        if entry.action in _WAITS:
            self._wait_turn(entry)
        if entry.action != "run" or entry.message is None:
            return
        message, worker = entry.message, self.worker
        job = Job(id=message.id, name=message.name, data=message.data, opts=message.opts, queue=worker.name,
                  timestamp=message.timestamp, attempt=entry.attempt, _scripts=worker.scripts)
        worker.log_event("active", entry)
        try:
            fn = worker.registry.lookup(worker.name, message.name)
            if fn is None:
                raise UnrecoverableError(f"no processor registered for queue {worker.name!r}, job {message.name!r}")
            entry.value = json.dumps(fn(job), default=str)
            entry.outcome = "completed"
            worker.log_event("completed", entry)
            return
        except Exception as exc:
            entry.value = str(exc) or type(exc).__name__
            entry.stacktrace = json.dumps(["".join(traceback.format_exception(exc))])
            unrecoverable = isinstance(exc, UnrecoverableError)
            asked_ms = exc.delay_ms if isinstance(exc, RetryAfterError) else 0
        if not unrecoverable and entry.attempt < message.opts.attempts:
            delay = max(backoff_delay_ms(message.opts.backoff, entry.attempt), asked_ms)
            entry.outcome, entry.visibility = "retry", visibility_seconds(delay)
            entry.due_at = worker.now_ms() + entry.visibility * 1000
            worker.log_event("retrying", entry)
            raise RetryLater(entry.value)
        entry.outcome = "failed"
        worker.log_event("failed", entry)
        if unrecoverable or entry.receive_count < worker.config.max_attempts:
            entry.dead = True
            return
        # The last attempt SQS allows: visible again at once, so the redrive policy moves it to the DLQ.
        entry.visibility = 0
        raise RetryLater(entry.value)

    # -- after: forward, record the outcomes in one Redis round trip, reschedule -------------------------
    def finish(self) -> set[str]:
        worker = self.worker
        redeliver = self._forward()
        finishes = [self._finish_of(e) for e in self.entries.values() if e.outcome and e.message]
        if finishes:
            now = worker.now_ms()
            token = self.gates.token if self.holds_slot else ""
            codes = worker.scripts.move_to_finished(finishes, now, token)
            lost = [f for f, code in zip(finishes, codes, strict=True) if code == StartCode.MISSING]
            if lost:
                ids = {f.job_id for f in lost}
                worker.scripts.restore_jobs([e.message for e in self.entries.values()
                                             if e.message and e.message.id in ids])
                worker.scripts.move_to_finished(lost, now, token)
        for lane, entries in _by_lane(worker, [e for e in self.entries.values() if e.visibility is not None]):
            worker.change_visibility(lane, [(e.raw["receiptHandle"], e.visibility) for e in entries])
        return redeliver

    def _finish_of(self, entry: _Entry) -> Finish:
        message = entry.message
        assert message is not None
        retention = message.opts.remove_on_complete if entry.outcome == "completed" else message.opts.remove_on_fail
        return Finish(
            job_id=message.id, outcome=entry.outcome, attempts_made=min(entry.attempt, message.opts.attempts),
            value=entry.value, stacktrace=entry.stacktrace, due_at=entry.due_at,
            keep_count=retention.count if retention else None,
            keep_age=retention.age if retention else None,
        )

    def _forward(self) -> set[str]:
        """Send deferred jobs back to their queue and dead jobs to the DLQ, 10 per call.

        A record whose forward fails is redelivered instead: nothing is deleted before its copy exists.
        """
        worker = self.worker
        failed: set[str] = set()
        deferred = [e for e in self.entries.values() if e.action in _DEFERRALS]
        dead = [e for e in self.entries.values() if e.dead]
        for lane, entries in _by_lane(worker, deferred):
            failed |= worker.send(lane, [(e.raw["messageId"], worker.deferred_entry(e)) for e in entries])
        failed |= worker.send(worker.config.dead_letter,
                              [(e.raw["messageId"], worker.dead_entry(e)) for e in dead])
        for entry in dead:
            if entry.raw["messageId"] in failed:
                # Try again on the next delivery, which will find its attempts exhausted.
                entry.outcome, entry.due_at, entry.visibility, entry.dead = "retry", worker.now_ms(), 0, False
        return failed


def _by_lane(worker: Worker, entries: list[_Entry]) -> list[tuple[str, list[_Entry]]]:
    """Entries grouped by the SQS queue (priority lane) their job travels in; unreadable ones by the default."""
    lanes: dict[str, list[_Entry]] = {}
    for entry in entries:
        priority = entry.message.opts.priority if entry.message else 0
        lanes.setdefault(worker.config.lane_for(priority).sqs_name, []).append(entry)
    return list(lanes.items())


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
    ) -> None:
        self.settings = settings or get_settings()
        self.catalog = catalog or default_catalog()
        self.config = self.catalog.queue(name)
        self.name = name
        self.registry = processors or registry
        self.registry.load(self.catalog.processors)
        self.scripts = Scripts(redis or redis_client(self.settings.redis_url),
                               QueueKeys(self.settings.prefix, name), self.settings.max_len_events)
        self.sqs = sqs or aws_client("sqs")
        self.urls = QueueUrls(self.sqs, self.settings.sqs_name_prefix)
        self.clock = clock
        limiter = self.config.effective_limiter()
        self._gate_settings = (self.config.effective_concurrency(), limiter.max if limiter else None,
                               limiter.duration if limiter else 0)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def handle(self, event: dict[str, Any], context: LambdaContext | None = None) -> PartialItemFailureResponse:
        """The worker Lambda's whole job: returns the partial batch response."""
        run = _BatchRun(self, gates_for(self.config, *self._gate_settings), WaitBudget.of(self.config.timeout, context))
        return run_batch(event, run, context)

    def log_event(self, event: str, entry: _Entry) -> None:
        message = entry.message
        assert message is not None
        logger.info(f"job {event}", extra={"event": event, "queue": self.name, "jobId": message.id,
                                            "jobName": message.name, "attempt": entry.attempt,
                                            "reason": entry.value if event in ("retrying", "failed") else None})

    def deferred_entry(self, entry: _Entry) -> dict[str, Any]:
        """A copy that arrives when the job is due (deferred by flow control: a little later); this delivery
        counts no attempt."""
        message = entry.message
        assert message is not None
        remaining = max(0, message.due_at() - self.now_ms())
        seconds = math.ceil(min(remaining, MAX_SQS_DELAY_MS) / 1000)
        if entry.action == "paused":
            seconds = max(seconds, PAUSED_DEFER_SECONDS)
        seconds = min(max(seconds, entry.defer_for), MAX_SQS_DELAY_MS // 1000)
        update: dict[str, Any] = {"attempts_offset": entry.attempt - 1}
        if entry.action == "yield":
            update["yields"] = message.yields + 1
        copy = message.model_copy(update=update)
        return {"MessageBody": copy.body(), "DelaySeconds": seconds}

    def dead_entry(self, entry: _Entry) -> dict[str, Any]:
        message = entry.message
        assert message is not None
        reason, attempts = DEAD_LETTER_ATTRIBUTES
        return {
            "MessageBody": message.body(),
            "MessageAttributes": {
                reason: {"DataType": "String", "StringValue": entry.value[:4096] or "failed"},
                attempts: {"DataType": "Number", "StringValue": str(min(entry.attempt, message.opts.attempts))},
            },
        }

    def send(self, queue: str, entries: list[tuple[str, dict[str, Any]]]) -> set[str]:
        """SendMessageBatch 10 at a time; returns the keys of the entries that were not sent."""
        failed: set[str] = set()
        for start in range(0, len(entries), 10):
            batch = entries[start:start + 10]
            try:
                response = self.sqs.send_message_batch(
                    QueueUrl=self.urls.url(queue),
                    Entries=[{"Id": str(i), **body} for i, (_, body) in enumerate(batch)],
                )
            except (BotoCoreError, ClientError) as exc:
                logger.error("send failed", extra={"queue": queue, "error": str(exc)})
                failed |= {key for key, _ in batch}
                continue
            failed |= {batch[int(f["Id"])][0] for f in response.get("Failed", [])}
        return failed

    def change_visibility(self, lane: str, changes: list[tuple[str, int | None]]) -> None:
        """Schedule redeliveries; a change that fails only delays the retry to the queue's timeout."""
        for start in range(0, len(changes), 10):
            batch = changes[start:start + 10]
            try:
                response = self.sqs.change_message_visibility_batch(
                    QueueUrl=self.urls.url(lane),
                    Entries=[{"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": seconds or 0}
                             for i, (handle, seconds) in enumerate(batch)],
                )
            except (BotoCoreError, ClientError) as exc:
                logger.warning("visibility change failed", extra={"queue": self.name, "error": str(exc)})
                continue
            for failure in response.get("Failed", []):
                logger.warning("visibility change failed", extra={"queue": self.name, "error": failure})
