"""One HTTP call to an external service, with the failures mapped to what the job should do.

- timeouts, refused connections, 408, 5xx, 429: transient; with a `Retry-After` header the retry waits at least
  that long (`RetryAfterError`), otherwise the queue's backoff applies (`TransientServiceError`);
- any other 4xx: `RejectedError`, an unrecoverable error (the job goes to its dead-letter queue at once),
  unless the caller expects that status and handles the answer itself.

stdlib `urllib` keeps the worker's cold start small.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from workloads.config import ServiceConfig
from workloads.errors import RejectedError, RetryAfterError, TransientServiceError

__all__ = ["HttpAnswer", "JsonService", "retry_after_ms", "send"]

_BODY_IN_ERRORS = 300
_TRANSIENT_4XX = {408, 425, 429}


@dataclass(frozen=True)
class HttpAnswer:
    """A response the caller accepted: its status, headers (lower-case names) and raw body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise TransientServiceError(f"answer is not JSON: {self.body[:_BODY_IN_ERRORS]!r}") from exc


def retry_after_ms(value: str | None, now: float | None = None) -> int | None:
    """`Retry-After` in ms: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value) * 1000
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0, int((when - (time.time() if now is None else now)) * 1000))


def send(method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float, service: str, expect: tuple[int, ...] = ()) -> HttpAnswer:
    """Send one request; 2xx (and `expect`ed statuses) come back, everything else raises (see module doc)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    where = f"{service} {method} {urlsplit(url).path}"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpAnswer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        with error:
            answer = HttpAnswer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())
    except TimeoutError as exc:
        raise TransientServiceError(f"{where}: no answer within {timeout} s") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise TransientServiceError(f"{where}: no answer within {timeout} s") from exc
        raise TransientServiceError(f"{where}: unreachable ({exc.reason})") from exc
    except (ConnectionError, OSError) as exc:
        raise TransientServiceError(f"{where}: connection failed ({exc})") from exc
    if answer.status in expect:
        return answer
    detail = f"{where}: HTTP {answer.status}: {answer.body[:_BODY_IN_ERRORS].decode(errors='replace')}"
    if answer.status >= 500 or answer.status in _TRANSIENT_4XX:
        wait = retry_after_ms(answer.headers.get("retry-after"))
        if wait is not None:
            raise RetryAfterError(f"{detail} (retry after {wait} ms)", delay_ms=wait)
        raise TransientServiceError(detail)
    raise RejectedError(detail, status=answer.status)


class JsonService:
    """A JSON API at one base URL, with the headers that authenticate every call."""

    def __init__(self, config: ServiceConfig, auth_headers: dict[str, str]) -> None:
        self.config = config
        self._headers = {"Accept": "application/json", **auth_headers}

    def call(self, method: str, path: str, *, payload: Any = None, params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, expect: tuple[int, ...] = (), raw: bytes | None = None,
             ) -> HttpAnswer:
        """`payload` is sent as JSON, `raw` as is (with its Content-Type among `headers`)."""
        url = f"{self.config.url}{path}"
        if params:
            url += "?" + urlencode({k: v for k, v in params.items() if v is not None})
        sent = dict(self._headers)
        body = raw
        if payload is not None:
            body = json.dumps(payload, separators=(",", ":")).encode()
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        return send(method, url, body=body, headers=sent, timeout=self.config.timeout, service=self.config.name,
                    expect=expect)
