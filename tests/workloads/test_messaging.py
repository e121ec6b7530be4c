"""Seed 002 end to end: scheduled messages (exactly once under overlapping ticks), bulk availability (queued
over 10 leads, answered in the request up to 10), line health checks and integration syncs."""

from __future__ import annotations

import threading

import pytest

import standins
from jobqueue import Queue
from jobqueue.job import Job, JobOptions
from jobqueue.scripts import Scripts
from tests.api.conftest import ApiClient
from tests.conftest import Namespace
from tests.support.functions import LocalFunctions
from tests.workloads.scenarios import leads_with_handles
from workloads.processors.messaging import hand_over_due_messages
from workloads.stores import LeadStore, LineStore, ScheduledMessageStore, SyncRunStore, now_ms


def _tick(ns: Namespace, tick_id: str) -> Job:
    """A scheduled-messages cron job as the worker hands it to the processor."""
    return Job(id=tick_id, name="process-scheduled-messages", data={}, opts=JobOptions(), queue="scheduled-messages",
               timestamp=now_ms(), attempt=1,
               _scripts=Scripts(ns.redis, ns.settings.queue_keys("scheduled-messages")))


def test_due_message_is_sent_exactly_once_when_ticks_overlap(ns: Namespace, stand_ins: standins.Running) -> None:
    store = ScheduledMessageStore()
    store.schedule("m-due", line_id="line-1", to="+15550001234", body="see you at 5", due_at=now_ms() - 1000)
    store.schedule("m-later", line_id="line-1", to="+15550001234", body="tomorrow", due_at=now_ms() + 3_600_000)
    start = threading.Barrier(4)
    results: list[dict[str, int]] = []

    def tick(n: int) -> None:
        start.wait()
        results.append(hand_over_due_messages(_tick(ns, f"tick-{n}")))

    threads = [threading.Thread(target=tick, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r["queued"] for r in results) == [0, 0, 0, 1]

    messaging = stand_ins.http["messaging"]
    LocalFunctions(ns, ["message-processing"]).pump(lambda: (store.get("m-due") or {}).get("status") == "SENT", 20)
    assert hand_over_due_messages(_tick(ns, "tick-late"))["queued"] == 0
    sends = messaging.requests_to("/messages", "POST")
    assert len(sends) == 1 and '"body":"see you at 5"' in sends[0].body
    assert (store.get("m-later") or {}).get("status") == "PENDING"


def test_a_refused_scheduled_message_is_failed_not_handed_over_again(ns: Namespace) -> None:
    store = ScheduledMessageStore()
    store.schedule("m-bad", line_id="line-1", to="+15550009999", body="", due_at=now_ms() - 1000)
    assert hand_over_due_messages(_tick(ns, "tick-a"))["queued"] == 1
    queue = Queue("message-processing")
    LocalFunctions(ns, ["message-processing"]).pump(lambda: queue.get_state("scheduled-m-bad") == "failed", 20)
    message = store.get("m-bad")
    assert message is not None and message["status"] == "FAILED" and "HTTP 400" in message["error"]
    assert store.due(now_ms() + 3_600_000, status="QUEUED") == []


def test_bulk_availability_of_25_leads_is_queued_and_every_lead_updated(ns: Namespace, api: ApiClient) -> None:
    ids = leads_with_handles(25, "bulk")
    answer = api.call("POST", "/jobs", body={"jobType": "bulk-availability-check",
                                             "data": {"leadIds": ids, "userId": "u1", "workspaceId": "w1"}})
    assert answer.status == 202, answer.text
    queue = Queue("bulk-availability")
    job_id = answer.json["jobId"]
    LocalFunctions(ns, ["bulk-availability"]).pump(lambda: queue.get_state(job_id) == "completed", 20)
    leads = LeadStore().get_many(ids)
    assert all("availability" in leads[i] for i in ids)
    job = queue.get_job(job_id)
    assert job is not None
    assert job.returnvalue["checked"] == 17 and len(job.returnvalue["skipped"]) == 8
    assert job.progress == 100
    assert leads["bulk-1"]["availability"]["imessage"] is True  # an email
    assert leads["bulk-2"]["availability"] == {"status": "NO_HANDLE", "checkedAt": leads["bulk-2"]["availability"][
        "checkedAt"]}


def test_bulk_availability_of_5_leads_is_answered_in_the_request(ns: Namespace, api: ApiClient) -> None:
    ids = [*leads_with_handles(5, "small"), "small-unknown"]
    answer = api.call("POST", "/jobs", body={"jobType": "bulk-availability-check", "data": {"leadIds": ids}})
    assert answer.status == 200, answer.text
    result = answer.json["result"]
    assert result["missing"] == ["small-unknown"]
    assert set(result["available"]) == {"small-0", "small-1", "small-3", "small-4"}
    assert LeadStore().get("small-3")["availability"]["handle"] == "+15550000003"  # type: ignore[index]
    assert Queue("bulk-availability").get_job_counts()["waiting"] == 0


def test_health_check_records_every_active_line(ns: Namespace, stand_ins: standins.Running) -> None:
    lines = LineStore()
    for line_id, status in (("line-1", "ACTIVE"), ("line-gone", "ACTIVE"), ("line-off", "INACTIVE")):
        lines.put({"lineId": line_id, "status": status})
    job_id = Queue("health-check").add("run-health-check", {})
    LocalFunctions(ns, ["health-check"]).pump(lambda: Queue("health-check").get_state(job_id) == "completed", 20)
    assert (lines.get("line-1") or {})["health"]["ok"] is True
    gone = (lines.get("line-gone") or {})["health"]
    assert gone["ok"] is False and "HTTP 404" in gone["error"]
    assert "health" not in (lines.get("line-off") or {})
    assert [r.path for r in stand_ins.http["messaging"].requests_to("/lines/")] == [
        "/lines/line-1/health", "/lines/line-gone/health"]


@pytest.mark.parametrize("source", ["hubspot", "salesforce", "google-sheets"])
def test_integration_sync_pages_through_the_source_with_progress(ns: Namespace, source: str) -> None:
    data = {"integrationId": f"int-{source}", "source": source, "spreadsheetId": "sheet-1"}
    if source != "google-sheets":
        del data["spreadsheetId"]
    queue = Queue("integration-sync")
    job_id = queue.add("integration-sync", data)
    LocalFunctions(ns, ["integration-sync"]).pump(lambda: queue.get_state(job_id) in ("completed", "failed"), 30)
    job = queue.get_job(job_id)
    assert job is not None and job.state == "completed", job.failedReason if job else None
    assert job.returnvalue == {"runId": job_id, "pages": 3, "records": 250}
    assert job.progress == {"pages": 3, "records": 250, "done": True}
    run = SyncRunStore().get(job_id)
    assert run is not None and run["status"] == "SUCCEEDED" and run["records"] == 250
    prefix = {"hubspot": "hs", "salesforce": "sf", "google-sheets": "gs"}[source]
    lead = LeadStore().get(f"{source}-{prefix}250")
    assert lead is not None and lead["email"] == f"{prefix}250@example.com"


def test_integration_sync_resumes_after_a_failed_page(ns: Namespace, stand_ins: standins.Running) -> None:
    integrations = stand_ins.http["integrations"]
    queue = Queue("integration-sync")
    job_id = queue.add("integration-sync", {"integrationId": "int-resume", "source": "hubspot"})
    functions = LocalFunctions(ns, ["integration-sync"])
    integrations.fail("/crm/v3/objects/contacts", status=503, after=1)  # page 2, once
    functions.pump(lambda: queue.get_state(job_id) == "completed", 30)
    calls = integrations.requests_to("/crm/v3/objects/contacts")
    assert [(c.query.get("after"), c.status) for c in calls] == [(None, 200), ("100", 503), ("100", 200),
                                                                  ("200", 200)]
    job = queue.get_job(job_id)
    assert job is not None and job.attemptsMade == 2
    assert job.returnvalue == {"runId": job_id, "pages": 3, "records": 250}
