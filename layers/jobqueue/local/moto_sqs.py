"""moto's SQS for the embedded endpoint: no cost per message of reading queue attributes, and atomic deletes.

moto computes every attribute of a queue, ApproximateNumberOfMessages and its two siblings included (each a scan
of every message the queue holds), whenever it reads one: once per message sent (ContentBasedDeduplication) and
several times per message received (MessageRetentionPeriod). A bulk add into a queue that holds n messages so
costs n scans per message: 1,000 jobs took over 15 s. Here the attributes are computed once per SendMessage,
SendMessageBatch or ReceiveMessage call instead (per thread; what those calls read does not change during one),
so what the emulator answers is unchanged and only its cost falls.

moto accepts a MessageGroupId on a standard queue and keeps it, but delivers as if it were absent. SQS makes
such a queue a fair queue (`fair_queues`): a tenant (a MessageGroupId; each message without one is a tenant of
its own) that holds a disproportionate share of the queue's in-flight messages is a noisy neighbour, and while
messages of quiet tenants are available, receives return those first. The emulation applies the published
concurrency-share rule to the order in which a ReceiveMessage call considers visible messages.

moto's DeleteMessage rebuilds the queue's message list without the lock its sends hold, so a message sent while
another is deleted can vanish; SQS loses none. A delete now holds that lock too.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["NOISY_MIN_IN_FLIGHT", "NOISY_SHARE", "atomic_deletes", "attributes_once_per_call", "fair_order",
           "fair_queues"]

NOISY_SHARE = 0.10
"""A tenant holding more than this share of a queue's in-flight messages (and NOISY_MIN_IN_FLIGHT of its own) is a
noisy neighbour (SQS developer guide, "How Amazon SQS fair queues work": concurrency share)."""
NOISY_MIN_IN_FLIGHT = 30

_CALLS = ("send_message", "send_message_batch", "receive_message")


def attributes_once_per_call() -> None:
    """Patch moto's SQS models (idempotent): queue attributes read inside one send or receive call are computed
    once for that call."""
    from moto.sqs.models import Queue, SQSBackend

    compute: Callable[[Any], dict[str, Any]] = Queue.attributes.fget  # type: ignore[attr-defined]
    if getattr(compute, "once_per_call", False):
        return
    calls = threading.local()

    def attributes(queue: Any) -> dict[str, Any]:
        cache: dict[int, tuple[Any, dict[str, Any]]] | None = getattr(calls, "cache", None)
        if cache is None:
            return compute(queue)
        if id(queue) not in cache:
            cache[id(queue)] = (queue, compute(queue))  # the queue is held so its id is not reused meanwhile
        return cache[id(queue)][1]

    attributes.once_per_call = True  # type: ignore[attr-defined]
    Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]

    def one_call(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(calls, "cache", None) is not None:  # a call made by another (send_message_batch)
                return method(self, *args, **kwargs)
            calls.cache = {}
            try:
                return method(self, *args, **kwargs)
            finally:
                calls.cache = None

        return call

    for name in _CALLS:
        setattr(SQSBackend, name, one_call(getattr(SQSBackend, name)))


def atomic_deletes() -> None:
    """Patch moto's SQS queues (idempotent): deleting a message holds the lock that sends and receives hold."""
    from moto.sqs.models import Queue

    delete: Callable[..., None] = Queue.delete_message
    if getattr(delete, "atomic", False):
        return

    @functools.wraps(delete)
    def delete_message(queue: Any, receipt_handle: str) -> None:
        with queue._messages_lock:
            delete(queue, receipt_handle)

    delete_message.atomic = True  # type: ignore[attr-defined]
    Queue.delete_message = delete_message  # type: ignore[method-assign,assignment]


def fair_order(visible: list[Any], in_flight: list[Any]) -> list[Any]:
    """`visible` messages in the order a fair queue delivers them, given the queue's `in_flight` messages.

    Quiet tenants' messages come first, in their own order; then the noisy tenants', the tenant with the fewest
    in-flight messages first (as SQS does when several tenants are noisy). Not emulated: the processing-time
    share, SQS's second measure (a tenant whose messages take long to process); and the 5 minutes after which a
    tenant that sends nothing is quiet again (here it is quiet as soon as its share falls).
    """
    counts: dict[str, int] = {}
    for message in in_flight:
        if message.group_id is not None:
            counts[message.group_id] = counts.get(message.group_id, 0) + 1
    total = len(in_flight)
    noisy = {tenant: n for tenant, n in counts.items() if n >= NOISY_MIN_IN_FLIGHT and n > NOISY_SHARE * total}
    if not noisy:
        return visible
    quiet = [m for m in visible if m.group_id not in noisy]
    loud = sorted((m for m in visible if m.group_id in noisy), key=lambda m: noisy[m.group_id])  # stable
    return quiet + loud


def fair_queues() -> None:
    """Patch moto's SQS (idempotent): a standard queue's receives deliver as a fair queue does (`fair_order`);
    FIFO queues keep moto's own order (SQS's fairness is for standard queues)."""
    from moto.sqs.models import Queue, SQSBackend

    visible_messages: Callable[[Any], list[Any]] = Queue.messages.fget  # type: ignore[attr-defined]
    if getattr(visible_messages, "fair", False):
        return
    receiving = threading.local()

    def messages(queue: Any) -> list[Any]:
        visible = visible_messages(queue)
        if not getattr(receiving, "active", False) or queue.fifo_queue or not visible:
            return visible
        return fair_order(visible, [m for m in queue._messages if not m.visible])

    messages.fair = True  # type: ignore[attr-defined]
    Queue.messages = property(messages)  # type: ignore[assignment,method-assign]
    receive: Callable[..., Any] = SQSBackend.receive_message

    @functools.wraps(receive)
    def receive_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        receiving.active = True
        try:
            return receive(self, *args, **kwargs)
        finally:
            receiving.active = False

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
