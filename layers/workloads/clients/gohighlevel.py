"""GoHighLevel's contacts API (seed 001): read a contact, write the enrichment back to it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workloads.config import service_config
from workloads.http import JsonService

__all__ = ["Contact", "GoHighLevel"]

API_VERSION = "2021-07-28"


class Contact(BaseModel):
    """The contact fields enrichment reads; GoHighLevel sends many more, which are kept but unused."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(min_length=1)
    email: str | None = None
    phone: str | None = None
    first_name: str | None = Field(None, alias="firstName")
    last_name: str | None = Field(None, alias="lastName")
    address1: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = Field(None, alias="postalCode")


class GoHighLevel:
    """`GHL_API_URL`, `GHL_API_KEY` (a location or private-integration token), `GHL_TIMEOUT`."""

    def __init__(self, api: JsonService) -> None:
        self.api = api

    @classmethod
    def from_env(cls) -> GoHighLevel:
        config = service_config("GHL")
        return cls(JsonService(config, {"Authorization": f"Bearer {config.api_key or ''}", "Version": API_VERSION}))

    def get_contact(self, contact_id: str) -> Contact:
        body = self.api.call("GET", f"/contacts/{contact_id}").json()
        return Contact.model_validate((body or {}).get("contact", body))

    def update_contact(self, contact_id: str, custom_fields: dict[str, Any], tags: list[str] | None = None) -> None:
        payload: dict[str, Any] = {"customFields": [{"key": k, "field_value": v} for k, v in custom_fields.items()]}
        if tags:
            payload["tags"] = tags
        self.api.call("PUT", f"/contacts/{contact_id}", payload=payload)
