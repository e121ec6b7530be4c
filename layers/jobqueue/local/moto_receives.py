"""moto's SQS ReceiveMessage, announced: the patches that act on a receive register a callback here instead of each
wrapping `SQSBackend.receive_message` and `Message.mark_received` again.

`on_received(callback)` calls `callback(queue, message)` after a receive marks each message of `queue` received (the
message holds the receipt handle this receive gives out); `receiving()` names the queue this thread receives from.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Received", "on_received", "receiving"]

Received = Callable[[Any, Any], None]
"""A callback for a message a receive marked received: (moto's Queue, its Message)."""

_callbacks: list[Received] = []
_thread = threading.local()


def receiving() -> Any | None:
    """moto's Queue whose ReceiveMessage this thread is running; None outside a receive."""
    queue: Any | None = getattr(_thread, "queue", None)
    return queue


def on_received(callback: Received) -> None:
    """Call `callback(queue, message)` after each message a receive marks received, in the order callbacks were
    registered (a callback registered twice is called once). Patches moto's SQS the first time."""
    if not _callbacks:
        _patch()
    if callback not in _callbacks:
        _callbacks.append(callback)


def _patch() -> None:
    """Wrap moto's receive (to know its queue) and mark_received (to call the callbacks)."""
    from moto.sqs.models import Message, SQSBackend

    receive: Callable[..., Any] = SQSBackend.receive_message

    @functools.wraps(receive)
    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        outer = receiving()  # a receive moto makes inside another (an event source mapping fed by a send)
        _thread.queue = self.get_queue(queue_name)
        try:
            return receive(self, queue_name, *args, **kwargs)
        finally:
            _thread.queue = outer

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]

    mark_received: Callable[..., None] = Message.mark_received

    @functools.wraps(mark_received)
    def received(message: Any, *args: Any, **kwargs: Any) -> None:
        mark_received(message, *args, **kwargs)
        queue = receiving()
        if queue is not None:
            for callback in _callbacks:
                callback(queue, message)

    Message.mark_received = received  # type: ignore[method-assign,assignment]
