"""Processors for the engine tests: each job's data says how it behaves, and every attempt is traced."""

from __future__ import annotations

import json
import time
from typing import Any

from jobqueue import Job, UnrecoverableError, processor
from jobqueue.connection import redis_client
from jobqueue.keys import app_key
from jobqueue.settings import get_settings


def trace_key(job_id: str) -> str:
    return app_key(get_settings().prefix, f"trace:{job_id}")


def attempts_of(job_id: str) -> list[dict[str, Any]]:
    """Every attempt a processor made of the job: its number and when it started (ms)."""
    client = redis_client(get_settings().redis_url)
    return [json.loads(x) for x in client.lrange(trace_key(job_id), 0, -1)]


@processor("lead-processing")
@processor("email")
def scripted(job: Job) -> dict[str, Any]:
    """`behavior`: ok | fail | flaky (fails `failures` times) | unrecoverable | sleep (`seconds`)."""
    client = redis_client(get_settings().redis_url)
    client.rpush(trace_key(job.id), json.dumps({"attempt": job.attempt, "at": int(time.time() * 1000)}))
    data = job.data if isinstance(job.data, dict) else {}
    behavior = data.get("behavior", "ok")
    if behavior == "fail":
        raise RuntimeError(f"CRM sync failed on attempt {job.attempt}")
    if behavior == "unrecoverable":
        raise UnrecoverableError("lead has no address")
    if behavior == "flaky" and job.attempt <= int(data.get("failures", 1)):
        raise TimeoutError(f"enrichment timed out on attempt {job.attempt}")
    if behavior == "sleep":
        time.sleep(float(data.get("seconds", 1)))
    job.update_progress(100)
    job.log(f"done on attempt {job.attempt}")
    return {"leadId": data.get("leadId"), "attempt": job.attempt}
