"""Queue routes: the catalog, metrics (seed 003's shape), job status and lists, and the operator's actions."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from jobqueue.api.docs import responses
from jobqueue.api.errors import BadRequestError, ConflictError
from jobqueue.api.models import (
    CleanRequest,
    CleanResult,
    DrainRequest,
    DrainResult,
    EventSources,
    JobList,
    JobLogs,
    JobPromoted,
    JobRetried,
    JobState,
    JobStatus,
    JobTimeline,
    PauseState,
    PromoteRequest,
    PromoteResult,
    QueueList,
    QueueMetrics,
    QueueStatus,
    QueueSummary,
    RemoveResult,
    RetryRequest,
    RetryResult,
    Stats,
)
from jobqueue.api.router import BatchProgress, invocation_deadline, new_router
from jobqueue.api.services import Services, services
from jobqueue.errors import JobNotFoundError
from jobqueue.keys import job_id_problem
from jobqueue.mappings import EventSourceStates
from jobqueue.queue import JobInfo

router = new_router()

QueuePath = Annotated[str, Path(min_length=1, max_length=80, description="a queue of the catalog")]
JobIdPath = Annotated[str, Path(min_length=1, max_length=256)]
MAX_PAGE = 1000
MAX_LOG_PAGE = 1000
_TOTALS = ("waiting", "active", "completed", "failed", "delayed", "total")


def event_sources(states: EventSourceStates) -> EventSources:
    return EventSources(enabled=states.enabled, disabled=states.disabled, transitioning=states.transitioning,
                        stopped=states.stopped)


def job_status(job: JobInfo) -> JobStatus:
    return JobStatus(id=job.id, name=job.name, data=job.data, opts=job.opts, state=job.state, progress=job.progress,
                     attemptsMade=job.attemptsMade, processedOn=job.processedOn, finishedOn=job.finishedOn,
                     returnvalue=job.returnvalue, failedReason=job.failedReason, stacktrace=job.stacktrace,
                     parent=job.parent, children=job.children)


def job_key_id(job_id: str) -> str:
    """`job_id`, unless it names one of the queue's own keys (`wait`, `meta`, `1:logs`): then a 400 saying so."""
    problem = job_id_problem(job_id)
    if problem:
        raise BadRequestError(f"path.job_id: {problem}")
    return job_id


@router.get("/queues", tags=["queues"], operation_id="listQueues", summary="The catalog's queues and settings",
            responses=responses({200: ("every queue", QueueList)}, 401))
def list_queues() -> QueueList:
    svc = services()
    return QueueList(queues=[
        QueueSummary(name=q.name, deadLetter=q.dead_letter, attempts=q.attempts,
                     concurrency=q.effective_concurrency(),
                     limiter=(lim.model_dump() if (lim := q.effective_limiter()) else None),
                     jobTypes=list(q.job_types), cron=[c.pattern for c in q.cron])
        for q in svc.catalog.queues.values()
    ])


@router.get("/stats", tags=["queues"], operation_id="stats", summary="Metrics of every queue, totals, DLQ depths",
            responses=responses({200: ("seed 002's statistics", Stats)}, 401, 503))
def stats() -> Stats:
    svc = services()
    metrics = [QueueMetrics.model_validate(svc.admin(name).metrics()) for name in svc.catalog.queues]
    totals = {field: sum(getattr(m, field) for m in metrics) for field in _TOTALS}
    return Stats(queues=metrics, totals=totals, deadLetters=_dead_letter_depths(svc))


def _dead_letter_depths(svc: Services) -> dict[str, int]:
    """Records awaiting triage in each dead-letter queue: one pipelined round trip."""
    names = sorted(svc.catalog.dead_letters)
    pipe = svc.redis.pipeline(transaction=False)
    for name in names:
        pipe.llen(svc.settings.queue_keys(name).wait)
    return {name: int(n) for name, n in zip(names, pipe.execute(), strict=True)}


@router.get("/queues/<queue>", tags=["queues"], operation_id="getQueue",
            summary="A queue's metrics (seed 003) and its event source mappings' states",
            responses=responses({200: ("job counts, and whether Lambda receives the queue", QueueStatus)},
                                400, 401, 404, 503))
def get_queue(queue: QueuePath) -> QueueStatus:
    admin = services().admin(queue)
    return QueueStatus.model_validate({**admin.metrics(), "eventSources": event_sources(admin.event_sources())})


