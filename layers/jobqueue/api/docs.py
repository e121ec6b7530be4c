"""OpenAPI response declarations shared by the routes, so every documented status has its body schema."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobqueue.api.models import ErrorResponse

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

__all__ = ["ERRORS", "responses"]

ERRORS: dict[int, str] = {
    400: "invalid request; `fields` names each invalid field",
    401: "missing or wrong bearer service token (webhooks: missing or wrong signature)",
    404: "no such queue, job, dead letter or webhook source",
    409: "the resource's state forbids the action",
    413: "the job is larger than a queue message may be",
    415: "the body is not application/json",
    503: "a backend (Redis, SQS, Scheduler, Secrets Manager) is unavailable; retry later",
}


def responses(ok: dict[int, tuple[str, Any]], *errors: int) -> dict[int, OpenAPIResponse]:
    """`{status: (description, model)}` for the successes, plus the error statuses' shared ErrorResponse."""
    documented: dict[int, OpenAPIResponse] = {
        status: {"description": text, "content": {"application/json": {"model": model}}}
        for status, (text, model) in ok.items()
    }
    for status in errors:
        documented[status] = {"description": ERRORS[status],
                              "content": {"application/json": {"model": ErrorResponse}}}
    return documented
