"""A typed constructor for Powertools' Router (its own __init__ carries no annotations), and the time a request
may spend on long work."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aws_lambda_powertools.event_handler.api_gateway import Router

__all__ = ["ANSWER_MARGIN_S", "BatchProgress", "Router", "invocation_deadline", "new_router"]

ANSWER_MARGIN_S = 3.0
"""Time long work (a bulk add, a redrive) leaves at the end of the invocation to roll back and answer."""


def new_router() -> Router:
    """A Router for one concern's routes; `jobqueue.api.app` includes it."""
    return Router()  # type: ignore[no-untyped-call]


def invocation_deadline(router: Router) -> float | None:
    """When long work in this request must stop (`time.monotonic()`): the invocation's end less ANSWER_MARGIN_S,
    so the API answers with what it did instead of a 502 from a timeout. None outside a Lambda invocation."""
    context = getattr(router, "lambda_context", None)
    if context is None:
        return None
    remaining_ms: int = context.get_remaining_time_in_millis()
    return time.monotonic() + remaining_ms / 1000 - ANSWER_MARGIN_S


@dataclass
class BatchProgress:
    """How far a batched admin action got (its `on_progress(done, total)`): what a deadline left for next time."""

    done: int = 0
    total: int = 0

    def seen(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    @property
    def remaining(self) -> int:
        return self.total - self.done
