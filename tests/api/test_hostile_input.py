"""Hostile input over loopback HTTP through the local adapter: whatever the request (nesting, size, numbers, bytes,
content types, path segments, reserved job ids), authenticated or not, the API answers a 4xx naming the problem,
never a 5xx, and the function survives. The counts are printed (`pytest -s`): requests, 4xx, 5xx."""

from __future__ import annotations

import http.client
import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import pytest

from jobqueue import Queue
from jobqueue.api import openapi_document
from jobqueue.api.bodies import parse_object
from jobqueue.api.intake import sign
from jobqueue.keys import RESERVED_JOB_IDS
from jobqueue.local.http import ApiServer
from jobqueue.local.runner import FunctionRunner
from tests.api.conftest import GHL_SECRET, TOKEN, ApiClient
from tests.conftest import Namespace

EXAMPLE = {"queue": "email", "job_id": "123", "record_id": "email-123", "source": "gohighlevel",
           "name": "daily-digest", "entity": "ticket", "asset": "app.js"}
OPERATIONS = sorted((method.upper(), re.sub(r"\{(\w+)\}", lambda m: EXAMPLE[m.group(1)], template))
                    for template, item in openapi_document()["paths"].items() for method in item)
TAKE_BODIES = {(method.upper(), re.sub(r"\{(\w+)\}", lambda m: EXAMPLE[m.group(1)], template))
               for template, item in openapi_document()["paths"].items() for method, op in item.items()
               if "requestBody" in op}
PUBLIC = {("GET", "/health"), ("POST", "/webhooks/gohighlevel"), ("GET", "/dashboard"), ("GET", "/dashboard/app.js")}
TALLY: Counter[str] = Counter()


def _deep(levels: int, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * levels + "1" + closer * levels).encode() if opener == '{"a":' else \
        (opener * levels + closer * levels).encode()


HOSTILE_BODIES: dict[str, bytes] = {
    "array nested 2,000 deep": _deep(2000),
    "object nested 2,000 deep": _deep(2000, '{"a":', "}"),
    "object nested 65 deep": _deep(65, '{"a":', "}"),
    "object nested 100,000 deep": _deep(100_000, '{"a":', "}"),
    "6 MB string": json.dumps({"queue": "email", "name": "generic", "data": {"s": "x" * 6_000_000}}).encode(),
    "100,000 keys": json.dumps({f"k{i}": i for i in range(100_000)}).encode(),
    "5,000-digit number": b'{"limit": ' + b"9" * 5000 + b"}",
    "1e999": b'{"limit": 1e999, "grace": -1e999}',
    "NaN and Infinity": b'{"limit": NaN, "grace": Infinity}',
    "2**64": b'{"limit": 18446744073709551616, "grace": 18446744073709551616}',
    "invalid UTF-8": b'{"queue": "\xff\xfe\xfd"}',
    "lone surrogate": b'{"queue": "\\ud800"}',
    "random bytes": random.Random(15).randbytes(4096),
    "NUL bytes": b'{"queue": "email\x00", "name": "\x00"}',
    "NUL in a string": b'{"queue": "email\\u0000", "name": "\\u0000"}',
    "truncated JSON": b'{"queue": "email", "name": ',
    "JSON array": b'[{"queue": "email"}]',
    "JSON string": b'"hello"',
}
# Well-formed JSON objects: a route that takes no body ignores them (as API Gateway and Powertools do).
WELL_FORMED = {"6 MB string", "2**64", "NUL in a string", "lone surrogate"}
CONTENT_TYPES = ["text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded",
                 "application/xml", "application/octet-stream", "image/png", "application/json; charset=utf-16",
                 "*/*", ""]
HOSTILE_SEGMENTS = ["..", "%2e%2e", ".", "%2F", "..%2F..%2Fmeta", "a%00b", "a" * 300, "a" * 5000, "%ff%fe",
                    "%C3%BC%F0%9F%94%A5", "%25", "%20", "%0d%0aX-Injected:%201", "1e999", "-1",
                    "99999999999999999999999999"]
