"""A typed constructor for Powertools' Router (its own __init__ carries no annotations)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

__all__ = ["Router", "new_router"]


def new_router() -> Router:
    """A Router for one concern's routes; `jobqueue.api.app` includes it."""
    return Router()  # type: ignore[no-untyped-call]
