"""Errors answered over HTTP, and the one place that maps every error to its status and body.

Client mistakes are 4xx and name what was wrong; backend trouble (Redis, SQS, Secrets Manager) is 503;
anything else is a logged 500 that tells the caller only the request id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as PowertoolsNotFound
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError
from botocore.exceptions import BotoCoreError, ClientError
from redis.exceptions import RedisError

from jobqueue.api.router import allowed_methods
from jobqueue.errors import (
    CatalogError,
    EnqueueError,
    InvalidArgumentError,
    InvalidJobError,
    JobActiveError,
    JobNotFoundError,
    JobQueueError,
    PayloadTooLargeError,
    ScheduleConflictError,
    ScheduleNotFoundError,
    UnknownJobTypeError,
    UnknownQueueError,
    UnrecoverableError,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

__all__ = [
    "BadRequestError",
    "ConflictError",
    "HTTPError",
    "NotFoundError",
    "UnauthorizedError",
    "error_response",
    "field_name",
    "register_error_handlers",
]

logger = Logger(service="jobqueue-api")

MAX_FIELD_ERRORS = 20
"""Invalid fields named in one answer: a body of 100,000 unknown keys gets a short answer, not a 100,000-line one."""
# Tags of the discriminated request unions: not field names, so left out of the field paths we report.
UNION_TAGS = frozenset({"job", "jobType", "bulk"})


class HTTPError(JobQueueError):
    """An error that is already an HTTP answer."""

    status = HTTPStatus.INTERNAL_SERVER_ERROR


class BadRequestError(HTTPError):
    """The request is malformed; the message names the field."""

    status = HTTPStatus.BAD_REQUEST


class UnauthorizedError(HTTPError):
    """Missing or wrong credentials (token or signature); the message never echoes them."""

    status = HTTPStatus.UNAUTHORIZED


class NotFoundError(HTTPError):
    """The named thing (webhook source, dead letter, route) does not exist."""

    status = HTTPStatus.NOT_FOUND


class ConflictError(HTTPError):
    """The request is valid but the resource's state forbids it (e.g. removing an active job)."""

    status = HTTPStatus.CONFLICT


def error_response(status: int, message: str, fields: list[dict[str, str]] | None = None,
                   headers: dict[str, str] | None = None, **extra: Any) -> Response[str]:
    """The one error body shape: {error, message[, fields][, mayRun]} (ErrorResponse)."""
    body: dict[str, Any] = {"error": HTTPStatus(status).phrase, "message": message}
    if fields is not None:
        body["fields"] = fields
    body.update(extra)
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body),
                    headers=headers)


def field_name(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """`("body", "bulk", "jobs", 0, "name")` -> `body.jobs[0].name`."""
    parts: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int):
            if i == 1 and parts == ["body"]:
                continue  # a JSON decode error's character position, not a path
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
        elif not (i == 1 and parts == ["body"] and part in UNION_TAGS):
            parts.append(part)
    return ".".join(parts) or "body"


def _validation(exc: RequestValidationError) -> Response[str]:
    errors = exc.errors()
    fields = [{"field": field_name(e["loc"]), "message": str(e.get("msg", "invalid")), "type": str(e.get("type"))}
              for e in errors[:MAX_FIELD_ERRORS]]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    more = f"; and {len(errors) - MAX_FIELD_ERRORS} more" if len(errors) > MAX_FIELD_ERRORS else ""
    return error_response(400, f"invalid request: {summary}{more}", fields)


def _backend(exc: Exception) -> Response[str]:
    logger.exception("backend unavailable")
    return error_response(503, f"a backend service is unavailable ({type(exc).__name__}); retry later")


def _media_type(exc: Exception) -> Response[str]:
    return error_response(415, "request bodies must be application/json")


def _http(exc: HTTPError) -> Response[str]:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == HTTPStatus.UNAUTHORIZED else None
    return error_response(exc.status, str(exc), headers=headers)


def _status(status: int) -> Callable[[Exception], Response[str]]:
    """A handler answering `status` with the error's own message (engine messages name queue, job and field)."""

    def answer(exc: Exception) -> Response[str]:
        return error_response(status, str(exc))

    return answer


def _not_durable(exc: EnqueueError) -> Response[str]:
    logger.warning("enqueue refused", extra={"accepted": len(exc.accepted), "rejected": len(exc.rejected)})
    return error_response(503, f"{exc}; retry later", mayRun=exc.may_run)


def _misconfigured(exc: CatalogError) -> Response[str]:
    logger.exception("catalog error")
    return error_response(500, "the service's queue catalog is invalid; see the function's logs")


def _engine(exc: JobQueueError) -> Response[str]:
    logger.exception("engine error")
    return error_response(503, f"the job engine could not complete the request: {exc}")


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    """Map every error to its answer; the most specific class registered wins (Powertools walks the MRO)."""

    def no_route(exc: Exception) -> Response[str]:
        method, path = app.current_event.http_method, app.current_event.path
        allowed = allowed_methods(app, path)
        if allowed:
            return error_response(405, f"{method} is not allowed on {path}; allowed: {', '.join(allowed)}",
                                  headers={"Allow": ", ".join(allowed)})
        return error_response(404, f"no route {method} {path}")

    def unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return error_response(500, f"internal error (request {app.current_event.request_context.request_id})")

    handlers: list[tuple[type[Exception] | list[type[Exception]], Callable[[Any], Response[str]]]] = [
        (RequestValidationError, _validation),
        (RequestUnsupportedContentType, _media_type),
        (HTTPError, _http),
        ([UnknownQueueError, JobNotFoundError, ScheduleNotFoundError], _status(404)),
        ([JobActiveError, ScheduleConflictError], _status(409)),
        (PayloadTooLargeError, _status(413)),
        ([InvalidJobError, InvalidArgumentError, UnknownJobTypeError, UnrecoverableError], _status(400)),
        (EnqueueError, _not_durable),
        ([RedisError, BotoCoreError, ClientError, IdempotencyPersistenceLayerError], _backend),
        (CatalogError, _misconfigured),
        (JobQueueError, _engine),
        (PowertoolsNotFound, no_route),
        (Exception, unexpected),
    ]
    for errors, handler in handlers:
        app.exception_handler(errors)(handler)
