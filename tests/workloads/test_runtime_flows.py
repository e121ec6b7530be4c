"""Acceptance 1-2 of issue 7 through the local runtime: `LocalRuntime` (what `jobqueue dev` runs) in this
process, its functions in processes of their own, every request over HTTP to its API, the seed processors
against the stand-ins. The in-process scenarios (test_leads, test_messaging, test_delivery) prove the details;
here each flow runs once end to end."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

import standins
from jobqueue.connection import aws_client, redis_client
from jobqueue.local.dev import LocalRuntime
from tests.api.conftest import GHL_SECRET, TOKEN, Answer, ApiClient, ghl_contact_event
from tests.conftest import REDIS_URL, delete_prefix
from tests.support.functions import wait_for
from tests.workloads.conftest import CATALOG
from tests.workloads.scenarios import REAL_ESTATE, add_contact, lead_status, leads_with_handles
from workloads.events import SOURCE
from workloads.stores import LeadStore, ScheduledMessageStore, now_ms


class RuntimeApi(ApiClient):
    """The tests' API client, over HTTP to the runtime's API server instead of an in-process handler."""

    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, method: str, path: str, **kwargs: Any) -> Answer:
        body, raw, headers = kwargs.get("body"), kwargs.get("raw"), kwargs.get("headers")
        token = kwargs.get("token", TOKEN)
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return Answer(answer.status, dict(answer.headers), answer.read().decode())
        except urllib.error.HTTPError as error:
            return Answer(error.code, dict(error.headers), error.read().decode())


@pytest.fixture(scope="module")
def runtime(moto_endpoint: str, stand_ins: standins.Running) -> Iterator[LocalRuntime]:
    """One runtime for the module: a namespace of its own, the workloads catalog (retries without backoff), a
    0.5 s RealEstateAPI timeout for the timeout scenario."""
    token = uuid.uuid4().hex[:10]
    env = {"REDIS_URL": REDIS_URL, "JOBQUEUE_PREFIX": f"test-{token}", "JOBQUEUE_SQS_PREFIX": f"r{token}-",
           "JOBQUEUE_TABLE_PREFIX": f"r{token}-", "JOBQUEUE_SCHEDULE_PREFIX": f"r{token}-",
           "JOBQUEUE_CATALOG": str(CATALOG), "SERVICE_TOKEN": TOKEN, "GHL_WEBHOOK_SECRET": GHL_SECRET,
           "REALESTATE_TIMEOUT": "0.5", "POWERTOOLS_LOG_LEVEL": "WARNING"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        running = LocalRuntime(api_port=0, poll_wait_seconds=1).start()
        try:
            yield running
        finally:
            running.stop()
            delete_prefix(redis_client(REDIS_URL), env["JOBQUEUE_PREFIX"])


@pytest.fixture
def api(runtime: LocalRuntime, stand_ins: standins.Running) -> RuntimeApi:
    for service in (*stand_ins.http.values(), stand_ins.push):
        service.clear()
    assert runtime.api is not None
    return RuntimeApi(runtime.api.url)


def job(api: RuntimeApi, queue: str, job_id: str) -> dict[str, Any]:
    answer = api.call("GET", f"/queues/{queue}/jobs/{job_id}")
    return answer.json if answer.status == 200 else {}


def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    wait_for(condition, timeout)


def test_gohighlevel_webhook_updates_the_contact_and_the_lead_succeeds(api: RuntimeApi,
                                                                       stand_ins: standins.Running) -> None:
    add_contact(stand_ins, "rt-ok")
    answer = api.webhook(ghl_contact_event("wh-rt-1", "rt-ok"))
    assert answer.status == 202, answer.text
    until(lambda: lead_status("rt-ok") == "SUCCEEDED")
    contact = stand_ins.http["gohighlevel"].state["contacts"]["rt-ok"]
    assert contact["customFields"]["property_id"].startswith("prop-") and "enriched" in contact["tags"]
    until(lambda: job(api, "lead-enrichment", answer.json["jobId"]).get("state") == "completed")


def test_lead_whose_crm_sync_always_fails_ends_permanently_failed(api: RuntimeApi,
                                                                   stand_ins: standins.Running) -> None:
    stand_ins.http["crm"].fail("/leads/", status=503, times=None)
    LeadStore().put({"leadId": "rt-456", "email": "lead@example.com"})
    answer = api.call("POST", "/jobs", body={"queue": "lead-processing", "name": "process-lead",
                                             "data": {"leadId": "rt-456"}})
    assert answer.status == 202, answer.text
    until(lambda: lead_status("rt-456") == "PERMANENTLY_FAILED")
    failure = (LeadStore().get("rt-456") or {})["failure"]
    assert (failure["originalJobId"], failure["leadId"], failure["attemptsMade"]) == (answer.json["jobId"],
                                                                                       "rt-456", 5)
    assert "HTTP 503" in failure["error"]
    datetime.fromisoformat(failure["failedAt"])
    [record] = api.call("GET", "/queues/lead-processing/dlq").json["records"]
    assert record["originalJobId"] == answer.json["jobId"]


def test_due_scheduled_message_is_sent_exactly_once_by_two_ticks(api: RuntimeApi,
                                                                  stand_ins: standins.Running) -> None:
    store = ScheduledMessageStore()
    store.schedule("rt-m", line_id="line-1", to="+15550001234", body="runtime says hi", due_at=now_ms() - 1000)
    ticks = [api.call("POST", "/jobs", body={"queue": "scheduled-messages", "name": "process-scheduled-messages"})
             for _ in range(2)]  # what two overlapping cron ticks add
    assert [t.status for t in ticks] == [202, 202]
    until(lambda: (store.get("rt-m") or {}).get("status") == "SENT")
    until(lambda: all(job(api, "scheduled-messages", t.json["jobId"]).get("state") == "completed" for t in ticks))
    sends = [r for r in stand_ins.http["messaging"].requests_to("/messages", "POST") if "runtime says hi" in r.body]
    assert len(sends) == 1


def test_bulk_availability_is_queued_for_25_leads_and_answered_for_5(api: RuntimeApi) -> None:
    many = leads_with_handles(25, "rt-bulk")
    queued = api.call("POST", "/jobs", body={"jobType": "bulk-availability-check", "data": {"leadIds": many}})
    assert queued.status == 202, queued.text
    few = leads_with_handles(5, "rt-small")
    answered = api.call("POST", "/jobs", body={"jobType": "bulk-availability-check", "data": {"leadIds": few}})
    assert answered.status == 200, answered.text
    assert set(answered.json["result"]["available"]) == {"rt-small-0", "rt-small-1", "rt-small-3", "rt-small-4"}
    until(lambda: job(api, "bulk-availability", queued.json["jobId"]).get("state") == "completed")
    leads = LeadStore().get_many(many)
    assert all("availability" in leads[lead] for lead in many)


def test_password_reset_arrives_before_the_generic_backlog_drains(api: RuntimeApi,
                                                                  stand_ins: standins.Running) -> None:
    sink, before = stand_ins.smtp, len(stand_ins.smtp.messages)
    assert api.call("POST", "/queues/email/pause").status == 200  # the backlog builds up before any send
    backlog = [{"name": "generic", "data": {"to": f"rt{i}@example.com", "subject": f"News {i}", "message": "hi"}}
               for i in range(15)]
    assert api.call("POST", "/jobs", body={"queue": "email", "jobs": backlog}).status == 202
    reset = api.call("POST", "/jobs", body={"queue": "email", "name": "password_reset",
                                            "data": {"to": "ada@example.com", "resetUrl": "https://x.example/r/1"}})
    assert reset.status == 202, reset.text
    assert api.call("POST", "/queues/email/resume").status == 200
    until(lambda: len(sink.messages) - before == 16, 60)
    subjects = [m.message["Subject"] for m in sink.messages[before:]]
    position = subjects.index("Reset your password")
    print(f"password reset delivered at position {position} of 16")
    # First, but for at most the generic batches already received when it arrived (2 invocations locally).
    assert position < 3


def test_entity_event_becomes_a_document_in_the_search_stand_in(api: RuntimeApi, runtime: LocalRuntime,
                                                                 stand_ins: standins.Running) -> None:
    bus = f"{os.environ['JOBQUEUE_SQS_PREFIX']}domain-events"  # what the runtime created, like SeedRecords
    doc = {"title": "Runtime report"}
    sent = aws_client("events").put_events(Entries=[{
        "Source": SOURCE, "DetailType": "EntityChanged", "EventBusName": bus,
        "Detail": json.dumps({"entity": "post", "id": "rt-p1", "doc": doc})}])
    assert sent["FailedEntryCount"] == 0
    indexes: dict[str, dict[str, Any]] = stand_ins.http["search"].state["indexes"]
    until(lambda: "rt-p1" in indexes.get("post", {}))
    assert indexes["post"]["rt-p1"] == {**doc, "id": "rt-p1"}


def test_429_with_retry_after_is_waited_for(api: RuntimeApi, stand_ins: standins.Running) -> None:
    add_contact(stand_ins, "rt-429")
    realestate = stand_ins.http["realestate"]
    realestate.fail(REAL_ESTATE, status=429, retry_after=2)
    assert api.call("POST", "/jobs", body={"queue": "lead-enrichment", "name": "enrich-contact",
                                           "data": {"contactId": "rt-429"}}).status == 202
    until(lambda: lead_status("rt-429") == "SUCCEEDED")
    calls = realestate.requests_to(REAL_ESTATE)
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 2.0  # the queue's backoff is 0 here: only Retry-After made it wait


def test_timeout_is_retried(api: RuntimeApi, stand_ins: standins.Running) -> None:
    add_contact(stand_ins, "rt-slow")
    realestate = stand_ins.http["realestate"]
    realestate.fail(REAL_ESTATE, delay=1.5)
    answer = api.call("POST", "/jobs", body={"queue": "lead-enrichment", "name": "enrich-contact",
                                             "data": {"contactId": "rt-slow"}})
    until(lambda: lead_status("rt-slow") == "SUCCEEDED")
    assert job(api, "lead-enrichment", answer.json["jobId"])["attemptsMade"] == 2


def test_invalid_address_fails_at_once(api: RuntimeApi, stand_ins: standins.Running) -> None:
    add_contact(stand_ins, "rt-bad", address1="Main Street")
    answer = api.call("POST", "/jobs", body={"queue": "lead-enrichment", "name": "enrich-contact",
                                             "data": {"contactId": "rt-bad"}})
    until(lambda: job(api, "lead-enrichment", answer.json["jobId"]).get("state") == "failed")
    failed = job(api, "lead-enrichment", answer.json["jobId"])
    assert failed["attemptsMade"] == 1 and "invalid street address" in failed["failedReason"]
    assert lead_status("rt-bad") == "FAILED_FINAL"
    assert stand_ins.http["realestate"].requests_to(REAL_ESTATE) == []
