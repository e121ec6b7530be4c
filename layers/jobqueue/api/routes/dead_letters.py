"""Dead letters of a queue: list them, redrive one, some or all to their original queues, remove one."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from jobqueue.api.docs import responses
from jobqueue.api.errors import BadRequestError, NotFoundError
from jobqueue.api.models import DeadLetterList, DeadLetterRecord, RedriveRequest, RedriveResult, RemoveResult
from jobqueue.api.router import BatchProgress, invocation_deadline, new_router
from jobqueue.api.services import services

router = new_router()

QueuePath = Annotated[str, Path(min_length=1, max_length=80, description="a queue of the catalog")]
MAX_PAGE = 1000


@router.get("/queues/<queue>/dlq", tags=["dead letters"], operation_id="listDeadLetters",
            summary="Dead-letter records of the queue's jobs (seed 000's record, plus its id)",
            responses=responses({200: ("records `start`..`end` (inclusive)", DeadLetterList)}, 400, 401, 404))
def list_dead_letters(
    queue: QueuePath,
    start: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    end: Annotated[int, Query(ge=0, le=10_000_000, description=f"inclusive; at most {MAX_PAGE} a page")] = 99,
) -> DeadLetterList:
    if end < start or end - start >= MAX_PAGE:
        raise BadRequestError(f"query.end: must be between start and start + {MAX_PAGE - 1}")
    svc = services()
    records = svc.admin(queue).dead_letters(start, end)
    return DeadLetterList(queue=queue, deadLetterQueue=svc.catalog.queue(queue).dead_letter,
                          records=[DeadLetterRecord.model_validate(r, from_attributes=True) for r in records])


@router.post("/queues/<queue>/dlq/redrive", tags=["dead letters"], operation_id="redriveDeadLetters",
             summary="Return dead jobs to their original queue with fresh attempts",
             description="`recordIds` picks records; without it every record of the queue is redriven.",
             responses=responses({200: ("the jobs now back in their queues", RedriveResult)}, 400, 401, 404, 503))
def redrive(queue: QueuePath, request: Annotated[RedriveRequest | None, Body()] = None) -> RedriveResult:
    progress = BatchProgress()
    redriven = services().admin(queue).redrive(request.recordIds if request else None, progress.seen,
                                               deadline=invocation_deadline(router))
    return RedriveResult(queue=queue, redriven=redriven, remaining=progress.remaining)


@router.delete("/queues/<queue>/dlq/<record_id>", tags=["dead letters"], operation_id="removeDeadLetter",
               summary="Delete a dead-letter record without redriving it",
               responses=responses({200: ("removed", RemoveResult)}, 400, 401, 404))
def remove_dead_letter(queue: QueuePath, record_id: Annotated[str, Path(min_length=1, max_length=256)]) -> RemoveResult:
    if not services().admin(queue).remove_dead_letter(record_id):
        raise NotFoundError(f"queue {queue!r} has no dead letter {record_id!r}")
    return RemoveResult(queue=queue, jobId=record_id, removed=True)
