"""The sample SQS events in events/ run through the real worker and dead-letter handlers."""

from __future__ import annotations

import json
import os

import pytest

from jobqueue import Queue
from jobqueue.local.runner import FunctionRunner
from tests.conftest import ROOT, Namespace
from workloads.stores import LeadStore


def load_event(name: str) -> dict[str, object]:
    return json.loads((ROOT / "events" / name).read_text())  # type: ignore[no-any-return]


def test_worker_sample_event_completes_its_jobs(ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(os.environ, "QUEUE_NAME", "lead-processing")
    response = FunctionRunner("worker").invoke(load_event("sqs-worker-lead-processing.json"))
    assert response == {"batchItemFailures": []}
    for job_id, lead in (("sample-lead-1", 123), ("sample-lead-2", 124)):
        job = Queue("lead-processing").get_job(job_id)
        assert job is not None and job.state == "completed" and job.data == {"leadId": lead}


def test_dead_letter_sample_event_records_and_marks_the_lead(ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(os.environ, "DEAD_LETTER_QUEUE", "lead-processing-dlq")
    LeadStore().put({"leadId": "999", "email": "lead@example.com"})
    response = FunctionRunner("dead_letter").invoke(load_event("sqs-dlq-lead-processing.json"))
    assert response == {"batchItemFailures": []}
    lead = LeadStore().get("999")
    assert lead is not None
    failure = lead["failure"]
    assert (lead["status"], failure["error"], failure["attemptsMade"]) == ("PERMANENTLY_FAILED", "CRM sync failed", 5)
    job = Queue("lead-processing").get_job("sample-lead-9")
    assert job is not None and job.state == "failed"
