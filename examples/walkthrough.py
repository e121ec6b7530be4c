"""Example processors that `make run` loads (JOBQUEUE_PROCESSORS=examples.walkthrough), so the walkthrough's
jobs complete: a webhook's contact enrichment, a lead, and the two cron queues' ticks.

They stand in for the real ones (a user's own module, named the same way): nothing here calls an outside API.
A job without a processor is not faked into completion; it fails as unrecoverable and reaches its DLQ.
"""

from __future__ import annotations

from typing import Any

from jobqueue import Job, UnrecoverableError, processor
from jobqueue.leads import LeadStatusStore


def _data(job: Job) -> dict[str, Any]:
    return job.data if isinstance(job.data, dict) else {}


@processor("lead-enrichment", "enrich-contact")
def enrich_contact(job: Job) -> dict[str, Any]:
    """Seed 001: a GoHighLevel contact event; the lead goes PROCESSING, then SUCCEEDED."""
    data = _data(job)
    contact = str(data.get("contactId") or data.get("id") or "")
    if not contact:
        raise UnrecoverableError("event has no contactId")  # bad data: no retry can fix it
    status = LeadStatusStore.from_settings()
    status.set(contact, "PROCESSING", jobId=job.id, attempt=job.attempt)
    job.update_progress(50)
    status.set(contact, "SUCCEEDED", jobId=job.id)
    return {"contactId": contact, "email": data.get("email"), "enriched": True}


@processor("lead-processing")
def process_lead(job: Job) -> dict[str, Any]:
    """Seed 000: a lead; `{"fail": true}` in its data makes every attempt fail, to watch retries and the DLQ."""
    data = _data(job)
    if data.get("fail"):
        raise RuntimeError(f"CRM sync failed on attempt {job.attempt}")
    return {"leadId": data.get("leadId"), "processed": True}


@processor("scheduled-messages")
@processor("health-check")
def cron_tick(job: Job) -> dict[str, Any]:
    """Seed 002's cron jobs: each minute's (or five minutes') tick, logged to the job."""
    job.log(f"{job.name} ran for {job.id}")
    return {"ran": job.name}
