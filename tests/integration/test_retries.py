"""Seed 000's retry timeline on SQS: five attempts with exponential backoff, SQS redrive to the DLQ, then the
dead-letter function's record and the queue's on_dead hook (the lead becomes PERMANENTLY_FAILED)."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

from jobqueue import Queue
from tests.integration.conftest import Emulator
from tests.support.dead_letters import DEAD_FIELDS, dlq_records
from tests.support.functions import LocalFunctions
from tests.support.processors import attempts_of
from workloads.stores import LeadStore


def test_five_attempts_backing_off_then_the_dead_letter_function_and_on_dead_hook(emulator: Emulator) -> None:
    status = LeadStore()
    status.put({"leadId": "4242"})
    queue = Queue("lead-processing")
    job_id = queue.add("process-lead", {"leadId": 4242, "behavior": "fail"})
    functions = LocalFunctions(emulator.ns, ["lead-processing"], ["lead-processing-dlq"])
    functions.pump(lambda: (status.get("4242") or {}).get("status") == "PERMANENTLY_FAILED", timeout=60)

    attempts = attempts_of(job_id)
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4, 5]
    gaps = [(b["at"] - a["at"]) / 1000 for a, b in pairwise(attempts)]
    assert all(gap >= least for gap, least in zip(gaps, [1, 2, 4, 8], strict=True)), gaps  # never cut short

    [record] = dlq_records(emulator.ns, "lead-processing-dlq")
    assert set(record) == DEAD_FIELDS
    assert {k: record[k] for k in ("originalJobId", "queue", "name", "data", "error", "attemptsMade")} == {
        "originalJobId": job_id, "queue": "lead-processing", "name": "process-lead",
        "data": {"leadId": 4242, "behavior": "fail"}, "error": "CRM sync failed on attempt 5", "attemptsMade": 5}
    failed_at = datetime.fromisoformat(str(record["failedAt"]))  # ISO 8601, as the seed's records
    assert failed_at.timestamp() * 1000 >= attempts[-1]["at"] - 1  # the ISO form keeps milliseconds
    lead = status.get("4242")
    assert lead is not None and lead["status"] == "PERMANENTLY_FAILED"
    job = queue.get_job(job_id)
    assert job is not None
    assert (job.state, job.attemptsMade, job.failedReason) == ("failed", 5, "CRM sync failed on attempt 5")
