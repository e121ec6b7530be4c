"""Dead-letter Lambda: one per dead-letter queue (DEAD_LETTER_QUEUE), fed by its SQS event source."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from jobqueue.deadletter import DeadLetterHandler, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

dead_letters = DeadLetterHandler(os.environ["DEAD_LETTER_QUEUE"])


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return dead_letters.handle(event, context)
