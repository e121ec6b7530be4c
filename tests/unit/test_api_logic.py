"""Pure logic of the API: field names in 400s, public routes, webhook job ids and signatures, body checks."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from jobqueue.api.app import body_problem
from jobqueue.api.auth import is_public, request_path
from jobqueue.api.errors import field_name
from jobqueue.api.intake import event_job_id, sign
from jobqueue.job import JobOptions


@pytest.mark.parametrize(("loc", "name"), [
    (("body", "job", "opts", "attempts"), "body.opts.attempts"),
    (("body", "bulk", "jobs", 0, "name"), "body.jobs[0].name"),
    (("body", 17), "body"),
    (("body",), "body"),
    (("query", "state"), "query.state"),
    (("body", "data", "job"), "body.data.job"),
])
def test_field_names(loc: tuple[int | str, ...], name: str) -> None:
    assert field_name(loc) == name


def event(method: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"httpMethod": method, "path": path, **extra}


def test_public_routes_are_exactly_the_webhook_health_and_document() -> None:
    assert is_public(event("POST", "/webhooks/gohighlevel"))
    assert is_public(event("POST", "/webhooks/gohighlevel/"))
    assert is_public(event("GET", "/health"))
    assert is_public(event("GET", "/openapi.json"))
    assert not is_public(event("GET", "/webhooks/gohighlevel"))
    assert not is_public(event("POST", "/webhooks/a/b"))
    assert not is_public(event("POST", "/webhooks/"))
    assert not is_public(event("GET", "/HEALTH"))
    assert not is_public(event("GET", "/queues"))
    assert not is_public(event("OPTIONS", "/health"))
    assert request_path(event("GET", "/prod/health", requestContext={"stage": "prod"})) == "/prod/health"


def test_webhook_job_ids_are_valid_custom_ids_and_deterministic() -> None:
    for source, event_id in (("gohighlevel", "1"), ("a:b c", "x:y"), ("123", "456"), ("s" * 100, "e" * 500)):
        job_id = event_job_id(source, event_id)
        assert JobOptions.model_validate({"jobId": job_id}).job_id == job_id  # no ':', no space, not all digits
        assert job_id == event_job_id(source, event_id)
        assert len(job_id) <= 73
    assert event_job_id("s", "1") != event_job_id("s", "2") != event_job_id("t", "1")


def test_signature_is_hex_hmac_sha256_of_the_raw_body() -> None:
    # RFC 4231 test case 2.
    assert sign("Jefe", b"what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


@pytest.mark.parametrize(("body", "content_type", "problem"), [
    (None, None, None),
    ('{"a": 1}', "application/json", None),
    ('{"a": 1}', "application/json; charset=utf-8", None),
    ('{"a": 1}', "application/merge-patch+json", None),
    ('{"a": 1}', None, None),
    ("null", "application/json", None),
    ("{broken", "application/json", (400, "body: not valid JSON (Expecting property name enclosed in double quotes)")),
    ('{"n": NaN}', "application/json", (400, "body: not valid JSON (NaN is not a JSON number)")),
    ('{"n": 1e999}', "application/json", (400, "body: not valid JSON (1e999 is out of range for a number)")),
    ('{"s": "\\ud800"}', "application/json", (400, "body: strings must be valid Unicode (no lone surrogate escapes "
                                                  "such as \\ud800)")),
    ('{"s": "\\ud83d\\udd25"}', "application/json", None),
    ('{"a":' * 65 + "1" + "}" * 65, "application/json", (400, "body: JSON nested deeper than 64 levels")),
    ('{"a":' * 63 + "1" + "}" * 63, "application/json", None),
    ("[" * 5000 + "]" * 5000, "application/json", (400, "body: JSON nested deeper than 64 levels")),
    ("[1]", "application/json", (400, "body: must be a JSON object")),
    ("a=1", "application/x-www-form-urlencoded", (415, "request bodies must be application/json")),
    ("--x", "multipart/form-data", (415, "request bodies must be application/json")),
])
def test_body_checks(body: str | None, content_type: str | None, problem: tuple[int, str] | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    assert body_problem({"body": body, "headers": headers}) == problem


def test_base64_bodies_must_be_utf8_json_objects() -> None:
    encoded = base64.b64encode(json.dumps({"a": 1}).encode()).decode()
    assert body_problem({"body": encoded, "isBase64Encoded": True}) is None
    not_utf8 = base64.b64encode(b"\xff\xfe").decode()
    assert body_problem({"body": not_utf8, "isBase64Encoded": True}) == (400, "body: must be UTF-8 encoded JSON")
