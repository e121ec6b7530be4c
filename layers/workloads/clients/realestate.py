"""RealEstateAPI's property detail lookup (seeds 000 and 001)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workloads.config import service_config
from workloads.errors import RejectedError
from workloads.http import JsonService

__all__ = ["Property", "PropertyNotFoundError", "RealEstateApi"]


class PropertyNotFoundError(RejectedError):
    """No property at that address: the lead's data is wrong, so retrying cannot help."""


class Property(BaseModel):
    """The property facts enrichment writes to the lead and the contact."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str
    estimated_value: int | None = Field(None, alias="estimatedValue")
    bedrooms: int | None = None
    bathrooms: float | None = None
    square_feet: int | None = Field(None, alias="squareFeet")
    year_built: int | None = Field(None, alias="yearBuilt")
    owner_occupied: bool | None = Field(None, alias="ownerOccupied")

    def fields(self) -> dict[str, Any]:
        """The facts under their API names, without the unknown ones."""
        return self.model_dump(by_alias=True, exclude_none=True)


class RealEstateApi:
    """`REALESTATE_API_URL`, `REALESTATE_API_KEY` (sent as `x-api-key`), `REALESTATE_TIMEOUT`."""

    def __init__(self, api: JsonService) -> None:
        self.api = api

    @classmethod
    def from_env(cls) -> RealEstateApi:
        config = service_config("REALESTATE")
        return cls(JsonService(config, {"x-api-key": config.api_key or ""}))

    def property_detail(self, address: str) -> Property:
        answer = self.api.call("POST", "/v2/PropertyDetail", payload={"address": address}, expect=(404,))
        body = answer.json() or {}
        if answer.status == 404 or not body.get("data"):
            raise PropertyNotFoundError(f"RealEstateAPI: no property at {address!r}", status=answer.status)
        return Property.model_validate(body["data"])
