"""moto's SQS for the embedded endpoint: no cost per message of reading queue attributes, and atomic deletes.

moto computes every attribute of a queue, ApproximateNumberOfMessages and its two siblings included (each a scan
of every message the queue holds), whenever it reads one: once per message sent (ContentBasedDeduplication) and
several times per message received (MessageRetentionPeriod). A bulk add into a queue that holds n messages so
costs n scans per message: 1,000 jobs took over 15 s. Here the attributes are computed once per SendMessage,
SendMessageBatch or ReceiveMessage call instead (per thread; what those calls read does not change during one),
so what the emulator answers is unchanged and only its cost falls.

moto's DeleteMessage rebuilds the queue's message list without the lock its sends hold, so a message sent while
another is deleted can vanish; SQS loses none. A delete now holds that lock too.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["atomic_deletes", "attributes_once_per_call"]

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