RESERVED_READS = [*sorted(RESERVED_JOB_IDS), "1:logs", "metrics:completed", "de:x", "repeat:x:logs", "a:b"]
HOSTILE_QUERIES = ["start=1e999", "start=99999999999999999999999", "start=-1", "end=abc", "state=%00",
                   "asc=maybe", "state=waiting&state=bogus", "start=" + "9" * 5000, "end=-99", "state=%ff%fe",
                   "end=1%00", "start=%20"]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def message(self) -> str:
        return str(json.loads(self.body)["message"])


class Client:
    """Raw HTTP/1.1 over loopback: paths, headers and bodies go out exactly as given."""

    def __init__(self, url: str) -> None:
        self.host, self.port = urlsplit(url).hostname or "127.0.0.1", urlsplit(url).port or 80

    def send(self, method: str, path: str, body: bytes = b"", *, token: str | None = TOKEN,
             content_type: str | None = "application/json", headers: dict[str, str] | None = None) -> Reply:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        sent = {"Content-Type": content_type} if content_type is not None and body else {}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        try:
            connection.request(method, path, body=body or None, headers=sent)
            response = connection.getresponse()
            reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()
        TALLY["requests"] += 1
        TALLY[f"{reply.status // 100}xx"] += 1
        return reply


def assert_clear_4xx(reply: Reply, *context: object) -> None:
    """A 4xx whose JSON body says what was wrong."""
    assert 400 <= reply.status < 500, (*context, reply.status, reply.body[:300])
    assert reply.headers["content-type"].startswith("application/json"), context
    assert reply.message, context


@pytest.fixture
def client(ns: Namespace, api: ApiClient, api_runner: FunctionRunner) -> Iterator[Client]:
    # State in every key family a reserved id could reach: waiting, prioritized, delayed and logged jobs.
    queue = Queue("email")
    for delay in (0, 60_000):
        job_id = queue.add("generic", {"to": "a@x.io"}, delay=delay)
        queue.scripts.add_log(job_id, "a line")
    Queue("lead-processing").add("process-lead", {"leadId": 1})
    server = ApiServer(port=0, runner=api_runner).start()
    try:
        yield Client(server.url)
        assert server.url and Client(server.url).send("GET", "/health", token=None).status == 200, "still serving"
    finally:
        server.stop()


@pytest.fixture(scope="module", autouse=True)
def counts() -> Iterator[None]:
    yield
    print(f"\nhostile input: {TALLY['requests']} requests, {TALLY['4xx']} 4xx, {TALLY['5xx']} 5xx "
          f"({TALLY['2xx']} 2xx)")
    assert TALLY["5xx"] == 0


def test_hostile_bodies_are_4xx_on_every_route(client: Client) -> None:
    for name, body in HOSTILE_BODIES.items():
        for method, path in OPERATIONS:
            if (method, path) in PUBLIC:
                reply = client.send(method, path, body, token=None)
                assert reply.status < 500, (name, method, path, reply.body[:300])
                continue
            reply = client.send(method, path, body)
            if name in WELL_FORMED and (method, path) not in TAKE_BODIES:
                assert reply.status < 500, (name, method, path, reply.body[:300])
            else:
                assert_clear_4xx(reply, name, method, path)
            assert_clear_4xx(client.send(method, path, body, token=None), name, method, path, "no token")


def test_signed_hostile_webhook_bodies_are_4xx(client: Client) -> None:
    for name, body in HOSTILE_BODIES.items():
        reply = client.send("POST", "/webhooks/gohighlevel", body, token=None,
                            headers={"X-GHL-Signature": sign(GHL_SECRET, body)})
        assert_clear_4xx(reply, name)


def test_odd_but_valid_strings_in_job_data_never_fail_the_api(client: Client) -> None:
    for data in (b'{"s": "\\ud800"}', b'{"s": "\\u0000"}', b'{"\\udfff": 1}', '{"s": "\u00fc\U0001f525"}'.encode()):
        reply = client.send("POST", "/jobs", b'{"queue": "email", "name": "generic", "data": ' + data + b"}")
        assert reply.status in (202, 400), (data, reply.status, reply.body)


