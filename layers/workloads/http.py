"""One HTTP call to an external service, with the failures mapped to what the job should do.

- timeouts, refused connections, 408, 5xx, 429: transient; with a `Retry-After` header the retry waits at least
  that long (`RetryAfterError`), otherwise the queue's backoff applies (`TransientServiceError`);
- any other 4xx (and a redirect not followed): `RejectedError`, an unrecoverable error (the job goes to its
  dead-letter queue at once), unless the caller expects that status and handles the answer itself.

Every destination is checked after DNS resolution, because job data and answers choose URLs (an outgoing
webhook's `url`, a push subscription's endpoint, Salesforce's `nextRecordsUrl`): a name resolving to a loopback,
private, link-local (cloud metadata), multicast, unspecified or reserved address is refused, unless
`OUTBOUND_ALLOW_HOSTS` names the host (`workloads.config.outbound_allow_hosts`). The connection goes to the very
address that was checked (no second lookup a rebinding DNS server could answer differently); TLS still verifies
the certificate against the host name. Redirects are followed for GET and HEAD only, at most `MAX_REDIRECTS`,
each hop checked the same way, and credentials are not carried to another origin.

Error messages carry the status and its standard reason, never the answer's body: they end up in the job's
`failedReason`, which the API shows. stdlib `http.client` keeps the worker's cold start small.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from workloads.config import ServiceConfig, outbound_allow_hosts
from workloads.errors import RejectedError, RetryAfterError, TransientServiceError

__all__ = ["MAX_REDIRECTS", "HttpAnswer", "JsonService", "resolve", "retry_after_ms", "send"]

MAX_REDIRECTS = 3
_TRANSIENT_4XX = {408, 425, 429}
_REDIRECTS = {301, 302, 303, 307, 308}
_KEPT_ACROSS_ORIGINS = {"accept", "user-agent"}
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


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
            kind = self.headers.get("content-type", "no content type")[:60]
            raise TransientServiceError(f"answer is not JSON ({len(self.body)} bytes, {kind})") from exc


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


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order (tests replace this hook to fake DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _refusal(address: _Address) -> str | None:
    """Why outgoing HTTP may not reach `address` (None: it may); IPv4 inside IPv6 is judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is not None:
            return _refusal(inner)
    if address in _METADATA:
        return "cloud metadata"
    for kind in ("loopback", "unspecified", "link_local", "multicast", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if address.is_global else "not globally routable"


def _destination(host: str, port: int, where: str) -> list[str]:
    """The addresses to connect to, every one checked unless the deployment allows the host."""
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise TransientServiceError(f"{where}: cannot resolve {host} ({type(exc).__name__})") from exc
    allowed = outbound_allow_hosts()
    named = f"[{host}]" if ":" in host else host
    if host.lower().rstrip(".") in allowed or f"{named}:{port}".lower() in allowed:
        return addresses
    for text in addresses:
        try:
            reason = _refusal(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            reason = "unreadable"
        if reason is not None:
            raise RejectedError(f"{where}: {host} resolves to a non-public address ({reason}); outgoing HTTP "
                                f"refuses it unless OUTBOUND_ALLOW_HOSTS names the host")
    return addresses


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the checked `addresses` instead of resolving the host name again."""

    addresses: list[str]

    def connect(self) -> None:
        failure: OSError = OSError(f"no address for {self.host}")
        for address in self.addresses:
            try:
                self.sock = socket.create_connection((address, self.port), self.timeout)
                return
            except OSError as exc:
                failure = exc
        raise failure


class _PinnedHTTPS(http.client.HTTPSConnection, _PinnedHTTP):
    """TLS over `_PinnedHTTP`'s socket (HTTPSConnection.connect wraps what its super().connect opened),
    the certificate verified against the host name."""


def _exchange(method: str, url: str, body: bytes | None, headers: dict[str, str], *, timeout: float,
              where: str) -> HttpAnswer:
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise RejectedError(f"{where}: the URL's port is not a number") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RejectedError(f"{where}: not an http(s) URL")
    addresses = _destination(parts.hostname, port, where)
    kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    connection = kind(parts.hostname, port, timeout=timeout)
    connection.addresses = addresses
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        return HttpAnswer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    except TimeoutError as exc:
        raise TransientServiceError(f"{where}: no answer within {timeout} s") from exc
    except (http.client.HTTPException, OSError) as exc:
        raise TransientServiceError(f"{where}: unreachable ({type(exc).__name__})") from exc
    finally:
        connection.close()


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def send(method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float, service: str, expect: tuple[int, ...] = (), name_path: bool = True) -> HttpAnswer:
    """Send one request; 2xx (and `expect`ed statuses) come back, everything else raises (see module doc).

    Errors name the service, method and URL path; `name_path=False` names the host instead, for URLs whose path
    may be a credential (a chat service's incoming-webhook URL)."""
    sent = dict(headers or {})

    def _where(target: str) -> str:
        parts = urlsplit(target)
        return f"{service} {method} {(parts.path or '/') if name_path else parts.hostname}"

    where = _where(url)
    for _ in range(MAX_REDIRECTS + 1):
        answer = _exchange(method, url, body, sent, timeout=timeout, where=where)
        location = answer.headers.get("location")
        if answer.status not in _REDIRECTS or answer.status in expect or method not in ("GET", "HEAD") or not location:
            break
        target = urljoin(url, location)
        if _origin(target) != _origin(url):
            sent = {k: v for k, v in sent.items() if k.lower() in _KEPT_ACROSS_ORIGINS}
        url, where = target, f"{_where(target)} (redirected)"
    else:
        raise RejectedError(f"{where}: more than {MAX_REDIRECTS} redirects")
    if 200 <= answer.status < 300 or answer.status in expect:
        return answer
    detail = f"{where}: HTTP {answer.status} {_phrase(answer.status)}"
    if answer.status >= 500 or answer.status in _TRANSIENT_4XX:
        wait = retry_after_ms(answer.headers.get("retry-after"))
        if wait is not None:
            raise RetryAfterError(f"{detail} (retry after {wait} ms)", delay_ms=wait)
        raise TransientServiceError(detail)
    if answer.status in _REDIRECTS:
        detail += " (redirect not followed)"
    raise RejectedError(detail, status=answer.status)


def _phrase(status: int) -> str:
    """The standard reason phrase: the server's own text is not repeated."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "(non-standard status)"


class JsonService:
    """A JSON API at one base URL, with the headers that authenticate every call."""

    def __init__(self, config: ServiceConfig, auth_headers: dict[str, str]) -> None:
        self.config = config
        self._headers = {"Accept": "application/json", **auth_headers}

    def call(self, method: str, path: str, *, payload: Any = None, params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, expect: tuple[int, ...] = (), raw: bytes | None = None,
             ) -> HttpAnswer:
        """`payload` is sent as JSON, `raw` as is (with its Content-Type among `headers`). `path` (which may
        come from an answer, as a next-page link) must stay on the service's host: the credentials go with it."""
        url = f"{self.config.url}{path}"
        if not path.startswith("/") or urlsplit(url).netloc != urlsplit(self.config.url).netloc:
            raise RejectedError(f"{self.config.name}: path {path[:80]!r} leaves the service's host")
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
