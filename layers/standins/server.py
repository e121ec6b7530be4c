"""A stand-in HTTP service: routes, what it received, and failures injected on request.

Failures are armed per path prefix, from Python (`service.fail("/v2/PropertyDetail", status=429,
retry_after=2)`) or over HTTP, so a person running `make run` can watch retries and dead letters:

    $ base=$CRM_API_URL                    # any stand-in's URL from the export line `make run` prints
    $ curl -X POST $base/_standin/faults -d '{"path": "/v2/PropertyDetail", "status": 429, "retryAfter": 2}'
    $ curl -X POST $base/_standin/faults -d '{"path": "/leads", "status": 503, "times": null}'   # until cleared
    $ curl -X POST $base/_standin/faults -d '{"path": "/contacts", "delay": 15}'                # a timeout
    $ curl -X POST $base/_standin/faults -d '{"path": "/crm", "status": 500, "after": 1}'       # the 2nd request
    $ curl $base/_standin/requests          # what the service received
    $ curl -X DELETE $base/_standin/faults  # clear every fault
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["Fault", "Received", "Reply", "Request", "StandIn"]


@dataclass(frozen=True)
class Request:
    """One request as a route sees it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Received:
    """What the service recorded of a request (after any fault was applied)."""

    at: float
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str
    status: int


@dataclass
class Fault:
    """Answer `status` (with Retry-After) or stall `delay` s before answering, for `times` requests (None: all),
    once `after` requests have gone through unharmed."""

    path: str
    status: int | None = None
    retry_after: int | None = None
    delay: float = 0.0
    times: int | None = 1
    after: int = 0


Route = Callable[[Request], Reply]


class StandIn:
    """A threaded HTTP server on a free loopback port, recording every request."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.routes: list[tuple[str, re.Pattern[str], Route]] = []
        self.received: list[Received] = []
        self.faults: list[Fault] = []
        self.state: dict[str, Any] = {}
        """The service's data (contacts, sent messages, indexed documents...), for tests and demos."""
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def route(self, method: str, pattern: str, handler: Route) -> None:
        """`pattern` like "/contacts/{id}": the braces become named parameters."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self.routes.append((method, re.compile(f"^{regex}$"), handler))

    def fail(self, path: str, *, status: int | None = None, retry_after: int | None = None, delay: float = 0.0,
             times: int | None = 1, after: int = 0) -> None:
        with self.lock:
            self.faults.append(Fault(path, status, retry_after, delay, times, after))

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.received.clear()

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path.startswith(path_prefix) and method in (None, r.method)]

    # -- serving ---------------------------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name=f"standin-{self.name}", daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault.path):
                    if fault.after > 0:
                        fault.after -= 1
                        return None
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def answer(self, request: Request) -> Reply:
        if request.path.startswith("/_standin/"):
            return self._control(request)
        fault = self._take_fault(request.path)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.status:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return Reply(fault.status, {"error": f"injected {fault.status}"}, headers)
        for method, regex, handler in self.routes:
            match = regex.match(request.path)
            if match and method == request.method:
                try:
                    return handler(Request(request.method, request.path, request.query, request.headers,
                                           request.body, match.groupdict()))
                except (ValueError, KeyError, TypeError) as exc:
                    return Reply(400, {"error": f"bad request: {exc}"})
        return Reply(404, {"error": f"no route {request.method} {request.path}"})

    def _control(self, request: Request) -> Reply:
        if request.path == "/_standin/requests":
            with self.lock:
                return Reply(200, [asdict(r) for r in self.received])
        if request.path == "/_standin/faults" and request.method == "POST":
            spec = request.json() or {}
            self.fail(str(spec["path"]), status=spec.get("status"), retry_after=spec.get("retryAfter"),
                      delay=float(spec.get("delay", 0)), times=spec.get("times", 1), after=int(spec.get("after", 0)))
            return Reply(201, {"armed": spec})
        if request.path == "/_standin/faults" and request.method == "DELETE":
            self.clear()
            return Reply(204)
        return Reply(404, {"error": "unknown control route"})

    def record(self, request: Request, status: int) -> None:
        if request.path.startswith("/_standin/"):
            return
        with self.lock:
            self.received.append(Received(time.time(), request.method, request.path, request.query,
                                          request.headers, request.body.decode(errors="replace"), status))


def _handler_for(service: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(self.command, url.path, {k: v[-1] for k, v in parse_qs(url.query).items()},
                              {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
            reply = service.answer(request)
            service.record(request, reply.status)
            payload = b"" if reply.body is None else (
                reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode())
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout): nothing to answer

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return  # the recorded requests are the log

    return Handler
