"""Issue 12, points 1-2 through the API and scheduler functions: a webhook, a `POST /jobs` with a `jobId` and a
Scheduler tick whose first delivery met a fault are retried by their sender, and the job runs exactly once; a bulk
add out of time answers 207 with what was accepted, and the same request again completes it."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from jobqueue import Queue
from jobqueue.api.intake import event_job_id
from jobqueue.api.services import services
from jobqueue.local.runner import FunctionRunner, LocalContext
from jobqueue.schedules import fire, schedule_job_id
from tests.api.conftest import ApiClient, ghl_contact_event
from tests.conftest import Namespace
from tests.engine.test_producer_faults import deliver_all
from tests.support.delivery import Killed, runs
from tests.support.faults import Fault, FaultySqs, Kind, SlowSqs, inject, sqs_down
from tests.support.functions import LocalFunctions, messages_in


def break_producer(queue: str, seam: str, kind: Kind, ns: Namespace) -> None:
    """The API function's producer for `queue` meets `kind` at `seam` once (the sqs send, or a Redis script)."""
    producer = services().queue(queue)
    if seam == "send":
        producer.transport.sqs = FaultySqs(ns.sqs, Fault(kind, sqs_down))
    else:
        inject(producer.scripts, seam, Fault(kind))


def short_context() -> LocalContext:
    """An invocation with one second left: a Lambda killed in it leaves an idempotency record that soon expires."""
    return LocalContext("api", deadline=time.monotonic() + 1)


def deliver_once(api: ApiClient, event: dict[str, Any]) -> str:
    """The first delivery: what the sender saw (a status, or `killed` when the function died)."""
    try:
        return str(api.invoke(event, short_context()).status)
    except Killed:
        time.sleep(1.1)  # the dead invocation's in-progress record expires with it
        return "killed"


FAULTS = [("send", "error"), ("send", "lost-reply"), ("send", "kill"), ("send", "kill-after"),
          ("add_jobs", "lost-reply"), ("add_jobs", "kill-after"), ("confirm_sent", "kill"),
          ("remove_unsent_jobs", "kill")]


@pytest.mark.parametrize(("seam", "kind"), FAULTS)
def test_a_webhook_retried_by_its_sender_after_a_fault_runs_once(ns: Namespace, api: ApiClient, seam: str,
                                                                 kind: Kind) -> None:
    break_producer("lead-enrichment", seam, kind, ns)
    if seam == "remove_unsent_jobs":
        services().queue("lead-enrichment").transport.sqs = FaultySqs(ns.sqs, Fault("error", sqs_down))
    body = ghl_contact_event("wh-fault", "c-7")
    first = deliver_once(api, api.webhook_event(body))
    assert first in ("503", "killed", "202"), first
    retry = api.webhook(body)
    assert retry.status == 202, retry.text
    job_id = event_job_id("gohighlevel", "wh-fault")
    assert retry.json["jobId"] == job_id
    deliver_all(ns, "lead-enrichment")
    assert runs(job_id) == [1], "the sender's retry alone made the job run"
    Queue("lead-enrichment").resend_unsent(older_than_ms=0)
    deliver_all(ns, "lead-enrichment")
    assert runs(job_id) == [1]


def test_a_post_jobs_with_a_job_id_refused_by_sqs_is_a_503_saying_nothing_runs_and_a_retry_runs_it_once(
        ns: Namespace, api: ApiClient) -> None:
    break_producer("lead-processing", "send", "error", ns)
    request = {"queue": "lead-processing", "name": "process-lead", "data": {"leadId": 5}, "opts": {"jobId": "l-5"}}
    refused = api.call("POST", "/jobs", body=request)
    assert refused.status == 503 and refused.json["mayRun"] is False, refused.text
    assert "retry later" in refused.json["message"]
    accepted = api.call("POST", "/jobs", body=request)
    assert accepted.status == 202 and accepted.json["jobId"] == "l-5"
    LocalFunctions(ns, ["lead-processing"]).pump(lambda: messages_in(ns, "lead-processing") == 0, timeout=30)
    assert runs("l-5") == [1]


