"""Webhook intake: `POST /webhooks/{source}` verifies, dedupes and enqueues; the worker does the rest.

Order of checks: the source must be configured (else 404), the body's HMAC-SHA256 signature must match
(else 401; nothing about the body is revealed before that), then the body must be a JSON object carrying
the source's event id (else 400), for a source with a `timestamp`, a readable send time (else 400), and for a
source with a `group`, a valid tenant id if the event carries one (else 400: it becomes the job's group). An
event id not seen within the dedupe window must then have been sent within the source's tolerance of now (else
401: a replay, or a sender whose clock is off); a repeat of a recorded event gets the recorded answer whatever
its age. Nothing is processed in the request.

An event id is accepted once in two ways that cover each other:

* Powertools idempotency on Redis (`CachePersistenceLayer`), keyed by source and event id and kept for the
  source's `dedupe_window`: a repeat answers the first delivery's 202 body without touching the queue;
* the job id is derived from source and event id, so two deliveries racing past the idempotency record
  (or one arriving after a crashed first attempt left it in progress) still add one job: `addJobs`
  ignores an id that exists.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
import warnings
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.persistence.cache import CachePersistenceLayer
from pydantic import ValidationError

from jobqueue.api.bodies import parse_object
from jobqueue.api.errors import BadRequestError, ConflictError, UnauthorizedError
from jobqueue.api.secrets import read_secret
from jobqueue.job import Group

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.typing import LambdaContext
    from redis import Redis

    from jobqueue.catalog import WebhookSource
    from jobqueue.queue import Queue

__all__ = ["MAX_EVENT_ID", "WebhookIntake", "event_job_id", "raw_body", "send_time", "sign"]

MAX_EVENT_ID = 512
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def sign(secret: str, body: bytes) -> str:
    """The signature a sender puts in the source's header: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def event_job_id(source: str, event_id: str) -> str:
    """The job id of a webhook event: `<source>-<sha256 prefix>`; no ':', never all digits, at most 73 chars.

    >>> event_job_id("gohighlevel", "evt-1")
    'gohighlevel-5d9c1a2b3e7c80e8f8fae3e222e57526'
    """
    digest = hashlib.sha256(f"{source}\n{event_id}".encode()).hexdigest()[:32]
    return f"{_UNSAFE.sub('_', source)[:40]}-{digest}"


def raw_body(body: str | None, is_base64: bool) -> bytes:
    """The bytes the sender signed, from an API Gateway proxy event's body."""
    if body is None:
        return b""
    if is_base64:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequestError("body: invalid base64 encoding") from exc
    return body.encode("utf-8")


