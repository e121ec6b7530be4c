"""Every route of the OpenAPI document answers as documented; invalid requests are 400s naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from jobqueue import Queue
from jobqueue.api import openapi_document
from tests.api.conftest import Answer, ApiClient, ghl_contact_event
from tests.conftest import ROOT, Namespace
from tests.support.functions import LocalFunctions
from tests.support.mappings import create_worker_mappings

DOCUMENT = openapi_document()


def operations() -> set[tuple[str, str]]:
    return {(method.upper(), template) for template, item in DOCUMENT["paths"].items() for method in item}


def check(answer: Answer, method: str, template: str) -> Any:
    """The answer's status is documented for the operation and its body matches the documented schema."""
    responses = DOCUMENT["paths"][template][method.lower()]["responses"]
    assert str(answer.status) in responses, (method, template, answer.status, answer.text)
    content = responses[str(answer.status)].get("content", {})
    if "application/json" in content:
        schema = {"allOf": [content["application/json"]["schema"]], "components": DOCUMENT["components"]}
        body = answer.json
        jsonschema_rs.validator_for(schema).validate(body)
        return body
    assert answer.headers["content-type"].split(";")[0] in (content or {"text/plain": {}})
    return answer.text


class Tour:
    """Calls routes, checks each answer against the document, and remembers which operations were covered."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.covered: set[tuple[str, str]] = set()

    def __call__(self, method: str, path: str, template: str, status: int, **kwargs: Any) -> Any:
        answer = self.api.call(method, path, **kwargs)
        assert answer.status == status, (method, path, answer.text)
        self.covered.add((method, template))
        return check(answer, method, template)


@pytest.mark.cluster  # also run on a real Redis Cluster (tests/conftest.py)
def test_every_documented_route_answers_as_documented(ns: Namespace, api: ApiClient) -> None:
    tour = Tour(api)
    # Jobs: the three POST /jobs forms and seed 002's inline rule.
    one = tour("POST", "/jobs", "/jobs", 202, body={"queue": "email", "name": "generic", "data": {"to": "a@x.io"}})
    assert one["queue"] == "email"
    bulk = tour("POST", "/jobs", "/jobs", 202,
                body={"queue": "email", "jobs": [{"name": "generic", "data": {"n": i}} for i in range(3)]})
    assert len(bulk["jobIds"]) == 3
    typed = tour("POST", "/jobs", "/jobs", 202, body={"jobType": "send-message", "data": {"text": "hi"}})
    assert typed["queue"] == "message-processing"
    inline = tour("POST", "/jobs", "/jobs", 200,
                  body={"jobType": "bulk-availability-check", "data": {"leadIds": ["l1", "l2"], "userId": "u"}})
    assert inline == {"queue": "bulk-availability", "jobType": "bulk-availability-check", "mode": "sync",
                      "result": {"checked": 2, "available": {"l1": False, "l2": True}}}
    many = [f"lead{i}" for i in range(11)]
    queued = tour("POST", "/jobs", "/jobs", 202, body={"jobType": "bulk-availability-check", "data": {"leadIds": many}})
    assert queued["queue"] == "bulk-availability"
    assert Queue("bulk-availability").get_job(queued["jobId"]) is not None
    # A route from the catalog's `routers` (seed 004's backfill).
    assert tour("PUT", "/search/index/ticket", "/search/index/{entity}", 200) == {"enqueued": True}

    # Webhooks.
    answer = api.webhook(ghl_contact_event("wh-tour"))
    assert answer.status == 202
    check(answer, "POST", "/webhooks/{source}")
    tour.covered.add(("POST", "/webhooks/{source}"))

    # Queues.
    catalog = tour("GET", "/queues", "/queues", 200)
    assert {q["name"] for q in catalog["queues"]} == set(ns.catalog.queues)
    metrics = tour("GET", "/queues/email", "/queues/{queue}", 200)
    assert metrics == {"queueName": "email", "waiting": 4, "active": 0, "completed": 0, "failed": 0, "delayed": 0,
                       "paused": 0, "total": 4,
                       "eventSources": {"enabled": 0, "disabled": 0, "transitioning": 0, "stopped": True}}
    stats = tour("GET", "/stats", "/stats", 200)
    # email, message-processing, bulk-availability, the search backfill, the webhook's job
    assert stats["totals"]["waiting"] == 4 + 1 + 1 + 1 + 1
    assert set(stats["deadLetters"]) == set(ns.catalog.dead_letters)
    # email's "generic" jobs have priority 5: they wait in BullMQ's prioritized set, listed newest first.
    listed = tour("GET", "/queues/email/jobs?state=prioritized&start=0&end=1", "/queues/{queue}/jobs", 200)
    assert [j["id"] for j in listed["jobs"]] == list(reversed(bulk["jobIds"]))[:2]
    assert tour("GET", "/queues/email/jobs", "/queues/{queue}/jobs", 200)["state"] == "waiting"
    status = tour("GET", f"/queues/email/jobs/{one['jobId']}", "/queues/{queue}/jobs/{job_id}", 200)
    assert (status["state"], status["name"], status["data"]) == ("prioritized", "generic", {"to": "a@x.io"})
    assert set(status) == {"id", "name", "data", "opts", "state", "progress", "attemptsMade", "processedOn",
                           "finishedOn", "returnvalue", "failedReason", "stacktrace", "parent", "children"}
    assert (status["opts"]["priority"], status["stacktrace"]) == (5, [])
    Queue("email").scripts.add_log(one["jobId"], "queued")
    logs = tour("GET", f"/queues/email/jobs/{one['jobId']}/logs", "/queues/{queue}/jobs/{job_id}/logs", 200)
    assert logs == {"logs": ["queued"], "count": 1}
    create_worker_mappings(ns, "email")
    stopped = {"enabled": 0, "disabled": 2, "transitioning": 0, "stopped": True}
    running = {"enabled": 2, "disabled": 0, "transitioning": 0, "stopped": False}
    assert tour("POST", "/queues/email/pause", "/queues/{queue}/pause", 200) == {
        "queue": "email", "paused": True, "eventSources": stopped}
    assert tour("GET", "/queues/email", "/queues/{queue}", 200)["eventSources"] == stopped
    assert tour("POST", "/queues/email/resume", "/queues/{queue}/resume", 200) == {
        "queue": "email", "paused": False, "eventSources": running}
    removed = tour("DELETE", f"/queues/email/jobs/{one['jobId']}", "/queues/{queue}/jobs/{job_id}", 200)
    assert removed == {"queue": "email", "jobId": one["jobId"], "removed": True}
    assert tour("POST", "/queues/email/drain", "/queues/{queue}/drain", 200) == {"queue": "email", "removed": 3}

    # Finished and failed jobs, and a dead letter, by running the workers.
    done = Queue("email").add("generic", {"behavior": "ok"})
    dead = Queue("lead-processing").add("process-lead", {"leadId": 5, "behavior": "unrecoverable"})
    functions = LocalFunctions(ns, ["email", "lead-processing"], ["lead-processing-dlq"])
    functions.pump(lambda: Queue("email").get_state(done) == "completed"
                   and ns.redis.llen(ns.settings.queue_keys("lead-processing-dlq").wait) == 1, 15)
    cleaned = tour("POST", "/queues/email/clean", "/queues/{queue}/clean", 200,
                   body={"grace": 0, "limit": 10, "state": "completed"})
    assert cleaned == {"queue": "email", "state": "completed", "removed": [done]}
    tour("POST", "/queues/email/clean", "/queues/{queue}/clean", 200)  # no body: the defaults
    letters = tour("GET", "/queues/lead-processing/dlq", "/queues/{queue}/dlq", 200)
    assert letters["deadLetterQueue"] == "lead-processing-dlq"
    [record] = letters["records"]
    assert (record["originalJobId"], record["error"], record["attemptsMade"]) == (dead, "lead has no address", 1)
    assert tour("DELETE", f"/queues/lead-processing/dlq/{record['recordId']}", "/queues/{queue}/dlq/{record_id}",
                200)["removed"] is True
    assert tour("POST", "/queues/lead-processing/dlq/redrive", "/queues/{queue}/dlq/redrive", 200,
                body={}) == {"queue": "lead-processing", "redriven": [], "remaining": 0}
    timeline = tour("GET", f"/queues/lead-processing/jobs/{dead}/timeline", "/queues/{queue}/jobs/{job_id}/timeline",
                    200)
    assert [a["outcome"] for a in timeline["attempts"]] == ["failed"]
    retried = tour("POST", "/queues/lead-processing/retry-failed", "/queues/{queue}/retry-failed", 200,
                   body={"limit": 10})
    assert retried == {"queue": "lead-processing", "retried": [dead], "remaining": 0}
    assert tour("POST", f"/queues/lead-processing/jobs/{dead}/retry", "/queues/{queue}/jobs/{job_id}/retry",
                409)["error"] == "Conflict"

    # Promote: one delayed job, then every delayed one.
    later = [Queue("email").add("generic", {"i": i}, delay=3_600_000) for i in range(2)]
    assert tour("POST", f"/queues/email/jobs/{later[0]}/promote", "/queues/{queue}/jobs/{job_id}/promote", 200) == {
        "queue": "email", "jobId": later[0], "promoted": True}
    assert tour("POST", f"/queues/email/jobs/{later[0]}/promote", "/queues/{queue}/jobs/{job_id}/promote",
                409)["error"] == "Conflict"
    assert tour("POST", "/queues/email/promote", "/queues/{queue}/promote", 200, body={"limit": 10}) == {
        "queue": "email", "promoted": [later[1]], "remaining": 0}

    # Schedules and operations.
    schedules = tour("GET", "/schedules", "/schedules", 200)["schedules"]
    assert {(s["queue"], s["pattern"]) for s in schedules} >= {("scheduled-messages", "* * * * *"),
                                                               ("health-check", "*/5 * * * *")}
    assert all(len(s["nextRuns"]) == 3 for s in schedules)
    changes = tour("POST", "/schedules/initialize", "/schedules/initialize", 200)["changes"]
    assert {c["action"] for c in changes} <= {"created", "updated"} and len(changes) == len(schedules)
    digest = f"digest-{ns.settings.prefix}"
    added = tour("POST", "/schedules", "/schedules", 201,
                 body={"queue": "email", "name": digest, "pattern": "0 9 * * *", "tz": "Europe/Berlin"})
    assert (added["expression"], added["tz"]) == ("cron(0 9 ? * * *)", "Europe/Berlin")
    assert tour("DELETE", f"/schedules/{digest}", "/schedules/{name}", 200)["removed"] is True
    health = tour("GET", "/health", "/health", 200, token=None)
    assert {k: health[k] for k in ("status", "redis", "sqs")} == {"status": "ok", "redis": {"ok": True, "error": None},
                                                                  "sqs": {"ok": True, "error": None}}
    assert health["memory"]["usedBytes"] > 0
    text = tour("GET", "/metrics", "/metrics", 200)
    assert 'bullmq_job_count{queue="lead-processing", state="waiting"} 1' in text

    # Flows.
    flow = tour("POST", "/flows", "/flows", 202, body={"name": "generic", "queueName": "email", "children": [
        {"name": "process-lead", "queueName": "lead-processing", "data": {"leadId": 6}}]})
    parent = tour("GET", f"/queues/email/jobs/{flow['id']}", "/queues/{queue}/jobs/{job_id}", 200)
    assert (parent["state"], parent["children"]["unprocessed"]) == (
        "waiting-children", [ns.settings.queue_keys("lead-processing").job(flow["children"][0]["id"])])

    # The dashboard's files and routes.
    assert "<main" in tour("GET", "/dashboard", "/dashboard", 200, token=None)
    assert "sessionStorage" in tour("GET", "/dashboard/app.js", "/dashboard/{asset}", 200, token=None)
    assert tour("GET", "/session", "/session", 200) == {"readOnly": False}
    overview = tour("GET", "/overview", "/overview", 200)
    assert {q["queueName"] for q in overview["queues"]} == set(ns.catalog.queues)

    assert tour.covered == operations()


def test_errors_are_mapped_to_documented_statuses(ns: Namespace, api: ApiClient) -> None:
    tour = Tour(api)
    tour("GET", "/queues/nope", "/queues/{queue}", 404)
    tour("GET", "/queues/email/jobs/12345", "/queues/{queue}/jobs/{job_id}", 404)
    tour("DELETE", "/queues/email/jobs/12345", "/queues/{queue}/jobs/{job_id}", 404)
    tour("DELETE", "/queues/email/dlq/email-1", "/queues/{queue}/dlq/{record_id}", 404)
    tour("POST", "/queues/email/dlq/redrive", "/queues/{queue}/dlq/redrive", 404, body={"recordIds": ["email-9"]})
    unknown = tour("POST", "/jobs", "/jobs", 400, body={"jobType": "no-such-type", "data": {}})
    assert unknown["message"].startswith("unknown job type 'no-such-type'; known job types: ")
    tour("GET", "/queues/email/jobs/12345/logs", "/queues/{queue}/jobs/{job_id}/logs", 404)
    tour("POST", "/jobs", "/jobs", 404, body={"queue": "nope", "name": "x"})
    big = tour("POST", "/jobs", "/jobs", 413,
               body={"queue": "email", "name": "generic", "data": {"text": "x" * 300_000}})
    assert "exceeds the limit" in big["message"]
    running = Queue("email").add("generic", {})
    keys = ns.settings.queue_keys("email")
    ns.redis.lrem(keys.wait, 0, running)
    ns.redis.lpush(keys.active, running)  # as if a worker had started it
    tour("DELETE", f"/queues/email/jobs/{running}", "/queues/{queue}/jobs/{job_id}", 409)
    tour("POST", "/jobs", "/jobs", 415, raw=b"queue=email", headers={"Content-Type": "text/plain"})
    answer = api.call("GET", "/no/such/route")
    assert (answer.status, answer.json["error"]) == (404, "Not Found")


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/jobs", {"queue": "email"}, "body.name"),
    ("POST", "/jobs", {"queue": "email", "name": "generic", "opts": {"attempts": 0}}, "body.opts.attempts"),
    ("POST", "/jobs", {"queue": "email", "name": "generic", "opts": {"jobId": "a:b"}}, "body.opts.jobId"),
    ("POST", "/jobs", {"queue": "email", "name": "generic", "colour": "red"}, "body.colour"),
    ("POST", "/jobs", {"jobType": 5}, "body.jobType"),
    ("POST", "/jobs", {"queue": "email", "jobs": [{"data": 1}]}, "body.jobs[0].name"),
    ("POST", "/jobs", {"queue": "email", "jobs": []}, "body.jobs"),
    ("POST", "/jobs", {"jobType": "bulk-availability-check", "data": {"leadIds": "l1"}}, "body.data.leadIds"),
    ("POST", "/jobs", "not json", "body"),
    ("POST", "/jobs", None, "body"),
    ("POST", "/queues/email/clean", {"state": "active"}, "body.state"),
    ("POST", "/queues/email/clean", {"grace": -1}, "body.grace"),
    ("POST", "/queues/email/drain", {"includeDelayed": "maybe"}, "body.includeDelayed"),
    ("POST", "/queues/email/dlq/redrive", {"recordIds": "all"}, "body.recordIds"),
    ("GET", "/queues/email/jobs?state=bogus", None, "query.state"),
    ("GET", "/queues/email/jobs?start=abc", None, "query.start"),
    ("GET", "/queues/email/jobs?start=5&end=2", None, "query.end"),
    ("GET", "/queues/email/dlq?end=5000", None, "query.end"),
])
def test_invalid_requests_are_400_naming_the_field(api: ApiClient, method: str, path: str, body: Any,
                                                   field: str) -> None:
    raw = body.encode() if isinstance(body, str) else None
    answer = api.call(method, path, body=None if raw else body, raw=raw)
    assert answer.status == 400, answer.text
    error = answer.json
    named = [f["field"] for f in error.get("fields") or []] or [error["message"].split(":")[0]]
    assert field in named, error
    assert field in error["message"]


def test_committed_openapi_json_equals_the_served_document(api: ApiClient) -> None:
    served = api.call("GET", "/openapi.json", token=None)
    assert served.status == 200
    committed = json.loads((ROOT / "openapi.json").read_text())
    assert served.json == committed, "openapi.json is stale: run `python -m jobqueue.api.openapi > openapi.json`"
    assert Path(ROOT / "openapi.json").read_text().endswith("\n")


def test_security_requirements_match_the_guard() -> None:
    """Only the public routes lack the bearer requirement, in the document and in the guard alike."""
    from jobqueue.api.auth import PUBLIC_ROUTES

    unsecured = {(m, t) for m, t in operations() if "security" not in DOCUMENT["paths"][t][m.lower()]}
    assert unsecured == {r for r in PUBLIC_ROUTES if r[1] != "/openapi.json"}