def test_a_bulk_add_out_of_time_answers_207_and_the_same_request_again_completes_it(
        ns: Namespace, api: ApiClient) -> None:
    services().queue("lead-processing").transport.sqs = SlowSqs(ns.sqs, 0.6)
    request = {"queue": "lead-processing", "jobs": [
        {"name": "process-lead", "data": {"leadId": i}, "opts": {"jobId": f"b-{i}"}} for i in range(120)]}
    # 3.2 s left, 3 s of them kept to answer: 8 sends start at once and take 0.6 s, the other 4 are not made.
    partial = api.invoke(api.event("POST", "/jobs", body=request),
                              LocalContext("api", deadline=time.monotonic() + 3.2))
    assert partial.status == 207, partial.text
    body = partial.json
    accepted = [job_id for job_id in body["jobIds"] if job_id]
    assert len(accepted) == 80
    assert {r["index"] for r in body["rejected"]} == {i for i, job_id in enumerate(body["jobIds"]) if job_id is None}
    assert all(r["mayRun"] is False and "ran out of time" in r["reason"] for r in body["rejected"])
    services().queue("lead-processing").transport.sqs = ns.sqs
    again = api.call("POST", "/jobs", body=request)
    assert again.status == 202 and again.json["jobIds"] == [f"b-{i}" for i in range(120)]
    LocalFunctions(ns, ["lead-processing"]).pump(lambda: messages_in(ns, "lead-processing") == 0, timeout=60)
    assert all(runs(f"b-{i}") == [1] for i in range(120))


@pytest.mark.parametrize("kind", ["error", "lost-reply", "kill", "kill-after"])
def test_a_scheduler_tick_retried_after_a_fault_runs_once(ns: Namespace, kind: Kind) -> None:
    tick = {"queue": "health-check", "name": "run-health-check", "data": {},
            "scheduledTime": "2026-03-29T01:05:00Z"}
    with contextlib.suppress(Exception, Killed):  # the invocation fails or dies: Scheduler retries the tick
        fire(tick, sqs=FaultySqs(ns.sqs, Fault(kind, sqs_down)))  # type: ignore[arg-type]
    scheduler = FunctionRunner("scheduler")
    job_id = schedule_job_id("run-health-check", datetime(2026, 3, 29, 1, 5, tzinfo=UTC))
    assert scheduler.invoke(tick)["jobId"] == job_id
    deliver_all(ns, "health-check")
    assert runs(job_id) == [1], "Scheduler's retry alone made the job run"
    Queue("health-check").resend_unsent(older_than_ms=0)
    deliver_all(ns, "health-check")
    assert runs(job_id) == [1]


@pytest.mark.parametrize("route", ["dlq/redrive", "retry-failed"])
def test_a_redrive_out_of_time_answers_what_it_did_and_the_same_request_again_finishes(
        ns: Namespace, api: ApiClient, route: str) -> None:
    queue = Queue("lead-processing")
    ids = queue.add_bulk([{"name": "process-lead", "data": {"leadId": i, "behavior": "unrecoverable-once"},
                           "opts": {"jobId": f"d-{i}"}} for i in range(30)])
    admin = services().admin("lead-processing")
    LocalFunctions(ns, ["lead-processing"], dead_letters=["lead-processing-dlq"]).pump(
        lambda: admin.dead_letter_count() == 30, timeout=60)
    admin.queue.transport.sqs = SlowSqs(ns.sqs, 0.6)
    # 3.8 s left, 3 s of them kept to answer: batches of 10 that would start after 0.8 s wait for the next request.
    first = api.invoke(api.event("POST", f"/queues/lead-processing/{route}", body={}),
                       LocalContext("api", deadline=time.monotonic() + 3.8))
    assert first.status == 200, first.text
    done = first.json["redriven" if route == "dlq/redrive" else "retried"]
    assert 0 < len(done) < 30 and first.json["remaining"] == 30 - len(done)
    admin.queue.transport.sqs = ns.sqs
    again = api.call("POST", f"/queues/lead-processing/{route}", body={})
    assert again.json["remaining"] == 0
    assert sorted(done + again.json["redriven" if route == "dlq/redrive" else "retried"]) == sorted(ids)
    deliver_all(ns)
    assert [runs(job_id) for job_id in ids] == [[1, 1]] * 30
    assert admin.dead_letter_count() == 0
