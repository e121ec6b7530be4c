"""Seeds 000 and 001: lead processing (enrich, then sync to the CRM) and lead enrichment from GoHighLevel
contact events, with their statuses in the leads table (`workloads.deadletters` holds the hooks that finish them)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jobqueue.errors import UnrecoverableError
from jobqueue.registry import processor
from workloads.clients.crm import Crm
from workloads.clients.gohighlevel import Contact, GoHighLevel
from workloads.clients.realestate import PropertyNotFoundError, RealEstateApi
from workloads.jobdata import parse
from workloads.stores import LeadStore

if TYPE_CHECKING:
    from jobqueue.job import Job

__all__ = [
    "InvalidAddressError", "enrich_contact", "full_address", "process_lead",
]

_STREET = re.compile(r"^\s*\d+[A-Za-z]?\s+\S+")


class LeadJob(BaseModel):
    """Seed 000's job data: `{leadId}` (a number in the seed, a string here)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    lead_id: str = Field(alias="leadId", min_length=1, max_length=128)

    @field_validator("lead_id", mode="before")
    @classmethod
    def _number_is_an_id(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ContactEvent(BaseModel):
    """A GoHighLevel contact webhook (ContactCreate/ContactUpdate): only the contact id is needed."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    contact_id: str = Field("", alias="contactId", max_length=128)
    id: str = Field("", max_length=128)

    @model_validator(mode="after")
    def _some_id(self) -> ContactEvent:
        if not (self.contact_id or self.id):
            raise ValueError("contactId (or id) is required")
        return self

    @property
    def contact(self) -> str:
        return self.contact_id or self.id


class InvalidAddressError(UnrecoverableError):
    """The lead's address is missing or cannot be looked up: its data must change before a retry can help."""


def full_address(contact: Contact | dict[str, Any]) -> str:
    """The address as a property lookup takes it ("street, city, state zip"); UnrecoverableError naming the gap."""
    fields = contact if isinstance(contact, dict) else contact.model_dump(by_alias=True)
    street = (fields.get("address1") or fields.get("address") or "").strip()
    city, state = (fields.get("city") or "").strip(), (fields.get("state") or "").strip()
    postal = (fields.get("postalCode") or "").strip()
    if not street:
        raise InvalidAddressError("no street address (address1 is empty)")
    if not _STREET.match(street):
        raise InvalidAddressError(f"invalid street address {street!r}: expected a house number and a street")
    if not (postal or (city and state)):
        raise InvalidAddressError(f"address {street!r} has neither a postal code nor a city and state")
    return ", ".join(p for p in (street, city, f"{state} {postal}".strip()) if p)


def _property_of(lead: dict[str, Any]) -> dict[str, Any]:
    """Seed 000 enriches what it can: a lead whose address finds no property still goes to the CRM."""
    try:
        return RealEstateApi.from_env().property_detail(full_address(lead)).fields()
    except (InvalidAddressError, PropertyNotFoundError) as exc:
        return {"found": False, "reason": str(exc)}


@processor("lead-processing")
def process_lead(job: Job) -> dict[str, Any]:
    """Seed 000: enrich the lead from its address, then sync it to the CRM. Failures retry (5 x exponential);
    the last one reaches lead-processing-dlq, whose hook marks the lead PERMANENTLY_FAILED."""
    lead_id = parse(job, LeadJob).lead_id
    leads = LeadStore()
    lead = leads.get(lead_id)
    if lead is None:
        raise UnrecoverableError(f"lead {lead_id} does not exist")
    leads.set_status(lead_id, "PROCESSING", jobId=job.id, attempt=job.attempt)
    enrichment = lead.get("enrichment")
    if enrichment is None and (lead.get("address1") or lead.get("address")):
        enrichment = _property_of(lead)
        leads.update(lead_id, {"enrichment": enrichment})
        job.update_progress(50)
    fields = {k: v for k, v in lead.items() if k not in ("status", "failure", "jobId", "attempt")}
    crm_id = Crm.from_env().sync_lead(lead_id, {**fields, "enrichment": enrichment})
    leads.set_status(lead_id, "SUCCEEDED", crmId=crm_id)
    job.update_progress(100)
    return {"leadId": lead_id, "crmId": crm_id, "enriched": bool(enrichment and enrichment.get("found", True))}


@processor("lead-enrichment", "enrich-contact")
def enrich_contact(job: Job) -> dict[str, Any]:
    """Seed 001: contact event -> GoHighLevel contact -> RealEstateAPI property -> contact updated.

    PROCESSING while it runs, SUCCEEDED at the end; bad data (no or invalid address, unknown property) is
    FAILED_FINAL at once. 429s and timeouts retry (Retry-After respected); the 5/s limit is the queue's limiter.
    """
    contact_id = parse(job, ContactEvent).contact
    leads = LeadStore()
    leads.ensure(contact_id, {"source": "gohighlevel"})
    if not leads.set_status(contact_id, "PROCESSING", jobId=job.id, attempt=job.attempt):
        return {"contactId": contact_id, "skipped": "already final"}
    ghl = GoHighLevel.from_env()
    try:
        contact = ghl.get_contact(contact_id)
        address = full_address(contact)
        found = RealEstateApi.from_env().property_detail(address)
        ghl.update_contact(contact_id, {f"property_{k}": v for k, v in found.fields().items()}, tags=["enriched"])
    except UnrecoverableError as exc:
        leads.set_status(contact_id, "FAILED_FINAL", failure={"error": str(exc), "jobId": job.id,
                                                               "attemptsMade": job.attempt})
        raise
    leads.set_status(contact_id, "SUCCEEDED", enrichment=found.fields(), address=address,
                     email=contact.email, phone=contact.phone)
    return {"contactId": contact_id, "propertyId": found.id}
