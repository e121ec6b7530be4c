"""moto's SQS for the embedded endpoint: no cost per message that grows with the queue, and atomic deletes.

moto computes every attribute of a queue, ApproximateNumberOfMessages and its two siblings included (each a scan
of every message the queue holds), whenever it reads one: once per message sent (ContentBasedDeduplication) and
several times per message received (MessageRetentionPeriod). A bulk add into a queue that holds n messages so
costs n scans per message: 1,000 jobs took over 15 s. Here the attributes are computed once per SendMessage,
SendMessageBatch or ReceiveMessage call instead (per thread; what those calls read does not change during one),
so what the emulator answers is unchanged and only its cost falls.

moto's DeleteMessage finds its message by two scans of the whole queue, each building every message's list of
receipt handles: deleting what a poller received from a backlog of n cost n of those per message. Each handle a
receive gives out is now indexed, so a delete finds its message at once; a handle leaves the index with its
message, however moto removes it (so a message past its retention period, which moto kept, leaves its queue as
SQS deletes it). moto rebuilt the message list without the lock its sends hold, so a message sent while another
was deleted could vanish (SQS loses none); a delete now holds that lock too.

moto reads the clock through datetime arithmetic, twice per message a receive looks at (visible, not delayed):
it now reads the same clock (seconds since the epoch) without building datetimes.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jobqueue.local.moto_receives import on_received, receiving

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["atomic_deletes", "attributes_once_per_call", "epoch_clock", "message_of"]

_CALLS = ("send_message", "send_message_batch", "receive_message")
_HANDLES = "_jobqueue_handles"


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


def message_of(queue: Any, receipt_handle: str) -> Any | None:
    """The message of moto's `queue` that a receive handed out with `receipt_handle` (its latest or an earlier
    one) and that the queue still holds; None if there is none. Needs `atomic_deletes()`."""
    return queue.__dict__.get(_HANDLES, {}).get(receipt_handle)


def _index(queue: Any, message: Any) -> None:
    """Index the receipt handle a receive just gave `message` of `queue`."""
    queue.__dict__.setdefault(_HANDLES, {})[message.receipt_handle] = message


def _forget(queue: Any, message: Any) -> None:
    """Drop the receipt handles of `message`, which leaves `queue`, from the queue's index."""
    handles = queue.__dict__.get(_HANDLES)
    if handles:
        for handle in message.all_receipt_handles:
            handles.pop(handle, None)


def _remove(queue: Any, message: Any) -> None:
    """Take `message` out of `queue` as moto's delete does: its handles answer a delete with success from now on."""
    with queue._messages_lock:
        _forget(queue, message)
        queue.pending_messages.discard(message)
        queue.deleted_messages.update(message.all_receipt_handles)
        queue._messages = [m for m in queue._messages if m is not message]  # a new list, as moto's delete


def atomic_deletes() -> None:
    """Patch moto's SQS (idempotent): every receipt handle a receive gives out is indexed by its queue, and
    deleting a message finds it there, holding the lock that sends and receives hold.

    The index holds the handles of the messages its queue holds, no more: they leave it where moto removes a
    message (a delete, a redrive to the dead-letter queue, a purge) and when the queue is deleted (moto keeps
    every queue it ever made). A message past its retention period, which moto kept (handing it a new, unreturned
    handle at each receive), now leaves its queue when a receive finds it, as SQS deletes it; its handles still
    answer a delete with success, as moto's did.
    """
    from moto.sqs.exceptions import ReceiptHandleIsInvalid
    from moto.sqs.models import Queue, SQSBackend

    if getattr(Queue.delete_message, "atomic", False):
        return
    on_received(_index)

    def delete_message(queue: Any, receipt_handle: str) -> None:
        """moto's Queue.delete_message, its message found by the index instead of by scans."""
        with queue._messages_lock:
            if receipt_handle in queue.deleted_messages:
                return  # deleted already: SQS answers success
            message = message_of(queue, receipt_handle)
            if message is None:
                raise ReceiptHandleIsInvalid()
            _remove(queue, message)

    delete_message.atomic = True  # type: ignore[attr-defined]
    Queue.delete_message = delete_message  # type: ignore[method-assign,assignment]

    add: Callable[[Any, Any], None] = Queue.add_message

    @functools.wraps(add)
    def add_message(queue: Any, message: Any) -> None:
        if message.receipt_handle is not None:  # received before: a redrive moves it from the queue receiving it
            source = receiving()
            if source is not None:
                _forget(source, message)
        add(queue, message)

    Queue.add_message = add_message  # type: ignore[method-assign,assignment]

    def emptying(method: Callable[[Any, str], None]) -> Callable[[Any, str], None]:
        """`method` (a purge, a queue deletion), then the queue's index emptied, both under the queue's lock."""

        @functools.wraps(method)
        def call(backend: Any, queue_name: str) -> None:
            queue = backend.get_queue(queue_name)
            with queue._messages_lock:  # so no receive indexes a message meanwhile
                method(backend, queue_name)
                queue.__dict__.pop(_HANDLES, None)

        return call

    SQSBackend.purge_queue = emptying(SQSBackend.purge_queue)  # type: ignore[method-assign,assignment]
    SQSBackend.delete_queue = emptying(SQSBackend.delete_queue)  # type: ignore[method-assign,assignment]

    retained: Callable[[Any, str, Any], bool] = SQSBackend.is_message_valid_based_on_retention_period

    @functools.wraps(retained)
    def expiring(backend: Any, queue_name: str, message: Any) -> bool:
        if retained(backend, queue_name, message):
            return True
        _remove(backend.get_queue(queue_name), message)
        return False

    SQSBackend.is_message_valid_based_on_retention_period = expiring  # type: ignore[method-assign,assignment]


def epoch_clock() -> None:
    """Patch moto's SQS models (idempotent): their clock reads (seconds and milliseconds since the epoch, now)
    call time.time() instead of subtracting datetimes; the values are the same. A given datetime still goes to
    moto's own conversion."""
    from moto.sqs import models

    seconds: Callable[[datetime | None], float] = models.unix_time  # type: ignore[attr-defined]
    if getattr(seconds, "epoch_clock", False):
        return

    def unix_time(dt: datetime | None = None) -> float:
        return time.time() if dt is None else seconds(dt)

    def unix_time_millis(dt: datetime | None = None) -> float:
        return unix_time(dt) * 1000.0

    unix_time.epoch_clock = True  # type: ignore[attr-defined]
    models.unix_time = unix_time  # type: ignore[attr-defined]
    models.unix_time_millis = unix_time_millis  # type: ignore[attr-defined]
