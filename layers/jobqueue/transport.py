"""SQS calls in batches of ten, as every part of jobqueue sends: the one place that talks SendMessageBatch and
ChangeMessageVisibilityBatch, and reports per entry what did not go through."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from collections.abc import Hashable, Sequence

    from jobqueue.connection import QueueUrls

__all__ = ["SQS_BATCH", "SqsTransport"]

logger = Logger(service="jobqueue")

SQS_BATCH = 10
"""Entries per SendMessageBatch / ChangeMessageVisibilityBatch call: SQS's limit."""
K = TypeVar("K", bound="Hashable")


class SqsTransport:
    """Batched sends and visibility changes on the queues `urls` resolves."""

    def __init__(self, sqs: Any, urls: QueueUrls) -> None:
        self.sqs = sqs
        self.urls = urls

    def send(self, queue: str, entries: Sequence[tuple[K, dict[str, Any]]]) -> dict[K, str]:
        """Send `(key, SendMessageBatch entry without Id)` pairs; returns the keys of those not sent, with why."""
        failed: dict[K, str] = {}
        for start in range(0, len(entries), SQS_BATCH):
            batch = entries[start:start + SQS_BATCH]
            try:
                response = self.sqs.send_message_batch(
                    QueueUrl=self.urls.url(queue),
                    Entries=[{"Id": str(i), **body} for i, (_, body) in enumerate(batch)],
                )
            except (BotoCoreError, ClientError) as exc:
                logger.error("send failed", extra={"queue": queue, "error": str(exc)})
                failed.update({key: str(exc) for key, _ in batch})
                continue
            failed.update({batch[int(f["Id"])][0]: f.get("Message", f.get("Code", "failed"))
                           for f in response.get("Failed", [])})
        return failed

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
