"""API Lambda: every HTTP route of jobqueue behind API Gateway (REST API, Lambda proxy integration)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from jobqueue.api import handle, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


# log_event=False whatever the environment says: events carry the service token and webhook signatures.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, context)
