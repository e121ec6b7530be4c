"""Outgoing webhook delivery (seed 003's `webhooks` queue): the body signed with HMAC-SHA256.

Receivers verify `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of "<X-Webhook-Timestamp>.<body>">` with the
shared secret (`WEBHOOK_SIGNING_SECRET` or `WEBHOOK_SIGNING_SECRET_SECRET_ID`), reject stale timestamps, and
dedupe on `X-Webhook-Id` (the same on every retry of one delivery).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from workloads.config import env_float, secret
from workloads.http import send

__all__ = ["WebhookSender", "signature"]


def signature(secret_value: str, timestamp: str, body: bytes) -> str:
    """The header value a receiver recomputes: `sha256=` + hex HMAC-SHA256 of `timestamp.body`."""
    digest = hmac.new(secret_value.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookSender:
    """Posts signed JSON events; 2xx delivered, 4xx (except 408/429) refused for good, the rest retried.

    The URL comes from job data, so `workloads.http` checks where it leads (no internal addresses, no redirects
    for a POST), and errors name its host, never its path (some receivers put a credential there)."""

    def __init__(self, secret_value: str, timeout: float = 10.0) -> None:
        self._secret, self.timeout = secret_value, timeout

    @classmethod
    def from_env(cls) -> WebhookSender:
        value = secret("WEBHOOK_SIGNING_SECRET", required=True)
        assert value is not None
        return cls(value, env_float("WEBHOOK_TIMEOUT", 10.0))

    def deliver(self, url: str, delivery_id: str, event: str, payload: Any) -> int:
        body = json.dumps({"id": delivery_id, "event": event, "data": payload}, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": "jobqueue-webhooks/1",
                   "X-Webhook-Id": delivery_id, "X-Webhook-Event": event, "X-Webhook-Timestamp": timestamp,
                   "X-Webhook-Signature": signature(self._secret, timestamp, body)}
        return send("POST", url, body=body, headers=headers, timeout=self.timeout, service="webhook",
                    name_path=False).status
