"""The CRM that seed 000 syncs each processed lead to (Salesforce-style upsert by external id)."""

from __future__ import annotations

from typing import Any

from workloads.config import service_config
from workloads.errors import TransientServiceError
from workloads.http import JsonService

__all__ = ["Crm"]


class Crm:
    """`CRM_API_URL`, `CRM_API_KEY` (bearer), `CRM_TIMEOUT`."""

    def __init__(self, api: JsonService) -> None:
        self.api = api

    @classmethod
    def from_env(cls) -> Crm:
        config = service_config("CRM")
        return cls(JsonService(config, {"Authorization": f"Bearer {config.api_key or ''}"}))

    def sync_lead(self, lead_id: str, fields: dict[str, Any]) -> str:
        """Upsert the lead under its own id; returns the CRM's record id."""
        body = self.api.call("PUT", f"/leads/{lead_id}", payload=fields).json() or {}
        record_id = body.get("id")
        if not isinstance(record_id, str):
            raise TransientServiceError("CRM answered without a record id")
        return record_id
