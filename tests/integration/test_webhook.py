"""A signed webhook, over HTTP through the API function, becomes a job the worker function completes."""

from __future__ import annotations

import json

from jobqueue import Queue
from tests.api.conftest import resent_now
from tests.conftest import ROOT
from tests.integration.conftest import Emulator, HttpApi
from tests.support.functions import LocalFunctions
from workloads.stores import LeadStore

RECORDED = json.loads((ROOT / "events" / "api-webhook-gohighlevel.json").read_text())


def test_signed_sample_webhook_becomes_a_completed_job(emulator: Emulator, api: HttpApi) -> None:
    sample = resent_now(RECORDED)  # the recorded event, sent now
    signature = {"X-GHL-Signature": sample["headers"]["X-GHL-Signature"]}
    status, accepted = api.request("POST", sample["path"], sample["body"].encode(), signature, token=False)
    assert status == 202, accepted
    assert accepted["queue"] == "lead-enrichment"
    job_id = accepted["jobId"]

    queue = Queue("lead-enrichment")
    LocalFunctions(emulator.ns, ["lead-enrichment"]).pump(lambda: queue.get_state(job_id) == "completed", 20)

    status, job = api.request("GET", f"/queues/lead-enrichment/jobs/{job_id}")
    assert status == 200, job
    contact = json.loads(sample["body"])["contactId"]
    assert (job["state"], job["attemptsMade"]) == ("completed", 1)
    assert job["returnvalue"] == {"contactId": contact, "email": "ada@example.com", "enriched": True}
    status, counts = api.request("GET", "/queues/lead-enrichment")
    assert status == 200 and (counts["completed"], counts["waiting"], counts["failed"]) == (1, 0, 0), counts
    lead = LeadStore().get(contact)
    assert lead is not None and lead["status"] == "SUCCEEDED"
    # The same delivery again is the same job, not a second one.
    assert api.request("POST", sample["path"], sample["body"].encode(), signature, token=False) == (202, accepted)
