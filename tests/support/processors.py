"""Processors for the engine tests: each job's data says how it behaves, and every attempt is traced."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from jobqueue import Job, UnrecoverableError, processor
from jobqueue.connection import redis_for
from jobqueue.keys import app_key
from jobqueue.settings import get_settings
from workloads.stores import LeadStore

if TYPE_CHECKING:
    from redis import Redis


def trace_key(job_id: str) -> str:
    return app_key(get_settings().prefix, f"trace:{job_id}")


def attempts_of(job_id: str) -> list[dict[str, Any]]:
    """Every attempt a processor made of the job: its number and when it started (ms)."""
    client = redis_for(get_settings())
    return [json.loads(x) for x in client.lrange(trace_key(job_id), 0, -1)]


def _trace(job: Job) -> Redis:
    client = redis_for(get_settings())
    client.rpush(trace_key(job.id), json.dumps({"attempt": job.attempt, "at": int(time.time() * 1000)}))
    return client


@processor("lead-processing")
@processor("email")
def scripted(job: Job) -> dict[str, Any]:
    """`behavior`: ok | fail | flaky (fails `failures` times) | unrecoverable | unrecoverable-once (on its first
    attempt ever, so a redriven job succeeds) | sleep (`seconds`)."""
    client = _trace(job)
    data = job.data if isinstance(job.data, dict) else {}
    behavior = data.get("behavior", "ok")
    if behavior == "fail":
        raise RuntimeError(f"CRM sync failed on attempt {job.attempt}")
    if behavior == "unrecoverable" or (behavior == "unrecoverable-once" and client.llen(trace_key(job.id)) == 1):
        raise UnrecoverableError("lead has no address")
    if behavior == "flaky" and job.attempt <= int(data.get("failures", 1)):
        raise TimeoutError(f"enrichment timed out on attempt {job.attempt}")
    if behavior == "sleep":
        time.sleep(float(data.get("seconds", 1)))
    job.update_progress(100)
    job.log(f"done on attempt {job.attempt}")
    return {"leadId": data.get("leadId"), "attempt": job.attempt}


@processor("lead-enrichment")
def enrich_contact(job: Job) -> dict[str, Any]:
    """Seed 001's enrichment of a GoHighLevel contact event: PROCESSING, then SUCCEEDED (or FAILED_FINAL)."""
    data = job.data if isinstance(job.data, dict) else {}
    _trace(job)
    contact = str(data.get("contactId") or data.get("id") or "")
    if not contact:
        raise UnrecoverableError("event has no contact id")
    status = LeadStore()
    status.ensure(contact, {"source": "gohighlevel"})
    status.set_status(contact, "PROCESSING", jobId=job.id, attempt=job.attempt)
    job.update_progress(50)
    enriched = {"contactId": contact, "email": data.get("email"), "enriched": True}
    status.set_status(contact, "SUCCEEDED", jobId=job.id)
    job.update_progress(100)
    return enriched


@processor("bulk-availability")
def check_availability(job: Job) -> dict[str, Any]:
    """Seed 002's availability check: lead ids ending in an even digit have iMessage (a stand-in rule)."""
    lead_ids = job.data.get("leadIds", []) if isinstance(job.data, dict) else []
    if any(not isinstance(lead, str) for lead in lead_ids):
        raise UnrecoverableError("leadIds must be strings")
    return {"checked": len(lead_ids),
            "available": {lead: lead[-1:].isdigit() and int(lead[-1]) % 2 == 0 for lead in lead_ids}}


@processor("scheduled-messages")
@processor("health-check")
def cron_tick(job: Job) -> dict[str, Any]:
    """Seed 002's cron queues: every tick is traced, so tests see which minutes fired."""
    _trace(job)
    return {"ran": job.name}
