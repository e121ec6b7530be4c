"""Web Push with VAPID (seed 004's notification worker), through pywebpush.

`VAPID_PRIVATE_KEY` (or `VAPID_PRIVATE_KEY_SECRET_ID`), `VAPID_SUBJECT` (a mailto: or https: URL), `PUSH_TIMEOUT`.
pywebpush (and its HTTP stack) is imported on the first send only: other workers never load it. It only encrypts
and signs; the request goes out through `workloads.http` (address checks, failures mapped as every client's).
"""

from __future__ import annotations

import json
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from workloads.config import env_float, secret
from workloads.errors import ConfigurationError, RejectedError
from workloads.http import send

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
        from pywebpush import WebPushException, webpush

        try:
            response = webpush(subscription.info(), json.dumps(payload), vapid_private_key=self._private_key,
                               vapid_claims={"sub": self.subject}, ttl=ttl, timeout=self.timeout,
                               requests_session=_checked_session(self.timeout))
        except WebPushException as exc:  # only for the statuses the session hands back: 404, 410, other 2xx
            status = getattr(exc.response, "status_code", None)
            if status in (404, 410):
                raise SubscriptionGoneError(f"push subscription gone (HTTP {status})", status=status) from exc
            raise RejectedError(f"push service answered HTTP {status}", status=status) from exc
        return int(getattr(response, "status_code", 201))


def _checked_session(timeout: float) -> Any:
    """A stand-in for pywebpush's `requests` session whose POST goes through `workloads.http.send`: the
    endpoint (chosen by the browser, so by whoever wrote the job) is checked like every outgoing URL, and a
    failure's message carries no answer body. 404 and 410 come back to pywebpush, which raises on them."""
    import requests
    from requests.structures import CaseInsensitiveDict

    class Session(requests.Session):
        def post(self, url: str | bytes, data: Any = None, json: Any = None, **kwargs: Any) -> requests.Response:
            headers = {str(k): str(v) for k, v in (kwargs.get("headers") or {}).items()}
            answer = send("POST", str(url), body=data, headers=headers, timeout=timeout, service="push",
                          expect=(404, 410), name_path=False)
            response = requests.Response()
            response.status_code, response.headers = answer.status, CaseInsensitiveDict(answer.headers)
            response._content = b""  # pywebpush copies the body into its exception text; nothing to copy
            return response

    return Session()
