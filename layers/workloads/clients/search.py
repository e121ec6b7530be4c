"""A search engine's HTTP bulk API (seed 004 used ZincSearch; Elasticsearch and OpenSearch take the same
`_bulk` NDJSON), and the app's export API that backfills read entities from."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from workloads.config import service_config
from workloads.errors import RejectedError, TransientServiceError
from workloads.http import JsonService

__all__ = ["EntitySource", "SearchEngine"]


class SearchEngine:
    """`SEARCH_API_URL`, `SEARCH_API_KEY` ("user:password", HTTP basic), `SEARCH_TIMEOUT`."""

    def __init__(self, api: JsonService) -> None:
        self.api = api

    @classmethod
    def from_env(cls) -> SearchEngine:
        config = service_config("SEARCH")
        token = base64.b64encode((config.api_key or "").encode()).decode()
        return cls(JsonService(config, {"Authorization": f"Basic {token}"}))

    def bulk_index(self, index: str, docs: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Index (create or replace) every `(id, document)`; returns how many were indexed."""
        lines: list[str] = []
        for doc_id, doc in docs:
            lines += [json.dumps({"index": {"_index": index, "_id": doc_id}}), json.dumps(doc)]
        if not lines:
            return 0
        answer = self.api.call("POST", "/api/_bulk", headers={"Content-Type": "application/x-ndjson"},
                               payload=None, raw=("\n".join(lines) + "\n").encode())
        body = answer.json() or {}
        if body.get("errors"):
            failed = [str((i.get("index") or {}).get("_id")) for i in body.get("items", [])
                      if (i.get("index") or {}).get("error")]
            raise TransientServiceError(f"search: {len(failed)} documents not indexed (ids {failed[:5]})")
        return len(lines) // 2

    def index_doc(self, index: str, doc_id: str, doc: dict[str, Any]) -> None:
        self.bulk_index(index, [(doc_id, doc)])


class EntitySource:
    """The app's export API: `GET /entities/{entity}?cursor=&limit=` -> `{items: [{id, ...}], next}`.

    `APP_API_URL`, `APP_API_KEY` (bearer), `APP_TIMEOUT`.
    """

    def __init__(self, api: JsonService) -> None:
        self.api = api

    @classmethod
    def from_env(cls) -> EntitySource:
        config = service_config("APP")
        return cls(JsonService(config, {"Authorization": f"Bearer {config.api_key or ''}"}))

    def page(self, entity: str, cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        body = self.api.call("GET", f"/entities/{entity}", params={"cursor": cursor, "limit": limit}).json() or {}
        items = body.get("items")
        if not isinstance(items, list) or any(not isinstance(i, dict) or "id" not in i for i in items):
            raise RejectedError(f"app: entity {entity!r} export is not a list of items with ids")
        next_cursor = body.get("next")
        return items, str(next_cursor) if next_cursor else None
