"""Webhook intake: signed GoHighLevel events become lead-enrichment jobs, once per event id, and run."""

from __future__ import annotations

import json
import threading
import time
from typing import cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from jobqueue import Queue
from jobqueue.api.errors import ConflictError, UnauthorizedError
from jobqueue.api.intake import WebhookIntake, event_job_id, sign
from jobqueue.api.services import services
from jobqueue.catalog import WebhookSource
from jobqueue.connection import redis_client
from jobqueue.keys import app_key
from jobqueue.local.runner import LocalContext
from tests.api.conftest import GHL_SECRET, Answer, ApiClient, ghl_contact_event, iso_now
from tests.conftest import Namespace
from tests.support.functions import LocalFunctions
from workloads.stores import LeadStore


def _waiting(ns: Namespace, queue: str = "lead-enrichment") -> list[str]:
    return cast("list[str]", ns.redis.lrange(ns.settings.queue_keys(queue).wait, 0, -1))


def test_signed_event_is_accepted_and_enriched_to_completion(ns: Namespace, api: ApiClient) -> None:
    answer = api.webhook(ghl_contact_event("wh-1", "c-42"))
    assert answer.status == 202, answer.text
    accepted = answer.json
    assert accepted == {"jobId": event_job_id("gohighlevel", "wh-1"), "queue": "lead-enrichment"}
    queue = Queue("lead-enrichment")
    assert queue.get_state(accepted["jobId"]) == "waiting"  # nothing ran in the request

    LocalFunctions(ns, ["lead-enrichment"]).pump(lambda: queue.get_state(accepted["jobId"]) == "completed", 15)
    job = queue.get_job(accepted["jobId"])
    assert job is not None
    assert job.name == "enrich-contact"
    assert job.returnvalue == {"contactId": "c-42", "email": "ada@example.com", "enriched": True}
    lead = LeadStore().get("c-42")
    assert lead is not None and lead["status"] == "SUCCEEDED"


def test_same_event_three_times_is_one_job_and_three_equal_answers(ns: Namespace, api: ApiClient) -> None:
    event = ghl_contact_event("wh-dup")
    answers = [api.webhook(event) for _ in range(3)]
    assert [a.status for a in answers] == [202, 202, 202]
    assert answers[0].json == answers[1].json == answers[2].json
    assert _waiting(ns) == [answers[0].json["jobId"]]
    # A different event id is a different job.
    assert api.webhook(ghl_contact_event("wh-other")).json["jobId"] != answers[0].json["jobId"]


def test_concurrent_deliveries_create_one_job(ns: Namespace, api: ApiClient) -> None:
    from jobqueue.api.services import services

    intake = services().intake("gohighlevel")
    body = json.dumps(ghl_contact_event("wh-race")).encode()
    from jobqueue.api.intake import sign
    from tests.api.conftest import GHL_SECRET

    signature = sign(GHL_SECRET, body)
    results: list[dict[str, str]] = []
    start = threading.Barrier(8)

    def deliver() -> None:
        start.wait()
        try:
            results.append(intake.accept(body, signature, LocalContext("api")))  # type: ignore[arg-type]
        except ConflictError:
            # Another delivery is mid-way: the sender retries, and then gets the recorded 202 answer.
            time.sleep(0.5)
            results.append(intake.accept(body, signature, LocalContext("api")))  # type: ignore[arg-type]

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 8
    assert {r["jobId"] for r in results} == {event_job_id("gohighlevel", "wh-race")}
    assert _waiting(ns) == [event_job_id("gohighlevel", "wh-race")]
    messages = ns.sqs.receive_message(QueueUrl=ns.queue_urls["lead-enrichment"], MaxNumberOfMessages=10,
                                      VisibilityTimeout=0).get("Messages", [])
    assert len(messages) == 1


