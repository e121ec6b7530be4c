"""The API is as strict as BullMQ's types, answers 405 with `Allow` for a wrong method, shows a job's options, stack
traces and logs (BullMQ's `getJobLogs`), and lets a scrape token read `/metrics` and nothing else."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from jobqueue import Queue
from jobqueue.cli import _show_job
from jobqueue.scripts import Finish
from tests.api.conftest import ApiClient
from tests.conftest import Namespace

SCRAPE_TOKEN = "test-scrape-token-77c2"


@pytest.mark.parametrize(("opts", "field"), [
    ({"priority": "1"}, "body.opts.priority"),
    ({"priority": 1.5}, "body.opts.priority"),
    ({"attempts": "3"}, "body.opts.attempts"),
    ({"attempts": 2.0}, "body.opts.attempts"),
    ({"delay": "1000"}, "body.opts.delay"),
    ({"backoff": {"type": "fixed", "delay": "500"}}, "body.opts.backoff.delay"),
    ({"backoff": {"type": "fixed", "delay": 500, "jitter": "0.5"}}, "body.opts.backoff.jitter"),
    ({"removeOnComplete": {"count": "10"}}, "body.opts.removeOnComplete.count"),
    ({"ttl": "1000"}, "body.opts.ttl"),
])
def test_numbers_must_be_numbers_of_the_right_kind(ns: Namespace, api: ApiClient, opts: dict[str, Any],
                                                   field: str) -> None:
    answer = api.call("POST", "/jobs", body={"queue": "email", "name": "generic", "data": {}, "opts": opts})
    assert answer.status == 400, answer.text
    assert [f["field"] for f in answer.json["fields"]] == [field]
    assert Queue("email").get_job_counts()["prioritized"] + Queue("email").get_job_counts()["waiting"] == 0


@pytest.mark.parametrize("body", [
    {"queue": "email", "name": "generic", "data": "hello"},
    {"queue": "email", "name": "generic", "data": [1, 2]},
    {"queue": "email", "name": "generic", "data": None},
    {"jobType": "send-message", "data": 5},
    {"queue": "email", "jobs": [{"name": "generic", "data": "hello"}]},
])
def test_job_data_must_be_a_json_object(ns: Namespace, api: ApiClient, body: dict[str, Any]) -> None:
    answer = api.call("POST", "/jobs", body=body)
    assert answer.status == 400, answer.text
    [error] = answer.json["fields"]
    assert error["field"] in ("body.data", "body.jobs[0].data")
    assert error["message"] == "Input should be a valid dictionary"


def test_omitted_data_is_an_empty_object(ns: Namespace, api: ApiClient) -> None:
    answer = api.call("POST", "/jobs", body={"queue": "email", "name": "generic"})
    assert answer.status == 202, answer.text
    assert api.call("GET", f"/queues/email/jobs/{answer.json['jobId']}").json["data"] == {}


def test_attempts_above_the_queue_maximum_is_refused_naming_the_maximum(ns: Namespace, api: ApiClient) -> None:
    answer = api.call("POST", "/jobs", body={"queue": "email", "name": "generic", "opts": {"attempts": 7}})
    assert answer.status == 400
    limit = ns.catalog.queue("email").max_attempts
    assert f"attempts 7 exceeds the queue's limit of {limit}" in answer.json["message"]


def test_an_unknown_job_type_is_named_as_a_job_type(ns: Namespace, api: ApiClient) -> None:
    answer = api.call("POST", "/jobs", body={"jobType": "sned-message", "data": {}})
    assert answer.status == 400
    assert answer.json["message"].startswith("unknown job type 'sned-message'; known job types: ")
    assert "send-message" in answer.json["message"] and "queue" not in answer.json["message"]


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/queues/email", "GET"),
    ("DELETE", "/jobs", "POST"),
    ("GET", "/jobs", "POST"),
    ("POST", "/queues/email/jobs/abc", "DELETE, GET"),
    ("PATCH", "/queues/email/dlq/email-1", "DELETE"),
    ("GET", "/queues/email/pause", "POST"),
])
def test_a_wrong_method_is_405_with_allow(ns: Namespace, api: ApiClient, method: str, path: str,
                                          allowed: str) -> None:
    answer = api.call(method, path)
    assert (answer.status, answer.headers["allow"]) == (405, allowed), answer.text
    assert answer.json == {"error": "Method Not Allowed",
                           "message": f"{method} is not allowed on {path}; allowed: {allowed}"}


def test_an_unknown_path_stays_404(ns: Namespace, api: ApiClient) -> None:
    answer = api.call("GET", "/queues/email/nothing/here")
    assert (answer.status, "allow" in answer.headers) == (404, False)


def test_status_shows_options_and_every_attempts_stack_trace_up_to_the_limit(ns: Namespace, api: ApiClient) -> None:
    queue = Queue("email")
    job_id = queue.add("generic", {"to": "a@x.io"}, jobId="traced", delay=60_000)
    keys = ns.settings.queue_keys("email")
    for attempt in range(1, 13):  # each failed attempt as the worker records it: active, then a retry
        ns.redis.zrem(keys.delayed, job_id)
        ns.redis.lpush(keys.active, job_id)
        now = int(time.time() * 1000)
        queue.scripts.move_to_finished([Finish(job_id, "retry", attempt, f"boom {attempt}",
                                               json.dumps([f"Traceback: boom {attempt}"]), due_at=now + 60_000)], now)
    status = api.call("GET", f"/queues/email/jobs/{job_id}").json
    opts = ns.catalog.queue("email").jobs["generic"]
    assert {k: status["opts"][k] for k in ("attempts", "delay", "jobId", "priority")} == {
        "attempts": opts.attempts, "delay": 60_000, "jobId": "traced", "priority": opts.priority}
    assert status["stacktrace"] == [f"Traceback: boom {n}" for n in range(3, 13)]
    assert (status["attemptsMade"], status["failedReason"]) == (12, "boom 12")
    shown = io.StringIO()
    _show_job(status, shown)  # what `jobqueue status email traced` prints
    lines = dict(line.split(":", 1) for line in shown.getvalue().splitlines())
    assert lines["stack traces"].strip() == "10, last: Traceback: boom 12"
    assert lines["options"].strip().startswith('{"attempts":3,')


def test_logs_route_answers_bullmq_get_job_logs(ns: Namespace, api: ApiClient) -> None:
    queue = Queue("email")
    job_id = queue.add("generic", {})
    for n in range(5):
        queue.scripts.add_log(job_id, f"line {n}")
    path = f"/queues/email/jobs/{job_id}/logs"
    assert api.call("GET", path).json == {"logs": [f"line {n}" for n in range(5)], "count": 5}
    assert api.call("GET", f"{path}?start=1&end=2").json == {"logs": ["line 1", "line 2"], "count": 5}
    assert api.call("GET", f"{path}?asc=false").json == {"logs": [f"line {n}" for n in (4, 3, 2, 1, 0)], "count": 5}
    assert api.call("GET", f"{path}?start=0&end=1&asc=false").json == {"logs": ["line 4", "line 3"], "count": 5}
    assert api.call("GET", f"/queues/email/jobs/{queue.add('generic', {})}/logs").json == {"logs": [], "count": 0}
    bad = api.call("GET", f"{path}?start=0&end=5000")
    assert (bad.status, bad.json["message"]) == (400, "query.end: must be -1 or between start and start + 999")
    assert api.call("GET", "/queues/email/jobs/nope/logs").status == 404


def test_the_scrape_token_opens_metrics_and_nothing_else(ns: Namespace, api: ApiClient,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert api.call("GET", "/metrics", token=SCRAPE_TOKEN).status == 401  # not configured: refused
    monkeypatch.setenv("METRICS_TOKEN", SCRAPE_TOKEN)
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    scraped = api.call("GET", "/metrics", token=SCRAPE_TOKEN)
    assert scraped.status == 200 and "bullmq_job_count" in scraped.text
    assert api.call("GET", "/metrics/", token=SCRAPE_TOKEN).status == 200
    assert api.call("GET", "/metrics").status == 200  # the service token still works
    for method, path in (("GET", "/queues"), ("GET", "/stats"), ("POST", "/queues/email/pause")):
        assert api.call(method, path, token=SCRAPE_TOKEN).status == 401, (method, path)
    assert api.call("GET", "/metrics", token="wrong").status == 401
