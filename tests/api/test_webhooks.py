"""Webhook intake: signed GoHighLevel events become lead-enrichment jobs, once per event id, and run."""

from __future__ import annotations

import json
import threading
import time
from typing import cast

from jobqueue import Queue
from jobqueue.api.errors import ConflictError
from jobqueue.api.intake import event_job_id
from jobqueue.keys import QueueKeys
from jobqueue.local.runner import LocalContext
from tests.api.conftest import ApiClient, ghl_contact_event
from tests.conftest import Namespace
from tests.support.functions import LocalFunctions
from workloads.stores import LeadStore


def _waiting(ns: Namespace, queue: str = "lead-enrichment") -> list[str]:
    return cast("list[str]", ns.redis.lrange(QueueKeys(ns.settings.prefix, queue).wait, 0, -1))


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
    ns.redis.delete(QueueKeys(ns.settings.prefix, "lead-enrichment").wait)

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
    assert (not_json.status, not_json.json["message"]) == (400, "body: not valid JSON (JSONDecodeError)")
    no_id = api.webhook({"type": "ContactCreate"})
    assert no_id.status == 400 and "body.webhookId" in no_id.json["message"]
    array = api.webhook({}, raw=b"[1, 2]")
    assert array.status == 400 and "JSON object" in array.json["message"]
    assert _waiting(ns) == []


def test_webhooks_need_no_service_token_and_ignore_one(ns: Namespace, api: ApiClient) -> None:
    event = api.event("POST", "/webhooks/gohighlevel", body=ghl_contact_event("wh-tok"), token="wrong")
    assert api.invoke(event).status == 401  # the signature header is missing: the token does not help
