"""The API Lambda on this machine: HTTP requests in, API Gateway REST **proxy** events out, and back.

A stdlib `ThreadingHTTPServer` on 127.0.0.1 turns each request into the v1 proxy event API Gateway sends
(resource and pathParameters from the API's route templates, headers and query strings in both single and
multi-value forms, requestContext, base64 for bodies that are not UTF-8), invokes `functions/api/handler.py`
through `FunctionRunner("api")`, and writes the proxy response back (multi-value headers, base64 bodies).
One invocation at a time, as one warm Lambda container would serve them.

    $ python -m jobqueue.local.http --port 3000
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from aws_lambda_powertools import Logger

from jobqueue.local.runner import FunctionRunner
from jobqueue.local.services import BackgroundHttpServer, bind_error

__all__ = ["DEFAULT_PORT", "ApiServer", "Invoker", "RouteTable", "proxy_event"]

logger = Logger(service="jobqueue-local")

DEFAULT_PORT = 3000
STAGE = "local"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}


class Invoker(Protocol):
    """What serves the API function: a `FunctionRunner` in this process, or a `FunctionPool` of processes."""

    def invoke(self, event: dict[str, Any]) -> Any: ...


class RouteTable:
    """The API's route templates (`/queues/{queue}/jobs/{job_id}`), matched as API Gateway resources are:
    among the templates that have the method, the one with the most literal segments wins."""

    def __init__(self, routes: dict[str, set[str]]) -> None:
        self.routes = [
            (template, {m.upper() for m in methods},
             re.compile("^" + re.sub(r"\\\{([^/]+?)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"),
             sum(1 for part in template.split("/") if part and not part.startswith("{")))
            for template, methods in routes.items()
        ]
        self.routes.sort(key=lambda route: -route[3])

    @classmethod
    def from_api(cls) -> RouteTable:
        """The templates of the OpenAPI document, plus the document's own route."""
        from jobqueue.api import openapi_document

        paths: dict[str, dict[str, Any]] = openapi_document()["paths"]
        routes = {template: set(item) for template, item in paths.items()}
        routes["/openapi.json"] = {"get"}
        return cls(routes)

    def match(self, method: str, path: str) -> tuple[str, dict[str, str] | None]:
        """(resource, pathParameters); an unknown path is its own resource, as API Gateway's proxy+ passes it."""
        trimmed = path.rstrip("/") or "/"
        fallback: tuple[str, dict[str, str] | None] | None = None
        for template, methods, pattern, _ in self.routes:
            found = pattern.match(trimmed)
            if not found:
                continue
            params = {k: unquote(v) for k, v in found.groupdict().items()} or None
            if method.upper() in methods:
                return template, params
            fallback = fallback or (template, params)
        return fallback or (path, None)


def proxy_event(method: str, target: str, headers: list[tuple[str, str]], body: bytes, *, routes: RouteTable,
                source_ip: str = "127.0.0.1") -> dict[str, Any]:
    """The API Gateway REST (v1) proxy event for one HTTP request."""
    url = urlsplit(target)
    path = unquote(url.path) or "/"
    resource, path_parameters = routes.match(method, path)
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    query = parse_qsl(url.query, keep_blank_values=True)
    query_single = {k: v for k, v in query}
    query_multi: dict[str, list[str]] = {}
    for k, v in query:
        query_multi.setdefault(k, []).append(v)
    try:
        text: str | None = body.decode("utf-8") if body else None
        is_base64 = False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    request_id = str(uuid.uuid4())
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method.upper(),
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": query_single or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": single.get("Host", "127.0.0.1"),
            "domainPrefix": "local",
            "extendedRequestId": request_id,
            "httpMethod": method.upper(),
            "identity": {"sourceIp": source_ip, "userAgent": single.get("User-Agent"), "accessKey": None,
                         "accountId": None, "caller": None, "user": None, "userArn": None,
                         "cognitoIdentityId": None, "cognitoIdentityPoolId": None,
                         "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None},
            "path": f"/{STAGE}{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": "local",
            "resourcePath": resource,
            "stage": STAGE,
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        event = proxy_event(self.command, self.path, list(self.headers.items()), body, routes=self.server.routes,
                            source_ip=self.client_address[0])
        try:
            with self.server.invoke_lock:
                response = self.server.runner.invoke(event) or {}
        except Exception:
            logger.exception("API handler raised", extra={"method": self.command, "path": event["path"]})
            response = {"statusCode": 502, "headers": {"Content-Type": "application/json"},
                        "body": json.dumps({"message": "Internal server error"})}
        self._reply(response)

    def _reply(self, response: dict[str, Any]) -> None:
        raw = response.get("body") or ""
        payload = base64.b64decode(raw) if response.get("isBase64Encoded") else str(raw).encode("utf-8")
        self.send_response(int(response.get("statusCode", 502)))
        sent: set[str] = set()
        for name, values in (response.get("multiValueHeaders") or {}).items():
            if name.lower() in _HOP_BY_HOP:
                continue
            for value in values:
                self.send_header(name, str(value))
            sent.add(name.lower())
        for name, value in (response.get("headers") or {}).items():
            if name.lower() not in _HOP_BY_HOP and name.lower() not in sent:
                self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def __getattr__(self, name: str) -> Any:
        """Every method (`do_TRACE` too) goes to the function, which decides what it answers, as behind API Gateway."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged: their headers may carry tokens and signatures."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    runner: Invoker
    routes: RouteTable
    invoke_lock: threading.Lock


class ApiServer(BackgroundHttpServer):
    """The API function behind a loopback HTTP port, serving in a background thread until `stop()`.

    >>> server = ApiServer(port=0).start()          # doctest: +SKIP
    >>> server.url                                   # doctest: +SKIP
    'http://127.0.0.1:54321'
    """

    def __init__(self, port: int = DEFAULT_PORT, host: str = "127.0.0.1", runner: Invoker | None = None) -> None:
        try:
            httpd = _Server((host, port), _Handler)
        except OSError as exc:
            raise bind_error(exc, port, "JOBQUEUE_API_PORT") from exc
        httpd.runner = runner or FunctionRunner("api")
        httpd.routes = RouteTable.from_api()
        httpd.invoke_lock = threading.Lock()
        super().__init__(httpd, "jobqueue-api-http")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the API Lambda over HTTP on this machine.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("JOBQUEUE_API_PORT", DEFAULT_PORT)))
    args = parser.parse_args(argv)
    server = ApiServer(port=args.port).start()
    logger.info("API listening", extra={"url": server.url})
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
