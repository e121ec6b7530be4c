"""The OpenAPI document: Powertools generates it from the routes and models; this module states what
Powertools cannot know, and prints it for the repository's `openapi.json`.

    $ python -m jobqueue.api.openapi > openapi.json

Adjustments: invalid requests are answered 400 with `ErrorResponse` (Powertools documents its default 422);
every route outside `jobqueue.api.auth.PUBLIC_ROUTES` carries the bearer-token security requirement and a 401;
the webhook route documents its raw JSON body, which it reads itself because the signature covers the bytes.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from jobqueue.api.auth import PUBLIC_ROUTES, SECURED
from jobqueue.api.docs import ERRORS

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver
    from aws_lambda_powertools.event_handler.openapi.models import SecurityScheme

__all__ = ["build_document", "main"]

_ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _error(status: int) -> dict[str, Any]:
    return {"description": ERRORS[status], "content": _ERROR_REF}


def build_document(app: APIGatewayRestResolver, *, title: str, version: str, description: str,
                   security_schemes: dict[str, SecurityScheme]) -> dict[str, Any]:
    """The served (and committed) document, as a JSON-ready dict."""
    raw = app.get_openapi_json_schema(title=title, version=version, description=description,
                                      security_schemes=security_schemes)
    document: dict[str, Any] = json.loads(raw)
    public = {(method.lower(), template) for method, template in PUBLIC_ROUTES}
    for template, item in document.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            answers = operation.setdefault("responses", {})
            answers.pop("422", None)
            if operation.get("parameters") or operation.get("requestBody"):
                answers.setdefault("400", _error(400))
            if operation.get("requestBody") and template != "/webhooks/{source}":
                answers.setdefault("415", _error(415))
            if (method, template) not in public:
                operation["security"] = SECURED
                answers.setdefault("401", _error(401))
            if (method, template) == ("post", "/webhooks/{source}"):
                operation["requestBody"] = {
                    "required": True,
                    "description": "the source's event, a JSON object holding its event id",
                    "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
                }
            operation["responses"] = dict(sorted(answers.items()))
    schemas = document.get("components", {}).get("schemas", {})
    # Powertools' 422 schemas, unless something still refers to them.
    generated = ("HTTPValidationError", "ResponseValidationError", "ValidationError")
    kept = {name: schema for name, schema in schemas.items() if name not in generated}
    in_use = json.dumps(document.get("paths", {})) + json.dumps(kept)
    for name in generated:
        if f'"#/components/schemas/{name}"' not in in_use:
            schemas.pop(name, None)
    return document


def main() -> int:
    from jobqueue.api.app import openapi_document

    json.dump(openapi_document(), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
