"""Worker Lambda: one per catalog queue (QUEUE_NAME), fed by that queue's SQS event source."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from jobqueue.worker import Worker, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

worker = Worker(os.environ["QUEUE_NAME"])


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return worker.handle(event, context)
