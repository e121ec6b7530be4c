"""Web Push with VAPID (seed 004's notification worker), through pywebpush.

`VAPID_PRIVATE_KEY` (or `VAPID_PRIVATE_KEY_SECRET_ID`), `VAPID_SUBJECT` (a mailto: or https: URL), `PUSH_TIMEOUT`.
pywebpush (and its HTTP stack) is imported on the first send only: other workers never load it.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from workloads.config import env_float, secret
from workloads.errors import ConfigurationError, RejectedError, RetryAfterError, TransientServiceError
from workloads.http import retry_after_ms

__all__ = ["Subscription", "SubscriptionGoneError", "WebPush"]


class SubscriptionGoneError(RejectedError):
    """The push service no longer knows the subscription (404/410): the browser unsubscribed."""


class SubscriptionKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p256dh: str = Field(min_length=1)
    auth: str = Field(min_length=1)


class Subscription(BaseModel):
    """A browser's PushSubscription as `subscription.toJSON()` gives it."""

    model_config = ConfigDict(extra="ignore")

    endpoint: HttpUrl
    keys: SubscriptionKeys

    def info(self) -> dict[str, Any]:
        return {"endpoint": str(self.endpoint), "keys": self.keys.model_dump()}


class WebPush:
    """Encrypts a payload for one subscription and posts it to its push service."""

    def __init__(self, private_key: str, subject: str, timeout: float = 10.0) -> None:
        if not subject.startswith(("mailto:", "https://", "http://")):
            raise ConfigurationError(f"VAPID_SUBJECT={subject!r}: a mailto: or https: URL is required")
        self._private_key, self.subject, self.timeout = private_key, subject, timeout

    @classmethod
    def from_env(cls) -> WebPush:
        key = secret("VAPID_PRIVATE_KEY", required=True)
        assert key is not None
        return cls(key, os.environ.get("VAPID_SUBJECT", ""), env_float("PUSH_TIMEOUT", 10.0))

    def send(self, subscription: Subscription, payload: dict[str, Any], ttl: int = 3600) -> int:
        """Deliver; returns the push service's status (201 created)."""
        import requests
        from pywebpush import WebPushException, webpush

        try:
            response = webpush(subscription.info(), json.dumps(payload), vapid_private_key=self._private_key,
                               vapid_claims={"sub": self.subject}, ttl=ttl, timeout=self.timeout)
        except WebPushException as exc:
            raise _failure(exc.response, str(exc)) from exc
        except requests.RequestException as exc:
            raise TransientServiceError(f"push service {subscription.endpoint.host}: {type(exc).__name__}") from exc
        return int(getattr(response, "status_code", 201))


def _failure(response: Any, message: str) -> Exception:
    status = getattr(response, "status_code", None)
    if status in (404, 410):
        return SubscriptionGoneError(f"push subscription gone (HTTP {status})", status=status)
    if status is None or status >= 500 or status == 429:
        wait = retry_after_ms((getattr(response, "headers", None) or {}).get("Retry-After"))
        if wait is not None:
            return RetryAfterError(f"push service busy (HTTP {status}), retry after {wait} ms", delay_ms=wait)
        return TransientServiceError(f"push service failed: {message}")
    return RejectedError(f"push service refused the message: {message}", status=status)
