"""Seed 004's search worker: `index_doc` for one entity event, `backfill` of a whole entity in pages."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from jobqueue.registry import processor
from workloads.clients.search import EntitySource, SearchEngine
from workloads.jobdata import parse

if TYPE_CHECKING:
    from jobqueue.job import Job

__all__ = ["ENTITY", "backfill", "index_doc", "index_name"]

ENTITY = r"^[a-z][a-z0-9_-]{0,63}$"
Entity = Annotated[str, Field(pattern=ENTITY)]


def index_name(entity: str) -> str:
    """One index per entity, under SEARCH_INDEX_PREFIX (default none)."""
    return f"{os.environ.get('SEARCH_INDEX_PREFIX', '')}{entity}"


class IndexDoc(BaseModel):
    """A domain event's entity: `{entity, id, doc}` (the outbox row carries the document)."""

    model_config = ConfigDict(extra="ignore")

    entity: Entity
    id: str = Field(min_length=1, max_length=512)
    doc: dict[str, Any]


class Backfill(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    entity: Entity
    page_size: int = Field(500, alias="pageSize", ge=1, le=5000)


@processor("search", "index_doc")
def index_doc(job: Job) -> dict[str, str]:
    event = parse(job, IndexDoc)
    SearchEngine.from_env().index_doc(index_name(event.entity), event.id, {**event.doc, "id": event.id})
    return {"index": index_name(event.entity), "id": event.id}


@processor("search", "backfill")
def backfill(job: Job) -> dict[str, Any]:
    """Every entity from the app's export API, one bulk request per page, progress after each page.
    Indexing replaces documents, so a retry that starts over is harmless."""
    request = parse(job, Backfill)
    source, engine, index = EntitySource.from_env(), SearchEngine.from_env(), index_name(request.entity)
    cursor: str | None = None
    pages = indexed = 0
    while True:
        items, cursor = source.page(request.entity, cursor, request.page_size)
        indexed += engine.bulk_index(index, [(str(item["id"]), item) for item in items])
        pages += 1
        job.update_progress({"pages": pages, "indexed": indexed, "done": cursor is None})
        if cursor is None:
            return {"index": index, "pages": pages, "indexed": indexed}
