"""The local HTTP adapter: HTTP requests become API Gateway REST proxy events and proxy responses become HTTP."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from jobqueue.api.intake import sign
from jobqueue.local import dev
from jobqueue.local.http import ApiServer, RouteTable
from jobqueue.local.runner import FunctionRunner
from tests.api.conftest import GHL_SECRET, TOKEN, ApiClient, ghl_contact_event
from tests.conftest import Namespace


class Recorder:
    """Stands in for the API function: keeps the events, answers with multi-value headers and a binary body."""

    function = "recorder"

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 207, "headers": {"Content-Type": "application/octet-stream"},
                "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
                "body": base64.b64encode(b"\x00\xffbinary").decode(), "isBase64Encoded": True}


def fetch(method: str, url: str, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers.items()) | {
                "_multi": response.headers.get_all("Set-Cookie")}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def test_requests_become_rest_proxy_events_and_responses_become_http() -> None:
    recorder = Recorder()
    server = ApiServer(port=0, runner=recorder)
    server.start()
    try:
        status, headers, body = fetch(
            "POST", f"{server.url}/queues/lead%2Dprocessing/jobs/abc?state=failed&tag=a&tag=b&empty=",
            body=b"\xff\xfe not utf-8", headers={"X-Multi": "1", "Content-Type": "application/json"})
        status2, _, _ = fetch("POST", f"{server.url}/queues/lead-processing/dlq/redrive", body=b'{"x": 1}')
    finally:
        server.stop()
    assert (status, body, headers["_multi"]) == (207, b"\x00\xffbinary", ["a=1", "b=2"])
    assert status2 == 207
    event, redrive = recorder.events
    assert event["resource"] == "/queues/{queue}/jobs/{job_id}"
    assert event["path"] == "/queues/lead-processing/jobs/abc"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"queue": "lead-processing", "job_id": "abc"}
    assert event["queryStringParameters"] == {"state": "failed", "tag": "b", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"state": ["failed"], "tag": ["a", "b"], "empty": [""]}
    assert event["headers"]["X-Multi"] == "1" and event["multiValueHeaders"]["X-Multi"] == ["1"]
    assert (event["isBase64Encoded"], base64.b64decode(event["body"])) == (True, b"\xff\xfe not utf-8")
    context = event["requestContext"]
    assert (context["stage"], context["resourcePath"], context["path"]) == (
        "local", "/queues/{queue}/jobs/{job_id}", "/local/queues/lead-processing/jobs/abc")
    assert context["identity"]["sourceIp"] == "127.0.0.1" and context["requestId"]
    # The static resource wins over the path variable, as in API Gateway.
    assert (redrive["resource"], redrive["pathParameters"]) == ("/queues/{queue}/dlq/redrive",
                                                                {"queue": "lead-processing"})
    assert (redrive["body"], redrive["isBase64Encoded"]) == ('{"x": 1}', False)


def test_route_table_prefers_the_template_with_the_method() -> None:
    routes = RouteTable({"/a/{x}": {"delete"}, "/a/b": {"post"}})
    assert routes.match("DELETE", "/a/b") == ("/a/{x}", {"x": "b"})
    assert routes.match("POST", "/a/b") == ("/a/b", None)
    assert routes.match("GET", "/nowhere") == ("/nowhere", None)


def test_the_real_api_over_loopback(ns: Namespace, api: ApiClient, api_runner: FunctionRunner) -> None:
    server = ApiServer(port=0, runner=api_runner).start()
    try:
        assert fetch("GET", f"{server.url}/health")[0] == 200
        assert fetch("GET", f"{server.url}/queues")[0] == 401
        status, _, body = fetch("GET", f"{server.url}/queues/email", headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and json.loads(body)["queueName"] == "email"
        event = json.dumps(ghl_contact_event("wh-http")).encode()
        status, _, body = fetch("POST", f"{server.url}/webhooks/gohighlevel", body=event,
                                headers={"Content-Type": "application/json",
                                         "X-GHL-Signature": sign(GHL_SECRET, event)})
        assert status == 202 and json.loads(body)["queue"] == "lead-enrichment"
    finally:
        server.stop()


def test_dev_serves_the_api_while_running_and_stops_cleanly(ns: Namespace, api: ApiClient) -> None:
    stop = threading.Event()
    started: list[ApiServer] = []
    thread = threading.Thread(target=dev.run, args=(stop, 0, started))
    thread.start()
    try:
        deadline = time.monotonic() + 60  # a loaded machine starts the runtime's processes slowly
        while not started and thread.is_alive() and time.monotonic() < deadline:
            stop.wait(0.05)
        assert started, "jobqueue dev did not start its API within 60 s"
        [server] = started
        status, _, body = fetch("GET", f"{server.url}/stats", headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and len(json.loads(body)["queues"]) == len(ns.catalog.queues)
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()
    try:
        urllib.request.urlopen(f"{server.url}/health", timeout=2)
        raise AssertionError("the API still answers after stop")
    except urllib.error.URLError:
        pass