@router.get("/queues/<queue>/jobs", tags=["queues"], operation_id="listJobs", summary="Jobs in one state, paged",
            responses=responses({200: ("jobs `start`..`end` (inclusive) of the state", JobList)}, 400, 401, 404))
def list_jobs(
    queue: QueuePath,
    state: Annotated[JobState, Query(description="BullMQ state")] = "waiting",
    start: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    end: Annotated[int, Query(ge=0, le=10_000_000, description=f"inclusive; at most {MAX_PAGE} jobs a page")] = 49,
) -> JobList:
    if end < start or end - start >= MAX_PAGE:
        raise BadRequestError(f"query.end: must be between start and start + {MAX_PAGE - 1}")
    jobs = services().admin(queue).get_jobs(state, start, end)
    return JobList(queue=queue, state=state, start=start, end=end, jobs=[job_status(j) for j in jobs])


@router.get("/queues/<queue>/jobs/<job_id>", tags=["queues"], operation_id="getJob",
            summary="A job's status (seed 003)", responses=responses({200: ("the job", JobStatus)}, 400, 401, 404))
def get_job(queue: QueuePath, job_id: JobIdPath) -> JobStatus:
    return job_status(_existing_job(queue, job_id))


def _existing_job(queue: str, job_id: str) -> JobInfo:
    """The job, or the 404 every route about one job answers when there is none."""
    job = services().queue(queue).get_job(job_key_id(job_id))
    if job is None:
        raise JobNotFoundError(f"queue {queue!r} has no job {job_id!r}")
    return job


@router.get("/queues/<queue>/jobs/<job_id>/logs", tags=["queues"], operation_id="getJobLogs",
            summary="A job's log lines (BullMQ's getJobLogs)",
            description=f"Lines `start`..`end` (inclusive, BullMQ's indexes: `end` -1 is the last line), oldest "
                        f"first, or newest first with `asc=false`; at most {MAX_LOG_PAGE} a page. `count` is how "
                        "many lines the job keeps.",
            responses=responses({200: ("the lines asked for, and how many there are", JobLogs)}, 400, 401, 404))
def get_job_logs(
    queue: QueuePath,
    job_id: JobIdPath,
    start: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    end: Annotated[int, Query(ge=-1, le=10_000_000, description="inclusive; -1: the last line")] = -1,
    asc: Annotated[bool, Query(description="oldest first (true) or newest first (false)")] = True,
) -> JobLogs:
    if end != -1 and (end < start or end - start >= MAX_LOG_PAGE):
        raise BadRequestError(f"query.end: must be -1 or between start and start + {MAX_LOG_PAGE - 1}")
    producer = services().queue(queue)
    logs, count = producer.get_job_logs(job_key_id(job_id), start, start + MAX_LOG_PAGE - 1 if end == -1 else end,
                                        asc=asc)
    if count == 0 and producer.get_job(job_id) is None:
        raise JobNotFoundError(f"queue {queue!r} has no job {job_id!r}")
    return JobLogs(logs=logs, count=count)


@router.get("/queues/<queue>/jobs/<job_id>/timeline", tags=["queues"], operation_id="getJobTimeline",
            summary="A job's events and attempts, with the backoff between them",
            description="From the queue's BullMQ events stream, which is capped (`JOBQUEUE_MAX_LEN_EVENTS`): "
                        "`complete` is false when older events of a busy queue may be gone.",
            responses=responses({200: ("the job's history", JobTimeline)}, 400, 401, 404))
def get_job_timeline(queue: QueuePath, job_id: JobIdPath) -> JobTimeline:
    svc, job = services(), _existing_job(queue, job_id)
    found = svc.admin(queue).timeline(job_id)
    return JobTimeline.model_validate({"queue": queue, "jobId": job_id, "addedAt": job.timestamp,
                                       "events": found.events, "attempts": found.attempts,
                                       "complete": found.complete}, from_attributes=True)


@router.post("/queues/<queue>/jobs/<job_id>/retry", tags=["queues"], operation_id="retryJob",
             summary="Send one failed job back to the queue with fresh attempts",
             responses=responses({200: ("the job is waiting again", JobRetried)}, 400, 401, 404, 409, 503))
def retry_job(queue: QueuePath, job_id: JobIdPath) -> JobRetried:
    svc, job = services(), _existing_job(queue, job_id)
    if not svc.admin(queue).retry_job(job_id):
        raise ConflictError(f"queue {queue!r}: job {job_id!r} is {job.state}, not failed")
    return JobRetried(queue=queue, jobId=job_id, retried=True)


