"""Powertools' SQS batch processor, with a whole-batch step before and after the records.

jobqueue moves a batch's jobs through Redis in one round trip per transition, so the per-record handler
of Powertools is wrapped by a stage that starts the batch (`start`) and finishes it (`finish`). Powertools
still runs each record, catches its exception and builds the partial batch response.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["BatchStage", "run_batch"]


class BatchStage(Protocol):
    """One invocation's work on a batch of SQS records."""

    def start(self, records: list[dict[str, Any]]) -> None:
        """Before any record runs: validate them all and make the batch's first Redis transition."""

    def run(self, record: SQSRecord) -> None:
        """One record; raising reports it as a batch item failure (SQS delivers it again)."""

    def finish(self) -> set[str]:
        """After every record: the closing transitions; returns ids of records that must be redelivered
        after all (for example because forwarding them failed)."""


class _StagedBatchProcessor(BatchProcessor):
    def __init__(self, stage: BatchStage) -> None:
        # An all-failed batch is a normal outcome here (every job retrying), not an invocation error.
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self.stage = stage

    def _prepare(self) -> None:
        super()._prepare()  # type: ignore[no-untyped-call]
        self.stage.start(self.records)

    def _clean(self) -> None:
        redeliver = self.stage.finish()
        if redeliver:
            # Powertools keeps raw records for successes and SQSRecord objects for failures.
            succeeded: list[Any] = self.success_messages
            succeeded[:] = [m for m in succeeded if m["messageId"] not in redeliver]
            known = {cast("SQSRecord", m).message_id for m in self.fail_messages}
            self.fail_messages += [
                SQSRecord(r) for r in self.records if r["messageId"] in redeliver and r["messageId"] not in known
            ]
        super()._clean()  # type: ignore[no-untyped-call]


def run_batch(event: dict[str, Any], stage: BatchStage, context: LambdaContext | None) -> PartialItemFailureResponse:
    """Process an SQS event through `stage`; returns `{"batchItemFailures": [...]}`."""
    return process_partial_response(
        event=event, record_handler=stage.run, processor=_StagedBatchProcessor(stage), context=context
    )