def test_deep_and_wide_bodies_name_the_limit(client: Client) -> None:
    for path in ("/queues/email/clean", "/queues/email/dlq/redrive", "/jobs"):
        reply = client.send("POST", path, HOSTILE_BODIES["object nested 2,000 deep"])
        assert (reply.status, reply.message) == (400, "body: JSON nested deeper than 64 levels"), path
        reply = client.send("POST", path, HOSTILE_BODIES["100,000 keys"])
        assert (reply.status, reply.message) == (400, "body: more than 50000 JSON values"), path
    bulk = {"queue": "email", "jobs": [{"name": "generic", "data": {f"f{n}": n for n in range(10)}}] * 1000}
    assert parse_object(json.dumps(bulk)) == bulk, "a full bulk add fits"


def test_wrong_content_types_are_415(client: Client) -> None:
    for content_type in CONTENT_TYPES:
        for method, path in OPERATIONS:
            if (method, path) in PUBLIC:
                assert client.send(method, path, b"queue=email", token=None, content_type=content_type).status < 500
                continue
            reply = client.send(method, path, b"queue=email", content_type=content_type)
            assert_clear_4xx(reply, content_type, method, path)
            if content_type not in ("", "*/*"):
                assert reply.status == 415, (content_type, method, path)
                assert reply.message.startswith("request bodies must be application/json"), (method, path)


def test_hostile_path_segments_are_4xx(client: Client) -> None:
    for segment in HOSTILE_SEGMENTS:
        for method, template in [("GET", "/queues/{s}"), ("GET", "/queues/{s}/jobs/1"),
                                 ("GET", "/queues/email/jobs/{s}"), ("DELETE", "/queues/email/jobs/{s}"),
                                 ("GET", "/queues/email/jobs/{s}/logs"), ("DELETE", "/queues/email/dlq/{s}"),
                                 ("POST", "/queues/{s}/pause"), ("GET", "/{s}"), ("POST", "/webhooks/{s}")]:
            path = template.format(s=segment)
            reply = client.send(method, path)
            if (method, unquote(path).rstrip("/")) in OPERATIONS:  # `%2F` decodes to a route's trailing slash
                assert reply.status == 200, (method, path)
                continue
            assert_clear_4xx(reply, method, path)
            assert_clear_4xx(client.send(method, path, token=None), method, path, "no token")


def test_reserved_job_ids_are_400_naming_the_problem(client: Client) -> None:
    for job_id in RESERVED_READS:
        for method, path in [("GET", f"/queues/email/jobs/{job_id}"), ("DELETE", f"/queues/email/jobs/{job_id}"),
                             ("GET", f"/queues/email/jobs/{job_id}/logs")]:
            reply = client.send(method, path)
            assert reply.status == 400, (method, path, reply.body)
            assert reply.message.startswith(f"path.job_id: job id {job_id!r} is reserved"), reply.message
        added = client.send("POST", "/jobs", json.dumps({"queue": "email", "name": "generic",
                                                         "opts": {"jobId": job_id}}).encode())
        assert added.status == 400 and "body.opts.jobId" in added.message, added.body


def test_hostile_queries_are_4xx(client: Client) -> None:
    """Each hostile value of a parameter the route takes (others are ignored, as Powertools does)."""
    paths = openapi_document()["paths"]
    for template, path in (("/queues/{queue}/jobs", "/queues/email/jobs"), ("/queues/{queue}/dlq", "/queues/email/dlq"),
                           ("/queues/{queue}/jobs/{job_id}/logs", "/queues/email/jobs/1/logs")):
        taken = {p["name"] for p in paths[template]["get"]["parameters"] if p["in"] == "query"}
        for query in HOSTILE_QUERIES:
            if query.split("=")[0] in taken:
                assert_clear_4xx(client.send("GET", f"{path}?{query}"), path, query)


def test_hostile_headers_are_4xx(client: Client) -> None:
    for headers in ({"Authorization": "Bearer " + "x" * 60_000}, {"Authorization": "Bearer"},
                    {"Authorization": "Basic " + TOKEN}, {"Authorization": "Bearer \u00ff\u00fe"}):
        for method, path in OPERATIONS:
            if (method, path) not in PUBLIC:
                assert_clear_4xx(client.send(method, path, token=None, headers=headers), method, path)
