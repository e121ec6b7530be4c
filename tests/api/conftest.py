"""Fixtures for the API tests: the API function invoked with real REST proxy events, and signing helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from jobqueue.api.intake import sign
from jobqueue.local.http import RouteTable, proxy_event
from jobqueue.local.runner import FunctionRunner, LocalContext
from tests.conftest import Namespace

# Test-only secrets. events/api-webhook-gohighlevel.json is signed with GHL_SECRET (see events/README.md).
TOKEN = "test-service-token-5b1d0c"
GHL_SECRET = "ghl-test-secret-not-for-production"
SCHEDULER_ENV = {
    "JOBQUEUE_SCHEDULER_TARGET_ARN": "arn:aws:lambda:us-east-1:000000000000:function:jobqueue-scheduler",
    "JOBQUEUE_SCHEDULER_ROLE_ARN": "arn:aws:iam::000000000000:role/jobqueue-scheduler",
}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


class ApiClient:
    """Calls the API Lambda handler in this process, as API Gateway would: one proxy event per request."""

    def __init__(self, runner: FunctionRunner) -> None:
        self.runner = runner
        self.routes = RouteTable.from_api()

    def event(self, method: str, path: str, *, body: Any = None, raw: bytes | None = None,
              headers: dict[str, str] | None = None, token: str | None = TOKEN) -> dict[str, Any]:
        sent: dict[str, str] = {"Host": "api.local", "User-Agent": "pytest"}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        if data:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        return proxy_event(method, path, list(sent.items()), data, routes=self.routes)

    def invoke(self, event: dict[str, Any], context: LocalContext | None = None) -> Answer:
        response = self.runner.invoke(event, context)
        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        for k, values in (response.get("multiValueHeaders") or {}).items():
            headers.setdefault(k.lower(), values[-1])
        return Answer(response["statusCode"], headers, response.get("body") or "")

    def call(self, method: str, path: str, **kwargs: Any) -> Answer:
        return self.invoke(self.event(method, path, **kwargs))

    def webhook(self, event: dict[str, Any], *, source: str = "gohighlevel", secret: str = GHL_SECRET,
                raw: bytes | None = None) -> Answer:
        return self.call("POST", f"/webhooks/{source}", **signed(event, secret, raw))

    def webhook_event(self, event: dict[str, Any], *, source: str = "gohighlevel", secret: str = GHL_SECRET,
                      raw: bytes | None = None) -> dict[str, Any]:
        """The proxy event of a signed delivery of `event` (or of the bytes `raw`)."""
        return self.event("POST", f"/webhooks/{source}", **signed(event, secret, raw))


def signed(event: dict[str, Any], secret: str, raw: bytes | None) -> dict[str, Any]:
    """A webhook delivery's request arguments: its body (`raw`, else `event` as JSON) and signature header."""
    body = raw if raw is not None else json.dumps(event).encode()
    return {"raw": body, "token": None, "headers": {"X-GHL-Signature": f"sha256={sign(secret, body)}"}}


@pytest.fixture(scope="session")
def api_runner() -> FunctionRunner:
    return FunctionRunner("api")


@pytest.fixture
def api(ns: Namespace, api_runner: FunctionRunner, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiClient]:
    """The API function in `ns`'s namespace, with the test token and webhook secret in its environment."""
    monkeypatch.setenv("SERVICE_TOKEN", TOKEN)
    monkeypatch.setenv("GHL_WEBHOOK_SECRET", GHL_SECRET)
    for name, value in SCHEDULER_ENV.items():
        monkeypatch.setenv(name, value)
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    yield ApiClient(api_runner)
    parameters.clear_caches()  # type: ignore[no-untyped-call]


def ghl_contact_event(webhook_id: str, contact_id: str = "c-1001") -> dict[str, Any]:
    """A GoHighLevel-style ContactCreate webhook body, sent now."""
    return {"type": "ContactCreate", "locationId": "loc-9", "webhookId": webhook_id, "id": contact_id,
            "contactId": contact_id, "email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace",
            "timestamp": iso_now()}


def iso_now(offset_s: float = 0.0) -> str:
    """Now (plus `offset_s`) as GoHighLevel writes its `timestamp`: ISO 8601, milliseconds, UTC `Z`."""
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def resent_now(sample: dict[str, Any]) -> dict[str, Any]:
    """The recorded sample webhook event (events/api-webhook-gohighlevel.json) as if sent now: its body's
    `timestamp` renewed and re-signed with GHL_SECRET. As recorded it is a replay past the tolerance (401)."""
    body = {**json.loads(sample["body"]), "timestamp": iso_now()}
    raw = json.dumps(body, separators=(",", ":"))
    signature = f"sha256={sign(GHL_SECRET, raw.encode())}"
    return {**sample, "body": raw, "headers": {**sample["headers"], "X-GHL-Signature": signature},
            "multiValueHeaders": {**sample["multiValueHeaders"], "X-GHL-Signature": [signature]}}
