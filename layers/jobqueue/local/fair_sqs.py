"""SQS fair queues in the embedded moto: a standard queue whose messages carry a MessageGroupId delivers the
messages of quiet tenants before those of a noisy neighbour, as SQS does (announced July 2025).

What SQS does (developer guide, "How Amazon SQS fair queues work"): a tenant is a MessageGroupId, and each
message without one is a tenant of its own. A tenant is a noisy neighbour when it holds more than 10% of the
queue's in-flight messages and at least 30 of its own (concurrency share), or more than 10% of the consumers'
recent processing time (processing-time share). While a noisy neighbour exists, consumers receive quiet tenants'
messages whenever some are available, then the noisy tenants', the one with the fewest in-flight messages first.
Nothing is dropped or throttled; FIFO queues are unaffected.

What moto does: it stores a MessageGroupId on a standard queue's message and otherwise ignores it. What this
module adds: each ReceiveMessage considers the visible messages in `fair_order`. In-flight messages are the
received ones that are neither deleted nor visible again; a tenant's processing time is, for each message of it
deleted in the last PROCESSING_WINDOW_MS, the time from its last receive to its delete. SQS's thresholds are
approximate and its window unpublished; here both are exact, and a tenant is quiet again as soon as its shares
fall (SQS also waits for its backlog to drain or 5 minutes without sends).
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from jobqueue.local.moto_receives import on_received, receiving
from jobqueue.local.moto_sqs import message_of

__all__ = ["NOISY_MIN_IN_FLIGHT", "NOISY_SHARE", "PROCESSING_WINDOW_MS", "fair_order", "fair_queues"]

NOISY_SHARE = 0.10
"""The share of in-flight messages or of processing time beyond which a tenant is a noisy neighbour."""
NOISY_MIN_IN_FLIGHT = 30
"""In-flight messages a tenant must hold for its concurrency share to make it noisy."""
PROCESSING_WINDOW_MS = 60_000
"""How far back a tenant's processing time counts."""


def _now_ms() -> float:
    return time.time() * 1000


def fair_order(visible: list[Any], in_flight: list[Any], processing: dict[str, float]) -> list[Any]:
    """`visible` messages in the order a fair queue delivers them, given the queue's `in_flight` messages and its
    tenants' recent `processing` time (ms): quiet tenants' messages first, in the queue's order; then the noisy
    tenants', the one with the fewest in-flight messages first."""
    counts: dict[str, int] = {}
    for message in in_flight:
        if message.group_id is not None:
            counts[message.group_id] = counts.get(message.group_id, 0) + 1
    total_in_flight, total_processing = len(in_flight), sum(processing.values())
    noisy = {tenant for tenant, n in counts.items() if n >= NOISY_MIN_IN_FLIGHT and n > NOISY_SHARE * total_in_flight}
    noisy |= {tenant for tenant, ms in processing.items() if ms > NOISY_SHARE * total_processing}
    if not noisy:
        return visible
    quiet = [m for m in visible if m.group_id not in noisy]
    loud = sorted((m for m in visible if m.group_id in noisy), key=lambda m: counts.get(m.group_id, 0))  # stable
    return quiet + loud


class _Processing:
    """A queue's recent processing time per tenant: (deleted at, tenant, ms) of its deleted messages."""

    def __init__(self) -> None:
        self.entries: deque[tuple[float, str, float]] = deque()
        self.lock = threading.Lock()

    def add(self, tenant: str, ms: float) -> None:
        with self.lock:
            self.entries.append((_now_ms(), tenant, ms))

    def by_tenant(self) -> dict[str, float]:
        cutoff = _now_ms() - PROCESSING_WINDOW_MS
        totals: dict[str, float] = {}
        with self.lock:
            while self.entries and self.entries[0][0] < cutoff:
                self.entries.popleft()
            for _, tenant, ms in self.entries:
                totals[tenant] = totals.get(tenant, 0.0) + ms
        return totals


def _processing(queue: Any) -> _Processing:
    tracker: _Processing | None = queue.__dict__.get("_jobqueue_processing")
    if tracker is None:
        tracker = queue.__dict__.setdefault("_jobqueue_processing", _Processing())
    return tracker


def _stamp(queue: Any, message: Any) -> None:
    """Note when a receive took `message` of `queue` (its processing time runs from there to its delete)."""
    message.jobqueue_received_ms = _now_ms()


def fair_queues() -> None:
    """Patch moto's SQS (idempotent): standard queues deliver as fair queues do. Apply after
    `jobqueue.local.moto_sqs.atomic_deletes`, whose index finds a deleted message."""
    from moto.sqs.models import Queue

    visible_messages: Callable[[Any], list[Any]] = Queue.messages.fget  # type: ignore[attr-defined]
    if getattr(visible_messages, "fair", False):
        return

    def messages(queue: Any) -> list[Any]:
        visible = visible_messages(queue)
        if receiving() is None or queue.fifo_queue or not visible:
            return visible
        return fair_order(visible, [m for m in queue._messages if not m.visible], _processing(queue).by_tenant())

    messages.fair = True  # type: ignore[attr-defined]
    Queue.messages = property(messages)  # type: ignore[assignment,method-assign]
    on_received(_stamp)

    delete: Callable[..., None] = Queue.delete_message

    @functools.wraps(delete)
    def delete_message(queue: Any, receipt_handle: str) -> None:
        message = message_of(queue, receipt_handle)
        delete(queue, receipt_handle)
        if message is not None and message.group_id is not None and not queue.fifo_queue:
            received_ms = getattr(message, "jobqueue_received_ms", None)
            if received_ms is not None:
                _processing(queue).add(message.group_id, _now_ms() - received_ms)

    Queue.delete_message = delete_message  # type: ignore[method-assign,assignment]
