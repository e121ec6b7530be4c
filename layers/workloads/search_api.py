"""Seed 004's `PUT /search/index/{entity}`: enqueue a backfill of one entity and answer `{"enqueued": true}`
at once. Mounted by including `router` in the API application (next to `jobqueue.api.routes.ROUTERS`); like
every management route it needs the service token."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel

from jobqueue.api.docs import responses
from workloads.processors.search import ENTITY

__all__ = ["Enqueued", "enqueue_backfill", "router"]

router = Router()  # type: ignore[no-untyped-call]


class Enqueued(BaseModel):
    """The seed's answer: the backfill job is durable and will run."""

    enqueued: bool


@router.put("/search/index/<entity>", tags=["search"], operation_id="enqueueSearchBackfill",
            summary="Re-index every document of an entity (seed 004)",
            # 404: a path segment the route cannot match (Powertools routes `<entity>` on word characters).
            responses=responses({200: ("the backfill job is durable and will run", Enqueued)}, 400, 401, 404, 503))
def enqueue_backfill(
    entity: Annotated[str, Path(pattern=ENTITY, description="entity name, e.g. `message`")],
) -> Enqueued:
    from jobqueue.api.services import services

    services().queue("search").add("backfill", {"entity": entity})
    return Enqueued(enqueued=True)
