"""A typed constructor for Powertools' Router (its own __init__ carries no annotations), the methods a path
answers (for 405s), and the time a request may spend on long work."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler.api_gateway import Router

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

__all__ = ["ANSWER_MARGIN_S", "BatchProgress", "Router", "allowed_methods", "invocation_deadline", "new_router"]

ANSWER_MARGIN_S = 3.0
"""Time long work (a bulk add, a redrive) leaves at the end of the invocation to roll back and answer."""


def new_router() -> Router:
    """A Router for one concern's routes; `jobqueue.api.app` includes it."""
    return Router()  # type: ignore[no-untyped-call]


def allowed_methods(app: APIGatewayRestResolver, path: str) -> list[str]:
    """The methods some route of `app` answers on `path`: a request with another method there is a 405, not a 404.

    Powertools' resolver only knows "no route for this method and path"; its routes (`_static_routes`,
    `_dynamic_routes`) keep the compiled rule and the method, which is all this needs.
    """
    routes = [*app._static_routes, *app._dynamic_routes]
    return sorted({route.method for route in routes if route.rule.match(path)})


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
