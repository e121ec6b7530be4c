"""The API Lambda's application: Powertools' REST resolver with every route, validation and error mapping.

`handle(event, context)` is what the Lambda handler calls: it refuses requests to non-public routes that lack
the service token (see `jobqueue.api.auth`) or whose body is not a JSON object, then lets the resolver route,
validate and answer.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from jobqueue import __version__
from jobqueue.api.auth import BEARER_SCHEME, header, is_public, proxy_error, refusal
from jobqueue.api.bodies import parse_object
from jobqueue.api.errors import BadRequestError, register_error_handlers
from jobqueue.api.routes import ROUTERS
from jobqueue.catalog import default_catalog
from jobqueue.registry import import_attribute

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["app", "handle", "logger", "openapi_document"]

logger = Logger(service="jobqueue-api")

# debug=False: Powertools' debug mode prints whole events, Authorization headers included.
app = APIGatewayRestResolver(enable_validation=True, debug=False)
register_error_handlers(app)
for _router in [*ROUTERS, *(import_attribute(path) for path in default_catalog().routers)]:
    app.include_router(_router)

TITLE = "jobqueue"
DESCRIPTION = (
    "BullMQ-style job queues on SQS, Lambda and Redis. Every route except `POST /webhooks/{source}` (signed "
    "bodies), `GET /health`, `GET /openapi.json` and the dashboard's files needs `Authorization: Bearer <service "
    "token>` (`GET /metrics` also takes the scrape token, `METRICS_TOKEN`, when one is set; every GET takes the "
    "read-only token, `READ_ONLY_TOKEN`, when one is set). `GET /dashboard` is the web dashboard, which calls these "
    "routes. A wrong method on a route's path is a 405 with `Allow`."
)


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document as served and as committed (`python -m jobqueue.api.openapi > openapi.json`)."""
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer  # heavy: only for the document

    from jobqueue.api.openapi import build_document

    return build_document(app, title=TITLE, version=__version__, description=DESCRIPTION,
                          security_schemes={BEARER_SCHEME: HTTPBearer(description="the service token")})


@app.get("/openapi.json", include_in_schema=False)
def openapi_json() -> dict[str, Any]:
    return openapi_document()


def body_problem(event: dict[str, Any]) -> tuple[int, str] | None:
    """What is wrong with a request body before the resolver sees it, as (status, message), or None.

    Every body the API takes is a JSON object (`jobqueue.api.bodies`), checked whether or not the route reads one.
    Powertools would also parse forms and multipart, take a JSON array's first element for the object, fail with
    a 500 on bytes that are not UTF-8 and let a body nested thousands of levels deep raise RecursionError.
    """
    body = event.get("body")
    if not body:
        return None
    content_type = header(event, "content-type")
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if not (media == "application/json" or media.endswith("+json")):
        return 415, "request bodies must be application/json"
    charset = re.search(r";\s*charset=\"?([^\";]+)", content_type or "", re.IGNORECASE)
    if charset and charset.group(1).strip().lower() not in ("utf-8", "utf8"):
        return 415, f"request bodies must be application/json in UTF-8, not {charset.group(1).strip()[:40]}"
    text = body
    if event.get("isBase64Encoded"):
        try:
            text = base64.b64decode(body, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return 400, "body: must be UTF-8 encoded JSON"
    try:
        parse_object(text)
    except BadRequestError as exc:
        return 400, str(exc)
    return None


def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Authenticate and check the body's media type and shape (unless the route is public), then route."""
    if not is_public(event):
        refused = refusal(event)
        if refused is not None:
            return refused
        problem = body_problem(event)
        if problem is not None:
            return proxy_error(*problem)
    return app.resolve(event, context)
