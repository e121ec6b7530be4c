"""Lambda's event source mapping API on this machine, served to boto3 and read by the local pollers.

Neither emulator can serve it here: moto's mappings invoke its fake Lambda inside SendMessage and delete the
messages, LocalStack's need a Lambda runtime it cannot start without Docker. So `jobqueue dev` always runs this
one (AWS_ENDPOINT_URL_LAMBDA points boto3 at it), whichever emulator serves SQS. It speaks Lambda's REST-JSON
protocol for these calls:

| call | method and path |
|---|---|
| CreateEventSourceMapping | `POST /2015-03-31/event-source-mappings/` |
| ListEventSourceMappings | `GET /2015-03-31/event-source-mappings/?FunctionName=&EventSourceArn=&Marker=&MaxItems=` |
| GetEventSourceMapping, UpdateEventSourceMapping, DeleteEventSourceMapping | `GET`, `PUT`, `DELETE` `.../{UUID}` |

States follow Lambda's: a mapping a poller consumes goes Enabled -> Disabling -> Disabled when it is disabled, and
reaches Disabled only once its poller is between receives, so Disabled means nothing is receiving; re-enabled, it
is Enabling until the poller polls again. A mapping without a poller switches at once. Updates take Enabled,
BatchSize and MaximumBatchingWindowInSeconds (the poller applies them to its next batch); other settings are
refused, so nothing the local pollers would ignore is accepted.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from jobqueue.local.services import BackgroundHttpServer

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ACCOUNT", "Batching", "LambdaApi", "LambdaApiError", "MappingStore", "function_arn"]

ACCOUNT = "000000000000"
BASE = "/2015-03-31/event-source-mappings"
_CREATE_FIELDS = {"FunctionName", "EventSourceArn", "Enabled", "BatchSize", "MaximumBatchingWindowInSeconds",
                  "FunctionResponseTypes", "ScalingConfig"}
_UPDATE_FIELDS = {"Enabled", "BatchSize", "MaximumBatchingWindowInSeconds"}


class LambdaApiError(Exception):
    """An error answer in Lambda's shape: HTTP status, error code (x-amzn-ErrorType) and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def function_arn(region: str, name: str) -> str:
    """A function's ARN in this runtime's account (a name that is an ARN already is kept)."""
    return name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"


@dataclass(frozen=True)
class Batching:
    """What an enabled mapping's poller gathers: up to `batch_size` records, for up to `window` seconds."""

    batch_size: int
    window: int


@dataclass
class _Mapping:
    uuid: str
    function_arn: str
    source_arn: str
    batching: Batching
    max_concurrency: int
    enabled: bool
    state: str
    response_types: list[str] = field(default_factory=list)
    last_modified: float = field(default_factory=time.time)

    def describe(self, region: str) -> dict[str, Any]:
        """The mapping as Lambda describes it."""
        described: dict[str, Any] = {
            "UUID": self.uuid, "EventSourceArn": self.source_arn, "FunctionArn": self.function_arn,
            "BatchSize": self.batching.batch_size,
            "MaximumBatchingWindowInSeconds": self.batching.window, "State": self.state,
            "StateTransitionReason": "USER_INITIATED", "LastModified": self.last_modified,
            "FunctionResponseTypes": self.response_types,
            "EventSourceMappingArn": f"arn:aws:lambda:{region}:{ACCOUNT}:event-source-mapping:{self.uuid}",
        }
        if self.max_concurrency:
            described["ScalingConfig"] = {"MaximumConcurrency": self.max_concurrency}
        return described