def test_tampered_body_wrong_or_missing_signature_is_401_and_enqueues_nothing(ns: Namespace, api: ApiClient) -> None:
    body = json.dumps(ghl_contact_event("wh-bad")).encode()
    signed = api.webhook({}, raw=body)  # reference: the right signature works
    assert signed.status == 202
    ns.redis.delete(ns.settings.queue_keys("lead-enrichment").wait)

    tampered = body.replace(b"ada@example.com", b"eve@example.com")
    from jobqueue.api.intake import sign
    from tests.api.conftest import GHL_SECRET

    refused = [
        api.call("POST", "/webhooks/gohighlevel", raw=tampered, token=None,
                 headers={"X-GHL-Signature": sign(GHL_SECRET, body)}),
        api.webhook(ghl_contact_event("wh-bad-2"), secret="not-the-secret"),
        api.call("POST", "/webhooks/gohighlevel", raw=body, token=None),
        api.call("POST", "/webhooks/gohighlevel", raw=body, token=None, headers={"X-GHL-Signature": "zz"}),
    ]
    assert [r.status for r in refused] == [401, 401, 401, 401]
    assert all(r.json["error"] == "Unauthorized" for r in refused)
    assert _waiting(ns) == []


def test_unknown_source_is_404_and_malformed_body_is_400(ns: Namespace, api: ApiClient) -> None:
    assert api.webhook(ghl_contact_event("x"), source="stripe").status == 404
    not_json = api.webhook({}, raw=b"{not json")
    assert (not_json.status, not_json.json["message"]) == (
        400, "body: not valid JSON (Expecting property name enclosed in double quotes)")
    no_id = api.webhook({"type": "ContactCreate"})
    assert no_id.status == 400 and "body.webhookId" in no_id.json["message"]
    array = api.webhook({}, raw=b"[1, 2]")
    assert array.status == 400 and "JSON object" in array.json["message"]
    assert _waiting(ns) == []


def test_webhooks_need_no_service_token_and_ignore_one(ns: Namespace, api: ApiClient) -> None:
    event = api.event("POST", "/webhooks/gohighlevel", body=ghl_contact_event("wh-tok"), token="wrong")
    assert api.invoke(event).status == 401  # the signature header is missing: the token does not help


def test_send_time_outside_the_tolerance_is_401_and_unreadable_is_400(ns: Namespace, api: ApiClient) -> None:
    def sent(webhook_id: str, timestamp: object) -> Answer:
        return api.webhook({**ghl_contact_event(webhook_id), "timestamp": timestamp})

    stale, future = sent("wh-stale", iso_now(-400)), sent("wh-future", iso_now(400))
    assert (stale.status, future.status) == (401, 401)
    assert stale.json["message"].startswith("body.timestamp: 400 s old, outside the source's tolerance of 300 s")
    assert "s in the future, outside the source's tolerance of 300 s" in future.json["message"]
    for unreadable in (None, "yesterday", "2026-03-29T10:00:00", True, {"at": 1}):
        answer = sent("wh-unreadable", unreadable)
        assert (answer.status, answer.json["message"]) == (
            400, "body.timestamp: required, the send time (ISO 8601 with a zone, or Unix seconds or milliseconds)")
    assert _waiting(ns) == []
    # GoHighLevel's ISO form, and Unix seconds or milliseconds, as numbers or strings.
    now = time.time()
    accepted = [sent(f"wh-t{i}", t) for i, t in enumerate([iso_now(), int(now), str(int(now)), int(now * 1000)])]
    assert [a.status for a in accepted] == [202, 202, 202, 202]


def _intake(ns: Namespace, *, dedupe_window: int, timestamp_tolerance: int) -> WebhookIntake:
    """GoHighLevel's intake with other windows (the catalog's are a day and 300 s)."""
    source = ns.catalog.webhooks["gohighlevel"].model_copy(
        update={"dedupe_window": dedupe_window, "timestamp_tolerance": timestamp_tolerance})
    return WebhookIntake(source, Queue("lead-enrichment"), ns.redis,
                         key_prefix=app_key(ns.settings.prefix, "webhook:replay-test"))


CONTEXT = cast("LambdaContext", LocalContext("api"))


def _signed(event: dict[str, object]) -> tuple[bytes, str]:
    body = json.dumps(event).encode()
    return body, sign(GHL_SECRET, body)


