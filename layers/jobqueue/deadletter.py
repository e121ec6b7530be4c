"""The dead-letter handler: what happens to a job after its last attempt (or an unrecoverable error).

For each dead job it archives the message (S3, when a bucket is configured), records
`{originalJobId, queue, name, data, error, attemptsMade, failedAt}` as a job named "<queue>_failed" waiting
in the dead-letter queue's BullMQ keys, leaves the original job failed in its own queue, and runs the source
queue's `on_dead` hook (seed 000: the lead becomes PERMANENTLY_FAILED). A message of a job that completed (a
stray copy) gets no record and no hook. SQS delivers at least once, so a hook may see the same dead job twice:
hooks are idempotent (setting a status is).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from jobqueue.catalog import Catalog, default_catalog
from jobqueue.connection import aws_client, redis_for
from jobqueue.errors import UnknownQueueError
from jobqueue.job import DEAD_LETTER_ATTRIBUTES, DeadLetter, JobMessage, parse_message
from jobqueue.registry import import_callable
from jobqueue.scripts import DeadRecord, Scripts
from jobqueue.settings import Settings, get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from redis import Redis

__all__ = ["DeadLetter", "DeadLetterHandler", "record_dead_jobs"]

logger = Logger(service="jobqueue")


def record_dead_jobs(source_scripts: Callable[[str], Scripts], dead_letter: Scripts, dead: Sequence[DeadRecord],
                     timestamp: int, keep_ms: int) -> list[str]:
    """Fail dead jobs in their queues, then record them in the dead-letter queue; each one's record id, or "" for
    a job that completed (a stray copy of its message: no record).

    Two steps because a script touches one queue (one hash slot in a Redis Cluster): one failDeadJobs call per
    source queue, then one recordDeadLetters call. Both are idempotent, and the batch's SQS messages are deleted
    only after both, so a crash between them is undone by SQS delivering the batch again.
    """
    by_queue: dict[str, list[int]] = {}
    for n, record in enumerate(dead):
        by_queue.setdefault(record.message.queue, []).append(n)
    keep = [False] * len(dead)
    for queue, positions in by_queue.items():
        flags = source_scripts(queue).fail_dead_jobs([dead[n] for n in positions], timestamp)
        for n, flag in zip(positions, flags, strict=True):
            keep[n] = flag
    kept = iter(dead_letter.record_dead_letters([r for r, k in zip(dead, keep, strict=True) if k], timestamp,
                                                keep_ms))
    return [next(kept) if k else "" for k in keep]


@dataclass
class _DeadBatch:
    handler: DeadLetterHandler
    letters: dict[str, DeadLetter] = field(default_factory=dict)

    def run(self, records: list[dict[str, Any]]) -> PartialItemFailureResponse:
        """Record the whole batch in one round trip, then run each job's hook; a hook that raises makes its
        record a batch item failure (delivered again)."""
        self.record(records)
        failed: list[str] = []
        for message_id, letter in self.letters.items():
            try:
                self.hook(letter)
            except Exception:
                logger.exception("on_dead hook failed", extra={"queue": letter.queue, "jobId": letter.originalJobId})
                failed.append(message_id)
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

    def record(self, records: list[dict[str, Any]]) -> None:
        handler = self.handler
        parsed: dict[str, JobMessage] = {}
        for raw in records:
            try:
                message = parse_message(raw.get("body", ""))
                handler.catalog.queue(message.queue)
                parsed[raw["messageId"]] = message
            except Exception as exc:
                # Archived and logged; retrying cannot make it a job.
                handler.archive(f"malformed/{raw['messageId']}.json", json.dumps(raw))
                logger.error("malformed dead letter", extra={"dlq": handler.name,
                                                             "messageId": raw.get("messageId"), "error": str(exc)})
        reasons = handler.failure_reasons([(raw, parsed[raw["messageId"]]) for raw in records
                                           if raw["messageId"] in parsed])
        failed_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        letters: dict[str, DeadLetter] = {}
        dead: list[DeadRecord] = []
        for message_id, message in parsed.items():
            error, attempts = reasons[message_id]
            letter = DeadLetter(originalJobId=message.id, queue=message.queue, name=message.name,
                                data=message.data, error=error, attemptsMade=attempts, failedAt=failed_at)
            letters[message_id] = letter
            dead.append(DeadRecord(message, error, attempts, letter.to_json()))
        if not dead:
            return
        retention_ms = handler.catalog.dead_letters[handler.name].retention_days * 86_400_000
        recorded = record_dead_jobs(handler.source_scripts, handler.scripts, dead, handler.now_ms(), retention_ms)
        for (message_id, letter), record_id in zip(letters.items(), recorded, strict=True):
            if not record_id:
                logger.warning("dead letter of a completed job dropped", extra={"queue": letter.queue,
                                                                               "jobId": letter.originalJobId})
                continue
            handler.archive(f"{letter.queue}/{letter.originalJobId}.json", letter.to_json())
            self.letters[message_id] = letter

    def hook(self, letter: DeadLetter) -> None:
        logger.info("job dead", extra={"event": "dead", "dlq": self.handler.name, "queue": letter.queue,
                                       "jobId": letter.originalJobId, "jobName": letter.name,
                                       "error": letter.error, "attemptsMade": letter.attemptsMade})
        hook = self.handler.hook(letter.queue)
        if hook:
            hook(letter)


class DeadLetterHandler:
    """Handles the SQS batches of one dead-letter queue (the dead-letter Lambda)."""

    def __init__(
        self,
        name: str,
        *,
        catalog: Catalog | None = None,
        settings: Settings | None = None,
        redis: Redis | None = None,
        s3: Any = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.catalog = catalog or default_catalog()
        if name not in self.catalog.dead_letters:
            raise UnknownQueueError(name, list(self.catalog.dead_letters))
        self.name = name
        self.redis = redis or redis_for(self.settings)
        self.scripts = Scripts(self.redis, self.settings.queue_keys(name), self.settings.max_len_events)
        self._sources: dict[str, Scripts] = {}
        self._s3 = s3
        self._hooks: dict[str, Callable[[DeadLetter], Any] | None] = {}

    def handle(self, event: dict[str, Any], context: LambdaContext | None = None) -> PartialItemFailureResponse:
        return _DeadBatch(self).run(event.get("Records") or [])

    def source_scripts(self, queue: str) -> Scripts:
        """The scripts of a source queue, whose dead jobs this dead-letter queue records."""
        if queue not in self._sources:
            self._sources[queue] = Scripts(self.redis, self.settings.queue_keys(queue), self.settings.max_len_events)
        return self._sources[queue]

    @staticmethod
    def now_ms() -> int:
        return int(datetime.now(UTC).timestamp() * 1000)

    def hook(self, queue: str) -> Callable[[DeadLetter], Any] | None:
        if queue not in self._hooks:
            path = self.catalog.queue(queue).on_dead
            self._hooks[queue] = import_callable(path) if path else None
        return self._hooks[queue]

    def failure_reasons(self, items: list[tuple[dict[str, Any], JobMessage]]) -> dict[str, tuple[str, int]]:
        """Why and after how many attempts each job died.

        A job the worker forwarded carries both in message attributes; one moved by SQS redrive does not, and
        its last failure is read from Redis (one pipelined round trip for the batch).
        """
        reason_attr, attempts_attr = DEAD_LETTER_ATTRIBUTES
        found: dict[str, tuple[str, int]] = {}
        missing: list[tuple[str, JobMessage]] = []
        for raw, message in items:
            attributes = raw.get("messageAttributes") or {}
            if reason_attr in attributes:
                found[raw["messageId"]] = (attributes[reason_attr]["stringValue"],
                                           int(attributes[attempts_attr]["stringValue"]))
            else:
                missing.append((raw["messageId"], message))
        if missing:
            pipe = self.redis.pipeline(transaction=False)
            for _, message in missing:
                pipe.hmget(self.settings.queue_keys(message.queue).job(message.id), "failedReason", "atm")
            for (message_id, message), (reason, attempts) in zip(missing, pipe.execute(), strict=True):
                found[message_id] = (reason or "delivered more often than its queue's maxReceiveCount allows",
                                     int(attempts) if attempts else message.attempts_offset)
        return found

    def archive(self, key: str, body: str) -> None:
        """Keep a durable copy beside Redis, so that a dead job survives a Redis flush."""
        bucket = self.settings.archive_bucket
        if not bucket:
            return
        s3 = self._s3 or aws_client("s3")
        s3.put_object(Bucket=bucket, Key=f"dead-letters/{self.name}/{key}", Body=body.encode(),
                      ContentType="application/json")