def _whole(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise LambdaApiError(400, "InvalidParameterValueException", f"{name} must be an integer {low}..{high}")
    return value


class MappingStore:
    """The runtime's event source mappings; thread-safe. The HTTP API changes them, pollers `consume` them."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._mappings: dict[str, _Mapping] = {}
        self._consumed: set[str] = set()
        self._lock = threading.Lock()

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        unknown = set(body) - _CREATE_FIELDS
        if unknown:
            raise LambdaApiError(400, "InvalidParameterValueException",
                                 f"the local runtime does not support {sorted(unknown)}")
        if not body.get("FunctionName") or not body.get("EventSourceArn"):
            raise LambdaApiError(400, "InvalidParameterValueException", "FunctionName and EventSourceArn are required")
        scaling = body.get("ScalingConfig") or {}
        batching = Batching(_whole(body, "BatchSize", 10, 1, 10000),
                            _whole(body, "MaximumBatchingWindowInSeconds", 0, 0, 300))
        enabled = bool(body.get("Enabled", True))
        mapping = _Mapping(str(uuid.uuid4()), function_arn(self.region, str(body["FunctionName"])),
                           str(body["EventSourceArn"]), batching, _whole(scaling, "MaximumConcurrency", 0, 0, 1000),
                           enabled, "Enabled" if enabled else "Disabled", list(body.get("FunctionResponseTypes") or []))
        with self._lock:
            if any((m.function_arn, m.source_arn) == (mapping.function_arn, mapping.source_arn)
                   for m in self._mappings.values()):
                raise LambdaApiError(409, "ResourceConflictException",
                                     f"a mapping of {mapping.source_arn} to {mapping.function_arn} exists already")
            self._mappings[mapping.uuid] = mapping
            return mapping.describe(self.region)

    def list(self, function: str | None, source_arn: str | None, marker: str | None,
             max_items: int | None) -> dict[str, Any]:
        """One page, in creation order; `Marker` is the index of the page's first mapping."""
        wanted = function_arn(self.region, function) if function else None
        start = int(marker) if marker and marker.isdigit() else 0
        with self._lock:
            found = [m.describe(self.region) for m in self._mappings.values()
                     if (wanted is None or m.function_arn == wanted) and source_arn in (None, m.source_arn)]
        end = len(found) if max_items is None else start + max_items
        page: dict[str, Any] = {"EventSourceMappings": found[start:end]}
        if end < len(found):
            page["NextMarker"] = str(end)
        return page

    def get(self, mapping_id: str) -> dict[str, Any]:
        with self._lock:
            return self._find(mapping_id).describe(self.region)

    def update(self, mapping_id: str, body: dict[str, Any]) -> dict[str, Any]:
        unknown = set(body) - _UPDATE_FIELDS - {"UUID"}
        if unknown:
            raise LambdaApiError(400, "InvalidParameterValueException",
                                 f"the local runtime cannot update {sorted(unknown)}")
        with self._lock:
            mapping = self._find(mapping_id)
            mapping.batching = Batching(
                _whole(body, "BatchSize", mapping.batching.batch_size, 1, 10000),
                _whole(body, "MaximumBatchingWindowInSeconds", mapping.batching.window, 0, 300))
            if "Enabled" in body and bool(body["Enabled"]) != mapping.enabled:
                mapping.enabled = bool(body["Enabled"])
                moving = mapping_id in self._consumed
                mapping.state = (("Enabling" if moving else "Enabled") if mapping.enabled
                                 else ("Disabling" if moving else "Disabled"))
            mapping.last_modified = time.time()
            return mapping.describe(self.region)

    def delete(self, mapping_id: str) -> dict[str, Any]:
        with self._lock:
            mapping = self._mappings.pop(self._find(mapping_id).uuid)
            self._consumed.discard(mapping_id)
            mapping.state = "Deleting"
            return mapping.describe(self.region)

    def consumer(self, mapping_id: str) -> Callable[[], Batching | None]:
        """What a poller calls before each receive: the mapping's batching while it is enabled, else None.

        Calling it is the poller saying it is between receives, which completes a pending Disabling or Enabling.
        A deleted mapping is None for good.
        """
        with self._lock:
            self._find(mapping_id)
            self._consumed.add(mapping_id)

        def consume() -> Batching | None:
            with self._lock:
                mapping = self._mappings.get(mapping_id)
                if mapping is None:
                    return None
                mapping.state = "Enabled" if mapping.enabled else "Disabled"
                return mapping.batching if mapping.enabled else None

        return consume

    def _find(self, mapping_id: str) -> _Mapping:
        mapping = self._mappings.get(mapping_id)
        if mapping is None:
            raise LambdaApiError(404, "ResourceNotFoundException", f"no event source mapping {mapping_id}")
        return mapping


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            status, body = self._route(urlsplit(self.path), raw)
        except LambdaApiError as exc:
            self._reply(exc.status, {"Type": "User", "message": str(exc)}, exc.code)
        else:
            self._reply(status, body)

    def _route(self, url: Any, raw: bytes) -> tuple[int, dict[str, Any]]:
        store = self.server.store
        if not url.path.startswith(BASE):
            raise LambdaApiError(404, "ResourceNotFoundException", f"the local Lambda API has no {url.path}")
        mapping_id = unquote(url.path[len(BASE):]).strip("/")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError as exc:
            raise LambdaApiError(400, "InvalidRequestContentException", f"the body is not JSON: {exc}") from exc
        if not mapping_id and self.command == "POST":
            return 202, store.create(body)
        if not mapping_id and self.command == "GET":
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            max_items = query.get("MaxItems")
            return 200, store.list(query.get("FunctionName"), query.get("EventSourceArn"), query.get("Marker"),
                                   int(max_items) if max_items and max_items.isdigit() else None)
        if mapping_id and self.command == "GET":
            return 200, store.get(mapping_id)
        if mapping_id and self.command == "PUT":
            return 202, store.update(mapping_id, body)
        if mapping_id and self.command == "DELETE":
            return 202, store.delete(mapping_id)
        raise LambdaApiError(405, "InvalidRequestContentException", f"{self.command} {url.path} is not supported")

    def _reply(self, status: int, body: dict[str, Any], error: str | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if error:
            self.send_header("x-amzn-ErrorType", error)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Not logged: the pollers' and the engine's own logs say what changed."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    store: MappingStore


class LambdaApi(BackgroundHttpServer):
    """The mapping API on a loopback port (0: a free one), serving `store` from a thread until `stop()`.

    >>> api = LambdaApi("us-east-1").start()   # doctest: +SKIP
    >>> api.endpoint                            # doctest: +SKIP
    'http://127.0.0.1:54321'
    """

    def __init__(self, region: str, port: int = 0) -> None:
        self.store = MappingStore(region)
        httpd = _Server(("127.0.0.1", port), _Handler)
        httpd.store = self.store
        super().__init__(httpd, "jobqueue-lambda-api")

    @property
    def endpoint(self) -> str:
        return self.url