def test_a_replay_inside_the_dedupe_window_is_answered_once_whatever_its_age(ns: Namespace,
                                                                              api: ApiClient) -> None:
    intake = _intake(ns, dedupe_window=3600, timestamp_tolerance=1)
    body, signature = _signed(ghl_contact_event("wh-replay-in"))
    first = intake.accept(body, signature, CONTEXT)
    time.sleep(2.2)  # the body is now older than the tolerance, its event id still recorded
    assert intake.accept(body, signature, CONTEXT) == first  # success, the recorded answer
    assert _waiting(ns) == [first["jobId"]]  # and no second job


def test_a_replay_after_the_dedupe_window_is_refused_by_its_send_time(ns: Namespace, api: ApiClient) -> None:
    """The window forgets the event id; the tolerance, shorter than the window, refuses the signed body."""
    intake = _intake(ns, dedupe_window=2, timestamp_tolerance=1)
    body, signature = _signed(ghl_contact_event("wh-replay-out"))
    first = intake.accept(body, signature, CONTEXT)
    queue = Queue("lead-enrichment")
    assert api.call("DELETE", f"/queues/lead-enrichment/jobs/{first['jobId']}").status == 200  # as retention would
    time.sleep(3.2)  # past the dedupe window: the record expired in Redis
    with pytest.raises(UnauthorizedError, match="outside the source's tolerance of 1 s"):
        intake.accept(body, signature, CONTEXT)
    assert queue.get_job(first["jobId"]) is None and _waiting(ns) == []


def test_a_tolerance_not_shorter_than_the_window_is_refused_by_the_catalog(ns: Namespace) -> None:
    fields = {"name": "s", "queue": "q", "job_name": "j", "secret": "S", "timestamp": "ts"}
    with pytest.raises(ValidationError, match=r"timestamp_tolerance \(600 s\) must be shorter than dedupe_window"):
        WebhookSource.model_validate({**fields, "dedupe_window": 600, "timestamp_tolerance": 600})
    assert WebhookSource.model_validate({**fields, "dedupe_window": 601, "timestamp_tolerance": 600})


def test_an_events_tenant_becomes_its_jobs_group(ns: Namespace, api: ApiClient) -> None:
    """GoHighLevel's `locationId` (the sub-account) is the source's `group`: the job's group and MessageGroupId."""
    answer = api.webhook(ghl_contact_event("wh-tenant"))
    assert answer.status == 202, answer.text
    job = Queue("lead-enrichment").get_job(answer.json["jobId"])
    assert job is not None and job.opts["group"] == {"id": "loc-9"}
    message = ns.sqs.receive_message(QueueUrl=ns.queue_urls["lead-enrichment"],
                                     MessageSystemAttributeNames=["MessageGroupId"])["Messages"][0]
    assert message["Attributes"]["MessageGroupId"] == "loc-9"
    # An event without one is a job without a group; one with a tenant that cannot be a group id is a 400.
    assert api.webhook({**ghl_contact_event("wh-none"), "locationId": None}).status == 202
    bad = api.webhook({**ghl_contact_event("wh-bad"), "locationId": "a:b"})
    assert bad.status == 400 and "locationId" in bad.text
    assert _waiting(ns) == [answer.json["jobId"], event_job_id("gohighlevel", "wh-none")][::-1]


def test_an_unreachable_idempotency_store_is_a_503_that_adds_nothing_and_a_retry_runs_once(
        ns: Namespace, api: ApiClient) -> None:
    # The intake's idempotency records live in Redis; with its Redis refusing connections the sender is asked to
    # retry, and nothing was enqueued.
    svc = services()
    config = svc.catalog.webhooks["gohighlevel"]
    svc._intakes["gohighlevel"] = WebhookIntake(config, svc.queue(config.queue), redis_client("redis://127.0.0.1:1/0"),
                                                key_prefix=app_key(ns.settings.prefix, "webhook:gohighlevel"))
    event = ghl_contact_event("wh-store-down", "c-9")
    refused = api.webhook(event)
    assert refused.status == 503, refused.text
    assert "IdempotencyPersistenceLayerError" in refused.json["message"]
    assert _waiting(ns) == []
    del svc._intakes["gohighlevel"]
    retried = api.webhook(event)
    assert retried.status == 202, retried.text
    assert _waiting(ns) == [event_job_id("gohighlevel", "wh-store-down")]
