"""`POST /webhooks/{source}`: authenticated by the body's signature alone, answered 202 before any work."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from jobqueue.api.docs import responses
from jobqueue.api.intake import raw_body
from jobqueue.api.models import Accepted
from jobqueue.api.router import new_router
from jobqueue.api.services import services

router = new_router()


@router.post(
    "/webhooks/<source>", status_code=202, tags=["webhooks"], operation_id="receiveWebhook",
    summary="Accept a signed webhook event as a job",
    description="The body must be signed: hex HMAC-SHA256 of the raw body under the source's secret "
                "(optionally prefixed `sha256=`) in the source's signature header (`X-GHL-Signature` for "
                "`gohighlevel`). The same event id within the source's dedupe window yields one job; every "
                "delivery gets the same 202 answer. A source that puts its send time in the body (`timestamp` for "
                "`gohighlevel`) has a new event refused with 401 when that time is further from now than the "
                "source's tolerance (300 s for `gohighlevel`): a replay.",
    responses=responses({202: ("accepted: the job is durable and will run", Accepted)}, 400, 401, 404, 409, 413, 503),
)
def receive_webhook(source: Annotated[str, Path(min_length=1, max_length=100)]) -> Accepted:
    event = router.current_event
    intake = services().intake(source)
    body = raw_body(event.body, bool(event.is_base64_encoded))
    signature = event.headers.get(intake.source.signature_header)
    return Accepted.model_validate(intake.accept(body, signature, router.lambda_context))
