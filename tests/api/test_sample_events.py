"""The API Gateway REST proxy events in events/ run through the real API handler."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from jobqueue import Queue
from jobqueue.api.intake import event_job_id, sign
from jobqueue.local.runner import FunctionRunner
from tests.api.conftest import GHL_SECRET, TOKEN, ApiClient, resent_now
from tests.conftest import ROOT, Namespace
from tests.support.functions import LocalFunctions


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / name).read_text())
    return event


def invoke(api: ApiClient, name: str) -> tuple[int, Any]:
    answer = api.invoke(load(name))
    is_json = answer.headers.get("content-type", "").startswith("application/json")
    return answer.status, answer.json if is_json else answer.text


def test_events_use_the_documented_test_credentials() -> None:
    webhook = load("api-webhook-gohighlevel.json")
    assert webhook["headers"]["X-GHL-Signature"] == f"sha256={sign(GHL_SECRET, webhook['body'].encode())}"
    assert "Authorization" not in webhook["headers"]
    for path in sorted((ROOT / "events").glob("api-*.json")):
        event = json.loads(path.read_text())
        assert event["requestContext"]["resourcePath"] == event["resource"]
        if path.name not in ("api-webhook-gohighlevel.json", "api-get-health.json"):
            assert event["headers"]["Authorization"] == f"Bearer {TOKEN}", path.name


def test_webhook_event_is_accepted_once_and_enriched(ns: Namespace, api: ApiClient) -> None:
    recorded = api.invoke(load("api-webhook-gohighlevel.json"))  # sent 2026-03-29: by now a replay
    assert recorded.status == 401 and "outside the source's tolerance of 300 s" in recorded.json["message"]
    fresh = resent_now(load("api-webhook-gohighlevel.json"))
    webhook_id = "b5e2a9f0-3c1d-4e8f-9a7b-1c2d3e4f5a6b"
    expected = {"jobId": event_job_id("gohighlevel", webhook_id), "queue": "lead-enrichment"}
    first, again = api.invoke(fresh), api.invoke(fresh)  # a redelivery
    assert (first.status, first.json) == (again.status, again.json) == (202, expected)
    # Once the event id is recorded, any delivery of it gets the recorded answer: no job is added either way.
    assert api.invoke(load("api-webhook-gohighlevel.json")).json == expected
    queue = Queue("lead-enrichment")
    LocalFunctions(ns, ["lead-enrichment"]).pump(lambda: queue.get_state(expected["jobId"]) == "completed", 15)
    tampered = resent_now(load("api-webhook-gohighlevel.json"))
    tampered["body"] = tampered["body"].replace("Ada", "Eve")
    assert api.invoke(tampered).status == 401


def test_management_events(ns: Namespace, api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    assert invoke(api, "api-post-jobs.json") == (202, {"jobId": "sample-api-lead-42", "queue": "lead-processing"})
    status, job = invoke(api, "api-get-job.json")
    assert (status, job["id"], job["state"], job["data"]) == (200, "sample-api-lead-42", "waiting", {"leadId": 42})
    status, metrics = invoke(api, "api-get-queue.json")
    assert (status, metrics["queueName"], metrics["waiting"], metrics["total"]) == (200, "lead-processing", 1, 1)
    status, inline = invoke(api, "api-post-jobs-bulk-availability.json")
    assert (status, inline["mode"], inline["result"]["checked"]) == (200, "sync", 2)
    status, stats = invoke(api, "api-get-stats.json")
    assert status == 200 and stats["totals"]["waiting"] == 1
    no_mappings = {"enabled": 0, "disabled": 0, "transitioning": 0, "stopped": True}
    assert invoke(api, "api-post-queue-pause.json") == (200, {"queue": "lead-processing", "paused": True,
                                                              "eventSources": no_mappings})
    status, schedules = invoke(api, "api-get-schedules.json")
    assert status == 200 and len(schedules["schedules"]) == 2
    status, health = invoke(api, "api-get-health.json")
    assert (status, health["status"]) == (200, "ok")
    status, text = invoke(api, "api-get-metrics.json")
    assert status == 200 and 'jobqueue_queue_paused{queue="lead-processing"} 1' in text


def test_dead_letter_events_list_and_redrive(ns: Namespace, api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # The dead-letter sample event records sample-lead-9 as dead; the API events list and redrive it.
    monkeypatch.setitem(os.environ, "DEAD_LETTER_QUEUE", "lead-processing-dlq")
    FunctionRunner("dead_letter").invoke(load("sqs-dlq-lead-processing.json"))
    status, listed = invoke(api, "api-get-dlq.json")
    assert status == 200
    assert [(r["recordId"], r["originalJobId"]) for r in listed["records"]] == [
        ("lead-processing-sample-lead-9", "sample-lead-9")]
    assert invoke(api, "api-post-dlq-redrive.json") == (200, {"queue": "lead-processing",
                                                             "redriven": ["sample-lead-9"], "remaining": 0})
    assert invoke(api, "api-get-dlq.json")[1]["records"] == []
    assert Queue("lead-processing").get_state("sample-lead-9") == "waiting"
