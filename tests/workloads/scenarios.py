"""Helpers the seed scenarios share, in-process (LocalFunctions) and through the local runtime."""

from __future__ import annotations

from typing import Any

import standins
from workloads.stores import LeadStore

REAL_ESTATE = "/v2/PropertyDetail"


def add_contact(stand_ins: standins.Running, contact_id: str, **fields: str) -> None:
    """A GoHighLevel contact with a street address that the RealEstateAPI stand-in finds (unless `fields` say)."""
    address = {"address1": "42 Wallaby Way", "city": "Austin", "state": "TX", "postalCode": "73301"}
    stand_ins.http["gohighlevel"].state["contacts"][contact_id] = {"id": contact_id, "email": "ada@example.com",
                                                                   **address, **fields}


def lead_status(lead_id: str) -> str | None:
    lead = LeadStore().get(lead_id)
    return None if lead is None else lead.get("status")


def leads_with_handles(count: int, prefix: str) -> list[str]:
    """Leads `<prefix>-<i>`: a phone, an email, or (every third) neither, which cannot be checked."""
    store = LeadStore()
    ids = [f"{prefix}-{i}" for i in range(count)]
    for i, lead_id in enumerate(ids):
        contact: dict[str, Any] = {"leadId": lead_id}
        if i % 3 == 0:
            contact["phone"] = f"+1555000{i:04d}"
        elif i % 3 == 1:
            contact["email"] = f"{lead_id}@example.com"
        store.put(contact)
    return ids