def _lookup(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def send_time(value: Any) -> float | None:
    """Unix seconds of a body's timestamp: ISO 8601 (a zone required), or Unix seconds or milliseconds (a value
    past 10^11 is read as milliseconds); None when unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, int | float):
        seconds = float(value) / (1000 if abs(value) >= 10**11 else 1)
        return seconds if abs(seconds) < 10**11 else None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.timestamp() if parsed.tzinfo is not None else None
    return None


class WebhookIntake:
    """One configured webhook source: its signature check, event id, send-time check, dedupe record and queue."""

    def __init__(self, source: WebhookSource, queue: Queue, redis: Redis, *, key_prefix: str) -> None:
        self.source = source
        self.queue = queue
        # This Powertools version marks the Redis layer deprecated under every name, CachePersistenceLayer
        # (the recommended one) included; the warning says nothing about this use.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            store = CachePersistenceLayer(client=redis)  # type: ignore[arg-type]
        self._config = config = IdempotencyConfig(
            event_key_jmespath="[source, eventId]", raise_on_no_idempotency_key=True,
            expires_after_seconds=source.dedupe_window,
        )
        self._accept_once: Callable[..., dict[str, str]] = idempotent_function(
            self._enqueue, data_keyword_argument="delivery", persistence_store=store, config=config,
            key_prefix=key_prefix,
        )

    def verify(self, body: bytes, signature: str | None) -> None:
        """Raise UnauthorizedError unless `signature` is the body's HMAC-SHA256 under the source's secret."""
        secret = read_secret(self.source.secret)
        if secret is None:
            raise UnauthorizedError(f"webhook source {self.source.name!r} has no secret configured")
        if not signature:
            raise UnauthorizedError(f"missing signature header {self.source.signature_header}")
        given = signature.strip()
        if given[:7].lower() == "sha256=":
            given = given[7:]
        if not hmac.compare_digest(sign(secret, body).encode(), given.lower().encode("utf-8", "replace")):
            raise UnauthorizedError("signature does not match the body")

    def parse(self, body: bytes) -> tuple[dict[str, Any], str]:
        """The event (a JSON object) and its id; BadRequestError names what is missing."""
        try:
            event = parse_object(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise BadRequestError("body: must be UTF-8 encoded JSON") from exc
        if event is None:
            raise BadRequestError("body: must be a JSON object")
        raw = _lookup(event, self.source.event_id)
        if isinstance(raw, bool) or not isinstance(raw, str | int) or raw == "":
            raise BadRequestError(f"body.{self.source.event_id}: required, the event id (a string or an integer)")
        event_id = str(raw)
        if len(event_id) > MAX_EVENT_ID:
            raise BadRequestError(f"body.{self.source.event_id}: longer than {MAX_EVENT_ID} characters")
        return event, event_id

    def group_of(self, event: dict[str, Any]) -> str | None:
        """The event's tenant, for a source with a `group` path, when the event has one; BadRequestError if it is
        not a valid group id."""
        path = self.source.group
        raw = _lookup(event, path) if path else None
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise BadRequestError(f"body.{path}: the tenant must be a string or an integer")
        try:
            return Group(id=str(raw)).id
        except ValidationError as exc:
            raise BadRequestError(f"body.{path}: not a group id: {exc.errors()[0]['msg']}") from None

    def sent_at(self, event: dict[str, Any]) -> float | None:
        """The event's send time, for a source with a `timestamp` (else None); BadRequestError if unreadable."""
        path = self.source.timestamp
        if path is None:
            return None
        sent = send_time(_lookup(event, path))
        if sent is None:
            raise BadRequestError(f"body.{path}: required, the send time (ISO 8601 with a zone, or Unix seconds "
                                  f"or milliseconds)")
        return sent

    def check_fresh(self, sent: float | None) -> None:
        """UnauthorizedError if `sent` is further than the tolerance from now (`WebhookSource`: why that
        bounds replays)."""
        if sent is None:
            return
        off = int(time.time() - sent)
        if abs(off) > self.source.timestamp_tolerance:
            when = f"{off} s old" if off > 0 else f"{-off} s in the future"
            raise UnauthorizedError(f"body.{self.source.timestamp}: {when}, outside the source's tolerance of "
                                    f"{self.source.timestamp_tolerance} s (a replay, or the sender's clock is off)")

    def accept(self, body: bytes, signature: str | None, context: LambdaContext | None = None) -> dict[str, str]:
        """Verify, parse and enqueue once; answers `{jobId, queue}`, the same for every delivery of an event.

        With the invocation's `context`, an in-progress record expires with the invocation, so a delivery that
        crashed mid-way is retried in full by the sender's next attempt.
        """
        self.verify(body, signature)
        if context is not None:
            self._config.register_lambda_context(context)
        event, event_id = self.parse(body)
        delivery = {"source": self.source.name, "eventId": event_id, "event": event, "sentAt": self.sent_at(event),
                    "group": self.group_of(event)}
        try:
            return self._accept_once(delivery=delivery)
        except IdempotencyAlreadyInProgressError as exc:
            # Another delivery of this event is being enqueued right now (or crashed doing so). Answering 202
            # here could acknowledge a job whose SQS send then fails, so the sender is asked to retry: by then
            # the first delivery's answer is recorded (or its in-progress record expired with its invocation).
            raise ConflictError(f"event {event_id!r} is being accepted by another delivery; retry") from exc

    def _enqueue(self, delivery: dict[str, Any]) -> dict[str, str]:
        """Runs only for an event id with no dedupe record: a failure here (a stale send time) records none."""
        self.check_fresh(delivery["sentAt"])
        group = {"group": {"id": delivery["group"]}} if delivery.get("group") else {}
        job_id = self.queue.add(self.source.job_name, delivery["event"],
                                jobId=event_job_id(self.source.name, delivery["eventId"]), **group)
        return {"jobId": job_id, "queue": self.queue.name}