@router.post("/queues/<queue>/jobs/<job_id>/promote", tags=["queues"], operation_id="promoteJob",
             summary="Start one delayed job now (BullMQ's job.promote): sent to SQS at once, its old delayed "
                     "message dropped when it comes",
             responses=responses({200: ("the job is waiting", JobPromoted)}, 400, 401, 404, 409, 503))
def promote_job(queue: QueuePath, job_id: JobIdPath) -> JobPromoted:
    svc, job = services(), _existing_job(queue, job_id)
    if not svc.admin(queue).promote([job_id]):
        raise ConflictError(f"queue {queue!r}: job {job_id!r} is {job.state}, not delayed")
    return JobPromoted(queue=queue, jobId=job_id, promoted=True)


@router.delete("/queues/<queue>/jobs/<job_id>", tags=["queues"], operation_id="removeJob",
               summary="Remove a job that is not running",
               responses=responses({200: ("removed", RemoveResult)}, 400, 401, 404, 409))
def remove_job(queue: QueuePath, job_id: JobIdPath) -> RemoveResult:
    if not services().admin(queue).remove(job_key_id(job_id)):
        raise JobNotFoundError(f"queue {queue!r} has no job {job_id!r}")
    return RemoveResult(queue=queue, jobId=job_id, removed=True)


@router.post("/queues/<queue>/pause", tags=["queues"], operation_id="pauseQueue",
             summary="Stop the queue's event source mappings and starting jobs; messages stay in SQS",
             responses=responses({200: ("the queue is paused", PauseState)}, 400, 401, 404, 503))
def pause(queue: QueuePath) -> PauseState:
    admin = services().admin(queue)
    states = admin.pause()
    return PauseState(queue=queue, paused=admin.is_paused(), eventSources=event_sources(states))


@router.post("/queues/<queue>/resume", tags=["queues"], operation_id="resumeQueue", summary="Start jobs again",
             responses=responses({200: ("the queue runs", PauseState)}, 400, 401, 404, 503))
def resume(queue: QueuePath) -> PauseState:
    admin = services().admin(queue)
    states = admin.resume()
    return PauseState(queue=queue, paused=admin.is_paused(), eventSources=event_sources(states))


@router.post("/queues/<queue>/drain", tags=["queues"], operation_id="drainQueue",
             summary="Remove every waiting job (and delayed ones if asked)",
             responses=responses({200: ("how many were removed", DrainResult)}, 400, 401, 404, 503))
def drain(queue: QueuePath, request: Annotated[DrainRequest | None, Body()] = None) -> DrainResult:
    removed = services().admin(queue).drain(include_delayed=bool(request and request.includeDelayed))
    return DrainResult(queue=queue, removed=removed)


@router.post("/queues/<queue>/clean", tags=["queues"], operation_id="cleanQueue",
             summary="Remove jobs in a state older than the grace period (seed 003's cleanQueue)",
             responses=responses({200: ("ids removed", CleanResult)}, 400, 401, 404, 503))
def clean(queue: QueuePath, request: Annotated[CleanRequest | None, Body()] = None) -> CleanResult:
    options = request or CleanRequest()
    removed = services().admin(queue).clean(options.grace, options.limit, options.state)
    return CleanResult(queue=queue, state=options.state, removed=removed)


@router.post("/queues/<queue>/retry-failed", tags=["queues"], operation_id="retryFailed",
             summary="Send failed jobs back to the queue with fresh attempts",
             responses=responses({200: ("ids retried", RetryResult)}, 400, 401, 404, 503))
def retry_failed(queue: QueuePath, request: Annotated[RetryRequest | None, Body()] = None) -> RetryResult:
    progress = BatchProgress()
    retried = services().admin(queue).retry_failed((request or RetryRequest()).limit, on_progress=progress.seen,
                                                   deadline=invocation_deadline(router))
    return RetryResult(queue=queue, retried=retried, remaining=progress.remaining)


@router.post("/queues/<queue>/promote", tags=["queues"], operation_id="promoteJobs",
             summary="Start delayed jobs now, soonest due first (BullMQ's queue.promoteJobs)",
             responses=responses({200: ("ids promoted", PromoteResult)}, 400, 401, 404, 503))
def promote_jobs(queue: QueuePath, request: Annotated[PromoteRequest | None, Body()] = None) -> PromoteResult:
    progress = BatchProgress()
    promoted = services().admin(queue).promote(limit=(request or PromoteRequest()).limit, on_progress=progress.seen,
                                               deadline=invocation_deadline(router))
    return PromoteResult(queue=queue, promoted=promoted, remaining=progress.remaining)
