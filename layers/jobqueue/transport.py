"""SQS calls in batches of ten, as every part of jobqueue sends: the one place that talks SendMessageBatch and
ChangeMessageVisibilityBatch, and reports per entry what did not go through."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from collections.abc import Hashable, Sequence

    from jobqueue.connection import QueueUrls

__all__ = ["SEND_THREADS", "SQS_BATCH", "SQS_BATCH_BYTES", "SqsTransport", "entry_bytes"]

logger = Logger(service="jobqueue")

SQS_BATCH = 10
"""Entries per SendMessageBatch / ChangeMessageVisibilityBatch call: SQS's limit."""
SQS_BATCH_BYTES = 256 * 1024
"""Most bytes of messages one SendMessageBatch may carry in all: 256 KiB, the limit LocalStack and SQS queues
created before 2025 keep (SQS now allows 1 MiB); ten large jobs would otherwise be refused as one batch."""
SEND_THREADS = 8
"""SendMessageBatch calls in flight at once for one send: a bulk add of 1,000 jobs is 100 calls, each mostly
waiting on the network."""
K = TypeVar("K", bound="Hashable")


class SqsTransport:
    """Batched sends and visibility changes on the queues `urls` resolves."""

    def __init__(self, sqs: Any, urls: QueueUrls) -> None:
        self.sqs = sqs
        self.urls = urls

    def send(self, queue: str, entries: Sequence[tuple[K, dict[str, Any]]], *,
             deadline: float | None = None) -> dict[K, str]:
        """Send `(key, SendMessageBatch entry without Id)` pairs, up to SEND_THREADS batches at once; returns the
        keys of those not sent, with why. A batch not started by `deadline` (`time.monotonic()`) is not sent."""
        batches = _batches(entries)
        if len(batches) <= 1:
            return self._send_batch(queue, batches[0], deadline) if batches else {}
        failed: dict[K, str] = {}
        with ThreadPoolExecutor(min(SEND_THREADS, len(batches))) as pool:
            for result in pool.map(lambda batch: self._send_batch(queue, batch, deadline), batches):
                failed.update(result)
        return failed

    def _send_batch(self, queue: str, batch: Sequence[tuple[K, dict[str, Any]]],
                    deadline: float | None) -> dict[K, str]:
        if deadline is not None and time.monotonic() >= deadline:
            return {key: "not sent: the call ran out of time" for key, _ in batch}
        try:
            response = self.sqs.send_message_batch(
                QueueUrl=self.urls.url(queue),
                Entries=[{"Id": str(i), **body} for i, (_, body) in enumerate(batch)],
            )
        except (BotoCoreError, ClientError) as exc:
            logger.error("send failed", extra={"queue": queue, "error": str(exc)})
            return {key: str(exc) for key, _ in batch}
        return {batch[int(f["Id"])][0]: f.get("Message", f.get("Code", "failed")) for f in response.get("Failed", [])}

    def change_visibility(self, queue: str, changes: Sequence[tuple[str, int]]) -> None:
        """Make received messages `(receipt handle, seconds)` visible again after their seconds; a change that
        fails only leaves the message to the queue's own visibility timeout."""
        for start in range(0, len(changes), SQS_BATCH):
            batch = changes[start:start + SQS_BATCH]
            try:
                response = self.sqs.change_message_visibility_batch(
                    QueueUrl=self.urls.url(queue),
                    Entries=[{"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                             for i, (handle, seconds) in enumerate(batch)],
                )
            except (BotoCoreError, ClientError) as exc:
                logger.warning("visibility change failed", extra={"queue": queue, "error": str(exc)})
                continue
            for failure in response.get("Failed", []):
                logger.warning("visibility change failed", extra={"queue": queue, "error": failure})


def entry_bytes(entry: dict[str, Any]) -> int:
    """An entry's size as SQS counts it: the body plus each message attribute's name, type and value."""
    size = len(entry["MessageBody"].encode())
    for name, attribute in entry.get("MessageAttributes", {}).items():
        value = attribute.get("StringValue") or attribute.get("BinaryValue") or ""
        size += len(name.encode()) + len(attribute["DataType"].encode()) + len(value)
    return size


def _batches(entries: Sequence[tuple[K, dict[str, Any]]]) -> list[Sequence[tuple[K, dict[str, Any]]]]:
    """Consecutive runs of at most SQS_BATCH entries and SQS_BATCH_BYTES bytes (an entry larger than that alone
    goes alone: SQS answers for it)."""
    batches: list[Sequence[tuple[K, dict[str, Any]]]] = []
    start, size = 0, 0
    for n, (_, entry) in enumerate(entries):
        grown = size + entry_bytes(entry)
        if n > start and (n - start == SQS_BATCH or grown > SQS_BATCH_BYTES):
            batches.append(entries[start:n])
            start, grown = n, entry_bytes(entry)
        size = grown
    if start < len(entries):
        batches.append(entries[start:])
    return batches
