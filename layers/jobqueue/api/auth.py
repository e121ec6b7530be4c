"""Who may call what: management routes need the bearer service token; webhooks carry their own signatures.

Deny by default: every request that is not to a public route (``PUBLIC_ROUTES``) must carry
``Authorization: Bearer <service token>``, checked before routing or request validation, so an
unauthenticated caller learns nothing (not even whether a route exists or what its body looks like).
The token comes from `jobqueue.api.secrets` (``SERVICE_TOKEN``) and is compared in constant time.
``GET /metrics`` also takes the scrape token ``METRICS_TOKEN`` when the deployment sets one: a Prometheus scraper
then holds a credential that reads metrics and nothing else. Every GET also takes ``READ_ONLY_TOKEN`` when one
is set: a dashboard viewer holding it can read everything and change nothing (any other method is a 403).
Only the bearer header counts, never a cookie, so a page of another site cannot act with a signed-in user's
credentials (a cross-site form post carries no such header: 401).
Deployed with ``-c managementAuth=iam`` (``JOBQUEUE_MANAGEMENT_AUTH=iam``), API Gateway has already checked the
caller's SigV4 signature and IAM policy (the ``Authorization`` header then holds the signature, not a token):
a request is authorized when API Gateway names the IAM caller in its request context.
"""

from __future__ import annotations

import hmac
import json
import os
import re
from http import HTTPStatus
from typing import Any

from jobqueue.api.secrets import METRICS_TOKEN, READ_ONLY_TOKEN, SERVICE_TOKEN, read_secret

__all__ = [
    "BEARER_SCHEME",
    "METRICS_ROUTE",
    "PUBLIC_ROUTES",
    "SECURED",
    "authorized",
    "constant_time_equal",
    "header",
    "is_public",
    "proxy_error",
    "read_only",
    "refusal",
    "request_path",
    "unauthorized_response",
]

BEARER_SCHEME = "serviceToken"
SECURED: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]

# (method, route template): the only routes answered without the service token.
PUBLIC_ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "/webhooks/{source}"),
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/dashboard"),
    ("GET", "/dashboard/{asset}"),
)
READ_METHODS = ("GET", "HEAD")
# The one route the scrape token (METRICS_TOKEN) opens.
METRICS_ROUTE = ("GET", "/metrics")
_PUBLIC = [(method, re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(t)) + "$"))
           for method, t in PUBLIC_ROUTES]


def constant_time_equal(given: str, expected: str) -> bool:
    """Compare secrets without leaking their common prefix through timing."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def request_path(event: dict[str, Any]) -> str:
    """The path the resolver routes on: the event's `path` as is (REST events carry no stage in it), less a
    trailing slash, which the REST resolver ignores too."""
    return str(event.get("path") or "/").rstrip("/") or "/"


def is_public(event: dict[str, Any]) -> bool:
    method = str(event.get("httpMethod") or "").upper()
    path = request_path(event)
    return any(m == method and pattern.match(path) for m, pattern in _PUBLIC)


def header(event: dict[str, Any], name: str) -> str | None:
    """A request header of a proxy event, by lower-case name (API Gateway keeps the sender's case)."""
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name and isinstance(value, str):
            return value
    for key, values in (event.get("multiValueHeaders") or {}).items():
        if key.lower() == name and values:
            return str(values[-1])
    return None


def _bearer_is(event: dict[str, Any], secret: str) -> bool:
    """True when the request's bearer token is the secret called `secret` (and one is configured)."""
    header_value = header(event, "authorization")
    if not header_value:
        return False
    expected = read_secret(secret)
    scheme, _, token = header_value.strip().partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and constant_time_equal(token.strip(), expected or "")


def read_only(event: dict[str, Any]) -> bool:
    """True when the request's bearer token is the read-only token (and one is configured)."""
    return _bearer_is(event, READ_ONLY_TOKEN)


def refusal(event: dict[str, Any]) -> dict[str, Any] | None:
    """The answer to a request its credentials do not allow (401, or 403 for a change asked with the read-only
    token), or None when it may go on."""
    if authorized(event):
        return None
    if read_only(event):
        if str(event.get("httpMethod") or "").upper() in READ_METHODS:
            return None
        return proxy_error(403, "the read-only token may only read (GET)")
    return unauthorized_response()


def authorized(event: dict[str, Any]) -> bool:
    """True when the request carries the service token as a bearer token (and one is configured), or, under
    IAM management auth, when API Gateway authenticated an IAM caller; on `GET /metrics`, the scrape token too."""
    route = (str(event.get("httpMethod") or "").upper(), request_path(event))
    if route == METRICS_ROUTE and _bearer_is(event, METRICS_TOKEN):
        return True
    if os.environ.get("JOBQUEUE_MANAGEMENT_AUTH") == "iam":
        identity = (event.get("requestContext") or {}).get("identity") or {}
        return bool(identity.get("userArn"))
    return _bearer_is(event, SERVICE_TOKEN)


def proxy_error(status: int, message: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A proxy response in the API's error shape, for answers given before the resolver runs."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "multiValueHeaders": {},
        "body": json.dumps({"error": HTTPStatus(status).phrase, "message": message}),
        "isBase64Encoded": False,
    }


def unauthorized_response() -> dict[str, Any]:
    """The answer to a request without the service token; it never echoes what the caller sent."""
    return proxy_error(401, "a valid bearer service token is required", {"WWW-Authenticate": "Bearer"})
