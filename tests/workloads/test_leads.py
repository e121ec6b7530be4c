"""Seeds 000 and 001 end to end through the worker and dead-letter handlers, against the stand-ins."""

from __future__ import annotations

from datetime import datetime

import pytest

import standins
from jobqueue import Queue
from tests.api.conftest import ApiClient, ghl_contact_event
from tests.conftest import Namespace
from tests.support.functions import LocalFunctions
from tests.workloads.scenarios import REAL_ESTATE, add_contact, lead_status
from workloads.stores import LeadStore


def test_gohighlevel_webhook_ends_with_contact_updated_and_lead_succeeded(
        ns: Namespace, api: ApiClient, stand_ins: standins.Running) -> None:
    add_contact(stand_ins, "c-ok")
    answer = api.webhook(ghl_contact_event("wh-seed-1", "c-ok"))
    assert answer.status == 202, answer.text

    LocalFunctions(ns, ["lead-enrichment"]).pump(lambda: lead_status("c-ok") == "SUCCEEDED", 20)
    contact = stand_ins.http["gohighlevel"].state["contacts"]["c-ok"]
    assert contact["customFields"]["property_id"].startswith("prop-")
    assert "enriched" in contact["tags"]
    lead = LeadStore().get("c-ok")
    assert lead is not None
    assert lead["enrichment"]["id"] == contact["customFields"]["property_id"]
    assert lead["address"] == "42 Wallaby Way, Austin, TX 73301"
    job = Queue("lead-enrichment").get_job(answer.json["jobId"])
    assert job is not None and job.state == "completed" and job.attemptsMade == 1


def test_lead_whose_crm_sync_always_fails_ends_permanently_failed_with_dlq_fields(
        ns: Namespace, stand_ins: standins.Running) -> None:
    crm = stand_ins.http["crm"]
    crm.fail("/leads/", status=503, times=None)
    LeadStore().put({"leadId": "456", "email": "lead@example.com", "address1": "7 Main St", "city": "Reno",
                     "state": "NV"})
    job_id = Queue("lead-processing").add("process-lead", {"leadId": 456})

    LocalFunctions(ns, ["lead-processing"], ["lead-processing-dlq"]).pump(
        lambda: lead_status("456") == "PERMANENTLY_FAILED", 30)
    lead = LeadStore().get("456")
    assert lead is not None
    failure = lead["failure"]
    assert failure["originalJobId"] == job_id
    assert failure["leadId"] == "456"
    assert failure["attemptsMade"] == 5
    assert "HTTP 503" in failure["error"]
    datetime.fromisoformat(failure["failedAt"])
    assert len(crm.requests_to("/leads/456")) == 5
    assert lead["enrichment"]["id"].startswith("prop-")  # enriched once, kept across the retries
    assert len(stand_ins.http["realestate"].requests_to(REAL_ESTATE)) == 1


def test_retry_after_429_is_respected(ns: Namespace, stand_ins: standins.Running) -> None:
    add_contact(stand_ins, "c-429")
    realestate = stand_ins.http["realestate"]
    realestate.fail(REAL_ESTATE, status=429, retry_after=2)
    job_id = Queue("lead-enrichment").add("enrich-contact", {"contactId": "c-429"})

    LocalFunctions(ns, ["lead-enrichment"]).pump(lambda: lead_status("c-429") == "SUCCEEDED", 30)
    calls = realestate.requests_to(REAL_ESTATE)
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 2.0  # the queue's backoff is 0: only Retry-After made it wait
    job = Queue("lead-enrichment").get_job(job_id)
    assert job is not None and job.attemptsMade == 2


def test_timeout_is_retried(ns: Namespace, stand_ins: standins.Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALESTATE_TIMEOUT", "0.5")
    add_contact(stand_ins, "c-slow")
    realestate = stand_ins.http["realestate"]
    realestate.fail(REAL_ESTATE, delay=1.5)
    job_id = Queue("lead-enrichment").add("enrich-contact", {"contactId": "c-slow"})

    # The stalled request is recorded when the stand-in answers it, after the client gave up.
    LocalFunctions(ns, ["lead-enrichment"]).pump(
        lambda: lead_status("c-slow") == "SUCCEEDED" and len(realestate.requests_to(REAL_ESTATE)) == 2, 30)
    job = Queue("lead-enrichment").get_job(job_id)
    assert job is not None and job.attemptsMade == 2


@pytest.mark.parametrize(("fields", "reason"), [
    ({"address1": ""}, "no street address"),
    ({"address1": "Main Street"}, "invalid street address"),
])
def test_invalid_address_fails_at_once(ns: Namespace, stand_ins: standins.Running, fields: dict[str, str],
                                       reason: str) -> None:
    add_contact(stand_ins, "c-bad", **fields)
    job_id = Queue("lead-enrichment").add("enrich-contact", {"contactId": "c-bad"})
    queue = Queue("lead-enrichment")

    LocalFunctions(ns, ["lead-enrichment"], ["lead-enrichment-dlq"]).pump(
        lambda: queue.get_state(job_id) == "failed", 20)
    job = queue.get_job(job_id)
    assert job is not None and job.attemptsMade == 1
    assert reason in (job.failedReason or "")
    lead = LeadStore().get("c-bad")
    assert lead is not None and lead["status"] == "FAILED_FINAL"
    assert reason in lead["failure"]["error"]
    assert stand_ins.http["realestate"].requests_to(REAL_ESTATE) == []


def test_processed_lead_is_synced_to_the_crm_even_when_its_property_is_unknown(
        ns: Namespace, stand_ins: standins.Running) -> None:
    leads = LeadStore()
    leads.put({"leadId": "77", "email": "a@example.com", "address1": "1 Nowhere Rd", "city": "Elko", "state": "NV"})
    leads.put({"leadId": "78", "email": "b@example.com"})  # no address: nothing to look up
    queue = Queue("lead-processing")
    for lead_id in ("77", "78"):
        queue.add("process-lead", {"leadId": lead_id})

    LocalFunctions(ns, ["lead-processing"]).pump(lambda: lead_status("77") == lead_status("78") == "SUCCEEDED", 20)
    synced = stand_ins.http["crm"].state["leads"]
    assert synced["77"]["enrichment"] == {"found": False, "reason": "RealEstateAPI: no property at "
                                                                    "'1 Nowhere Rd, Elko, NV'"}
    assert synced["78"]["enrichment"] is None and synced["78"]["email"] == "b@example.com"
    assert (LeadStore().get("77") or {})["crmId"] == "crm-77"
