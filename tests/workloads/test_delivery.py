"""Seeds 003 and 004 end to end: email over STARTTLS with priorities, search indexing from domain events and
backfills, Web Push with VAPID, and signed outgoing webhooks."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

import standins
from jobqueue import Queue
from jobqueue.connection import aws_client
from jobqueue.local.runner import LocalContext
from tests.conftest import Namespace
from tests.support.functions import LocalFunctions
from workloads.events import SOURCE, create_bus
from workloads.search_api import router

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def test_password_reset_arrives_before_a_backlog_of_generic_emails(ns: Namespace,
                                                                   stand_ins: standins.Running) -> None:
    sink = stand_ins.smtp
    before = len(sink.messages)
    queue = Queue("email")
    queue.add_bulk([{"name": "generic", "data": {"to": f"user{i}@example.com", "subject": f"News {i}",
                                                 "message": "Hello <there>"}} for i in range(15)])
    reset_id = queue.add("password_reset", {"to": "ada@example.com", "resetUrl": "https://app.example.com/r/abc"})

    LocalFunctions(ns, ["email"]).pump(lambda: len(sink.messages) - before == 16, 60)
    delivered = sink.messages[before:]
    first = delivered[0].message
    assert first["Subject"] == "Reset your password" and delivered[0].recipients == ["ada@example.com"]
    assert "https://app.example.com/r/abc" in first.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    generic = delivered[1].message
    assert "Hello &lt;there&gt;" in generic.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert Queue("email").get_state(reset_id) == "completed"


def test_invalid_email_job_fails_at_once(ns: Namespace) -> None:
    queue = Queue("email")
    job_id = queue.add("password_reset", {"to": "not-an-address", "resetUrl": "https://x.example/r"})
    LocalFunctions(ns, ["email"], ["dead"]).pump(lambda: queue.get_state(job_id) == "failed", 20)
    job = queue.get_job(job_id)
    assert job is not None and job.attemptsMade == 1 and "invalid job data: to" in (job.failedReason or "")


def test_entity_event_leads_to_its_document_in_the_search_engine(ns: Namespace,
                                                                 stand_ins: standins.Running) -> None:
    events = aws_client("events")
    bus = f"{ns.settings.sqs_name_prefix}domain-events"
    search_arn = ns.sqs.get_queue_attributes(QueueUrl=ns.queue_urls["search"], AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    create_bus(events, bus, search_arn, ns.catalog)
    doc = {"title": "Quarterly report", "tags": ["finance"]}
    answer = events.put_events(Entries=[{"Source": SOURCE, "DetailType": "EntityChanged", "EventBusName": bus,
                                         "Detail": json.dumps({"entity": "post", "id": "p-7", "doc": doc})}])
    assert answer["FailedEntryCount"] == 0
    indexes: dict[str, dict[str, Any]] = stand_ins.http["search"].state["indexes"]

    LocalFunctions(ns, ["search"]).pump(lambda: "p-7" in indexes.get("post", {}), 20)
    assert indexes["post"]["p-7"] == {**doc, "id": "p-7"}
    job = Queue("search").get_job(f"evt-{answer['Entries'][0]['EventId']}")
    assert job is not None and job.name == "index_doc" and job.state == "completed"


def _put_backfill(entity: str) -> dict[str, Any]:
    """`PUT /search/index/{entity}` through a resolver that mounts the route as the API will."""
    app = APIGatewayRestResolver(enable_validation=True)
    app.include_router(router)
    event = {"httpMethod": "PUT", "path": f"/search/index/{entity}", "resource": "/search/index/{entity}",
             "pathParameters": {"entity": entity}, "headers": {}, "requestContext": {"requestId": "r1"},
             "body": None, "isBase64Encoded": False, "queryStringParameters": None}
    return app.resolve(event, cast("LambdaContext", LocalContext("api")))


def test_backfill_route_enqueues_and_the_backfill_indexes_in_pages(ns: Namespace,
                                                                   stand_ins: standins.Running) -> None:
    answer = _put_backfill("ticket")
    assert answer["statusCode"] == 200 and json.loads(answer["body"]) == {"enqueued": True}
    queue = Queue("search")
    assert queue.get_job_counts()["waiting"] == 1

    page_job = queue.add("backfill", {"entity": "invoice", "pageSize": 50})
    LocalFunctions(ns, ["search"]).pump(lambda: queue.get_job_counts()["completed"] == 2, 30)
    indexes = stand_ins.http["search"].state["indexes"]
    assert len(indexes["ticket"]) == 120 and len(indexes["invoice"]) == 120
    job = queue.get_job(page_job)
    assert job is not None
    assert job.progress == {"pages": 3, "indexed": 120, "done": True}
    assert len(stand_ins.http["search"].requests_to("/api/_bulk")) == 4  # ticket in one page, invoice in three


def test_backfill_route_refuses_a_bad_entity_name(ns: Namespace) -> None:
    assert _put_backfill("Bad!")["statusCode"] == 422
    assert Queue("search").get_job_counts()["waiting"] == 0


def test_push_notification_is_delivered_with_vapid(ns: Namespace, stand_ins: standins.Running) -> None:
    push = stand_ins.push
    subscription = push.new_subscription()
    queue = Queue("notification")
    job_id = queue.add("push", {"subscription": subscription, "payload": {"title": "New message", "chat": "c1"}})
    gone = queue.add("push", {"subscription": {**subscription, "endpoint": f"{push.url}/push/unknown"},
                              "payload": {"title": "lost"}})

    LocalFunctions(ns, ["notification"], ["dead"]).pump(
        lambda: queue.get_state(job_id) == "completed" and queue.get_state(gone) == "failed", 30)
    subscription_id = subscription["endpoint"].rsplit("/", 1)[1]
    assert push.state["received"][subscription_id] == [{"title": "New message", "chat": "c1"}]
    failed = queue.get_job(gone)
    assert failed is not None and failed.attemptsMade == 1 and "gone (HTTP 410)" in (failed.failedReason or "")


def test_outgoing_webhook_is_signed_and_retried(ns: Namespace, stand_ins: standins.Running) -> None:
    receiver = stand_ins.http["webhook-receiver"]
    receiver.fail("/hooks/orders", status=500)
    queue = Queue("webhooks")
    job_id = queue.add("order.created", {"url": f"{receiver.url}/hooks/orders", "event": "order.created",
                                         "payload": {"orderId": 17}})
    LocalFunctions(ns, ["webhooks"]).pump(lambda: queue.get_state(job_id) == "completed", 20)
    calls = receiver.requests_to("/hooks/orders")
    assert [c.status for c in calls] == [500, 204]  # 204: the receiver checked the signature
    assert calls[0].headers["x-webhook-id"] == calls[1].headers["x-webhook-id"] == job_id
    assert receiver.state["deliveries"][job_id] == {"id": job_id, "event": "order.created", "data": {"orderId": 17}}
