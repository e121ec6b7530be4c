"""An HTTP proxy in front of an AWS emulator that injects SQS send faults, so that the code under test meets them
through its real boto3 client (retries, error parsing and all) without being patched.

Only `SendMessage` and `SendMessageBatch` are touched (the action is the `X-Amz-Target` header under SQS's JSON
protocol, the form body's `Action=` under the query protocol); every other request is forwarded untouched. Each
send, while the proxy is enabled, meets at most one fault, drawn with the given probabilities:

- `refuse`: answered 500 InternalError without being forwarded (SQS did nothing);
- `lose_reply`: forwarded, then answered 500 anyway (SQS took the messages; the caller cannot tell);
- `refuse_entries` (SendMessageBatch, JSON protocol): some entries (each with probability `entry_share`, at least
  one) are taken out before forwarding and reported in the answer's `Failed` list, as SQS reports per-entry
  failures; boto3 does not retry those, so the caller's own handling of a partial batch is exercised.

`brownout(seconds)` makes every send fail for a while (`refuse` or `lose_reply`, even odds), as an SQS outage
does: independent faults rarely outlast boto3's own retries, an outage does.

    proxy = SqsFaultProxy("http://127.0.0.1:5000", refuse=0.1, lose_reply=0.05, seed=7).start()
    os.environ["AWS_ENDPOINT_URL"] = proxy.url   # clients (and child processes) now go through it
    ...
    proxy.brownout(3)                            # every send fails for 3 s
    proxy.enabled.clear()                        # faults off; requests still pass through
    print(proxy.stats())                         # {'sends': 812, 'refuse': 70, 'lose_reply': 41, ...}
    proxy.stop()
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from jobqueue.local.services import BackgroundHttpServer

__all__ = ["Fault", "SqsFaultProxy"]

Fault = Literal["refuse", "lose_reply", "refuse_entries"]
SEND_ACTIONS = ("SendMessage", "SendMessageBatch")
UPSTREAM_TIMEOUT_S = 60
"""Longer than any long poll (20 s) that passes through."""
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
               "content-length"}


class SqsFaultProxy(BackgroundHttpServer):
    """The proxy on a free loopback port (`url`), forwarding to `upstream` until `stop()`.

    Probabilities are per send request and exclusive (their sum must not exceed 1). `seed` makes the draws
    repeatable for a given order of requests. `enabled` (set at start) switches faults on and off.
    """

    def __init__(self, upstream: str, *, refuse: float = 0.0, lose_reply: float = 0.0, refuse_entries: float = 0.0,
                 entry_share: float = 0.3, seed: int | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        chances: dict[Fault, float] = {"refuse": refuse, "lose_reply": lose_reply, "refuse_entries": refuse_entries}
        if any(not 0 <= p <= 1 for p in (*chances.values(), entry_share)) or sum(chances.values()) > 1:
            raise ValueError(f"fault probabilities must be within 0..1 and sum to at most 1: {chances}")
        target = urlsplit(upstream)
        if target.scheme != "http" or not target.hostname:
            raise ValueError(f"upstream must be an http:// URL, got {upstream!r}")
        self.upstream = (target.hostname, target.port or 80)
        self.chances = chances
        self.entry_share = entry_share
        self.enabled = threading.Event()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._brownout_ends = 0.0
        httpd = _ProxyServer((host, port), _ProxyHandler)
        httpd.proxy = self
        super().__init__(httpd, "sqs-fault-proxy")

    def start(self) -> SqsFaultProxy:
        self.enabled.set()
        super().start()
        return self

    def stats(self) -> dict[str, int]:
        """How many send requests passed (`sends`) and how many met each fault (`brownout`: of those, how many in a
        brownout); `entries_refused` counts entries."""
        with self._lock:
            return dict(self._counts)

    def brownout(self, seconds: float) -> None:
        """Fail every send for the next `seconds` (while enabled)."""
        with self._lock:
            self._brownout_ends = time.monotonic() + seconds

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def draw(self, action: str, json_protocol: bool) -> Fault | None:
        """The fault this send meets, if any."""
        self.count("sends")
        if not self.enabled.is_set():
            return None
        with self._lock:
            roll = self._random.random()
            outage = time.monotonic() < self._brownout_ends
        if outage:
            fault: Fault = "refuse" if roll < 0.5 else "lose_reply"
            self.count(fault)
            self.count("brownout")
            return fault
        for name, chance in self.chances.items():
            if roll < chance:
                if name == "refuse_entries" and (action != "SendMessageBatch" or not json_protocol):
                    return None
                self.count(name)
                return name
            roll -= chance
        return None

    def pick_refused(self, count: int) -> set[int]:
        """Indices of the entries to refuse out of `count`: each with `entry_share`, at least one."""
        with self._lock:
            chosen = {i for i in range(count) if self._random.random() < self.entry_share}
            return chosen or {self._random.randrange(count)}


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    proxy: SqsFaultProxy


class _ProxyHandler(BaseHTTPRequestHandler):
    """One client connection (kept alive), with its own upstream connection."""

    server: _ProxyServer
    protocol_version = "HTTP/1.1"
    _upstream: http.client.HTTPConnection | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes: without this, Nagle's algorithm holds the body back until the
        # client's delayed ACK (40 ms a request).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: requests carry signatures."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        target = self.headers.get("X-Amz-Target") or ""
        json_protocol = bool(target)
        action = target.rpartition(".")[2] if target else _form_action(self.headers.get("Content-Type"), body)
        fault = self.server.proxy.draw(action, json_protocol) if action in SEND_ACTIONS else None
        if fault == "refuse":
            self._error(json_protocol)
            return
        if fault == "refuse_entries":
            self._refuse_entries(body)
            return
        try:
            status, headers, answer = self._forward(body)
        except (OSError, http.client.HTTPException) as exc:
            self._reply(502, [("Content-Type", "text/plain")], f"upstream unreachable: {exc}".encode())
            return
        if fault == "lose_reply":
            self._error(json_protocol)
            return
        self._reply(status, headers, answer)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """The request as received, to the upstream; one retry on a kept-alive connection the upstream closed."""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        for reused in (self._upstream is not None, False):
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(*self.server.proxy.upstream, timeout=UPSTREAM_TIMEOUT_S)
            try:
                self._upstream.request(self.command, self.path, body=body, headers=headers)
                response = self._upstream.getresponse()
                answer = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._upstream.close()
                self._upstream = None
                if reused:
                    continue
                raise
            except OSError:
                self._upstream.close()
                self._upstream = None
                raise
            if response.will_close:
                self._upstream.close()
                self._upstream = None
            return response.status, response.getheaders(), answer
        raise AssertionError("unreachable")

    def _refuse_entries(self, body: bytes) -> None:
        """Forward the batch without some of its entries and report those as failed, as SQS does per entry."""
        request = json.loads(body)
        entries = request.get("Entries") or []
        if not entries:
            self._reply(*self._forward(body))
            return
        refused = self.server.proxy.pick_refused(len(entries))
        self.server.proxy.count("entries_refused", len(refused))
        failed = [{"Id": entries[i]["Id"], "SenderFault": False, "Code": "InternalError",
                   "Message": "injected by SqsFaultProxy: entry refused"} for i in sorted(refused)]
        kept = [entry for i, entry in enumerate(entries) if i not in refused]
        result: dict[str, Any] = {"Successful": [], "Failed": []}
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", str(uuid.uuid4()))]
        if kept:
            try:
                status, headers, answer = self._forward(json.dumps({**request, "Entries": kept}).encode())
            except (OSError, http.client.HTTPException) as exc:
                self._reply(502, [("Content-Type", "text/plain")], f"upstream unreachable: {exc}".encode())
                return
            if status != 200:
                self._reply(status, headers, answer)
                return
            result = json.loads(answer)
        result["Failed"] = [*(result.get("Failed") or []), *failed]
        self._reply(200, headers, json.dumps(result).encode())

    def _error(self, json_protocol: bool) -> None:
        request_id = str(uuid.uuid4())
        if json_protocol:
            body = json.dumps({"__type": "InternalError", "message": "injected by SqsFaultProxy"}).encode()
            content_type = "application/x-amz-json-1.0"
        else:
            body = (f"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code><Message>injected by "
                    f"SqsFaultProxy</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>").encode()
            content_type = "text/xml"
        self._reply(500, [("Content-Type", content_type), ("x-amzn-RequestId", request_id)], body)

    def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP and name.lower() not in ("date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def finish(self) -> None:
        super().finish()
        if self._upstream is not None:
            self._upstream.close()


def _form_action(content_type: str | None, body: bytes) -> str:
    """The query protocol's action (`Action=SendMessage` in a form body)."""
    if not content_type or "x-www-form-urlencoded" not in content_type:
        return ""
    try:
        return parse_qs(body.decode("utf-8"), max_num_fields=1000).get("Action", [""])[0]
    except (UnicodeDecodeError, ValueError):
        return ""
