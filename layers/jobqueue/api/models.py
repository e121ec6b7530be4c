"""Request and response bodies of the HTTP API (pydantic): validation and the OpenAPI document come from here.

Field names are the seeds' (camelCase, as their JavaScript clients sent and read them). Request models
forbid unknown fields, so a typo is a 400 that names it rather than a silently ignored option.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from jobqueue.catalog import QUEUE_NAME
from jobqueue.job import JobOptions

__all__ = [
    "Accepted",
    "AddJobRequest",
    "BulkAccepted",
    "BulkJob",
    "BulkJobRequest",
    "CleanRequest",
    "CleanResult",
    "DeadLetterList",
    "DeadLetterRecord",
    "DrainRequest",
    "DrainResult",
    "ErrorResponse",
    "FieldError",
    "Health",
    "InitializeRequest",
    "InitializeResult",
    "InlineResult",
    "JobList",
    "JobLogs",
    "JobRequest",
    "JobStatus",
    "JobTypeRequest",
    "PauseState",
    "QueueList",
    "QueueMetrics",
    "QueueSummary",
    "RedisMemory",
    "RedriveRequest",
    "RedriveResult",
    "RemoveResult",
    "RetryRequest",
    "RetryResult",
    "ScheduleInfoModel",
    "ScheduleList",
    "ScheduleRemoved",
    "Stats",
]

QueueName = Annotated[str, Field(pattern=QUEUE_NAME, description="a queue of the catalog")]
JobName = Annotated[str, Field(min_length=1, max_length=256)]
JobData = Annotated[dict[str, Any], Field(
    default_factory=dict, description="a JSON object (BullMQ's job data): what the job's processor reads; "
                                      "omitted means {}")]
JobState = Literal["waiting", "active", "delayed", "prioritized", "completed", "failed"]
FinishedState = Literal["completed", "failed", "waiting", "delayed", "prioritized"]


class _Body(BaseModel):
    # Validators are built on first use: a cold start builds only those of the route it serves.
    model_config = ConfigDict(defer_build=True)


class _Request(_Body):
    # Strict: `"includeDelayed": "yes"` or `"limit": "10"` is a mistake to report, not to guess at.
    model_config = ConfigDict(extra="forbid", strict=True)


# -- errors --------------------------------------------------------------------------------------------


class FieldError(_Body):
    field: str = Field(description="dotted path, e.g. body.jobs[0].name or query.state")
    message: str
    type: str


class ErrorResponse(_Body):
    """Every 4xx/5xx body."""

    error: str = Field(description="the HTTP reason phrase")
    message: str
    fields: list[FieldError] | None = Field(None, description="for 400 validation errors: each invalid field")
    mayRun: bool | None = Field(
        None, description="for jobs not accepted (503): false when nothing of them was kept and none will run; "
                          "true when jobqueue cannot tell, so retry only with the same jobId")


# -- jobs ----------------------------------------------------------------------------------------------


class JobRequest(_Request):
    """One job for a named queue: `Queue(queue).add(name, data, **opts)`."""

    queue: QueueName
    name: JobName
    data: JobData
    opts: JobOptions | None = Field(None, description="BullMQ's job options; the queue's defaults fill the rest")


class JobTypeRequest(_Request):
    """Seed 002's form: the catalog maps `jobType` to a queue, and it is the job's name."""

    jobType: JobName
    data: JobData
    opts: JobOptions | None = None


class BulkJob(_Request):
    name: JobName
    data: JobData
    opts: JobOptions | None = None


class BulkJobRequest(_Request):
    """Many jobs for one queue in one call (`Queue.add_bulk`): 202 when all are durable, else 207 with which were
    not (the request's time ran out, or a backend failed); sending it again with job ids completes it."""

    queue: QueueName
    jobs: list[BulkJob] = Field(min_length=1, max_length=1000)


def _request_form(value: Any) -> str:
    """Which of the three POST /jobs forms a body is: decided by its keys, so errors speak of one form only."""
    if isinstance(value, dict):
        if "jobs" in value:
            return "bulk"
        if "jobType" in value:
            return "jobType"
    return "job"


AddJobRequest = Annotated[
    Annotated[JobRequest, Tag("job")]
    | Annotated[JobTypeRequest, Tag("jobType")]
    | Annotated[BulkJobRequest, Tag("bulk")],
    Discriminator(_request_form),
]


class Accepted(_Body):
    """A job made durable: it will run. Webhooks and single jobs answer this with 202."""

    jobId: str
    queue: str


class BulkAccepted(_Body):
    queue: str
    jobIds: list[str]


class RejectedJob(_Body):
    """One job of a bulk add that was not accepted."""

    index: int = Field(description="its position in the request's `jobs`")
    jobId: str | None = Field(description="the id it was given, if it got one")
    reason: str
    mayRun: bool = Field(description="false: nothing of it was kept; true: it may still run, so retry it only "
                                     "with a jobId")


class BulkPartial(_Body):
    """A bulk add of which some jobs were accepted and others not (the call ran out of time, or SQS or Redis
    failed): retry the rejected ones, with the same job ids to be safe."""

    queue: str
    jobIds: list[str | None] = Field(description="per job of the request: its id if accepted, else null")
    rejected: list[RejectedJob]


class InlineResult(_Body):
    """Seed 002's small bulk availability check, run during the request instead of queued."""

    queue: str
    jobType: str
    mode: Literal["sync"] = "sync"
    result: Any


# -- queues --------------------------------------------------------------------------------------------


class QueueMetrics(_Body):
    """Seed 003's `getQueueMetrics`; `total` is the pending work: waiting + active + delayed."""

    queueName: str
    waiting: int
    active: int
    completed: int
    failed: int
    delayed: int
    paused: int = Field(description="1 when the queue is paused, else 0 (seed 003 reads it as a flag)")
    total: int


class EventSources(_Body):
    """The queue's SQS event source mappings (one per lane) by state, as Lambda reports them."""

    enabled: int = Field(description="mappings in state Enabled: Lambda receives the lane's messages")
    disabled: int = Field(description="mappings in state Disabled: nothing receives the lane's messages")
    transitioning: int = Field(description="mappings Creating, Enabling, Disabling, Updating or Deleting")
    stopped: bool = Field(description="no mapping enabled or transitioning: none of the queue's messages is received")


class QueueStatus(QueueMetrics):
    """A queue's metrics and whether its event source mappings actually stopped (pause) or run."""

    eventSources: EventSources


class QueueSummary(_Body):
    """A catalog queue and its settings."""

    name: str
    deadLetter: str
    attempts: int
    concurrency: int
    limiter: dict[str, int] | None
    jobTypes: list[str]
    cron: list[str]


class QueueList(_Body):
    queues: list[QueueSummary]


class Stats(_Body):
    """Every queue's metrics, their sums, and each dead-letter queue's depth (seed 002's /stats)."""

    queues: list[QueueMetrics]
    totals: dict[str, int]
    deadLetters: dict[str, int]


class JobStatus(_Body):
    """Seed 003's `getJobStatus`, with BullMQ's `opts` and `stacktrace` (its logs: `GET .../jobs/{id}/logs`)."""

    id: str
    name: str
    data: Any
    opts: dict[str, Any] = Field(description="the job's options as its hash keeps them (BullMQ's names)")
    state: str
    progress: Any
    attemptsMade: int
    processedOn: int | None
    finishedOn: int | None
    returnvalue: Any
    failedReason: str | None
    stacktrace: list[str] = Field(description="each failed attempt's stack trace, oldest first (the last 10)")
    parent: dict[str, Any] | None = Field(None, description="a flow child's parent: BullMQ's `{id, queueKey}`")
    children: dict[str, Any] | None = Field(
        None, description="a flow parent's children by key: `processed` (-> return value), `unprocessed`, "
                          "`ignored` (-> reason), `failed` (those that failed it)")


class TimelineEvent(_Body):
    event: str = Field(description="BullMQ's event name: added, waiting, delayed, failed, completed, removed...")
    at: int = Field(description="ms since the epoch, when Redis recorded it")
    fields: dict[str, str] = Field(description="the event's other fields (delay, failedReason, prev...)")


class TimelineAttempt(_Body):
    attempt: int = Field(description="1 for the first run (a retry or redrive starts over)")
    startedAt: int | None = Field(description="ms since the epoch; null when its `active` event is gone")
    endedAt: int = Field(description="ms since the epoch")
    outcome: Literal["retry", "failed", "completed"]
    reason: str | None
    nextDueAt: int | None = Field(description="for a retried attempt: when the next one was due (ms)")
    delayMs: int | None = Field(description="the backoff: nextDueAt - endedAt")


class JobTimeline(_Body):
    """A job's history from its queue's events stream (`jobqueue.timeline`)."""

    queue: str
    jobId: str
    addedAt: int = Field(description="the job's timestamp (ms)")
    events: list[TimelineEvent]
    attempts: list[TimelineAttempt]
    complete: bool = Field(description="false when the capped stream may have dropped older events")


class JobRetried(_Body):
    queue: str
    jobId: str
    retried: bool


class FlowNodeIds(_Body):
    """The id one job of a flow got (`POST /flows`), and its children's, in the flow's shape."""

    id: str
    queue: str
    children: list[FlowNodeIds] = Field(default_factory=list)


class JobLogs(_Body):
    """BullMQ's `getJobLogs`: the requested lines and how many the job has."""

    logs: list[str]
    count: int


class JobList(_Body):
    queue: str
    state: str
    start: int
    end: int
    jobs: list[JobStatus]


class PauseState(_Body):
    """The queue's pause flag after the call, and its event source mappings as Lambda answered the call."""

    queue: str
    paused: bool
    eventSources: EventSources


class DrainRequest(_Request):
    includeDelayed: bool = Field(False, description="also remove delayed jobs")


class DrainResult(_Body):
    queue: str
    removed: int


class CleanRequest(_Request):
    """Seed 003's `cleanQueue(name, grace, limit)`: remove jobs in `state` older than `grace` ms."""

    grace: int = Field(0, ge=0, le=10 * 365 * 24 * 3600 * 1000, description="ms; older jobs are removed")
    limit: int = Field(1000, ge=1, le=100_000)
    state: FinishedState = "completed"


class CleanResult(_Body):
    queue: str
    state: str
    removed: list[str]


class RetryRequest(_Request):
    limit: int = Field(1000, ge=1, le=100_000)


class RetryResult(_Body):
    queue: str
    retried: list[str]
    remaining: int = Field(0, description="failed jobs not reached before the request's time ran out: send the "
                                          "same request again to continue")


class JobPromoted(_Body):
    queue: str
    jobId: str
    promoted: bool


class PromoteRequest(_Request):
    limit: int = Field(1000, ge=1, le=100_000, description="delayed jobs promoted at most, soonest due first")


class PromoteResult(_Body):
    queue: str
    promoted: list[str]
    remaining: int = Field(0, description="delayed jobs picked but not reached before the request's time ran out: "
                                          "send the same request again to continue")


class RemoveResult(_Body):
    queue: str
    jobId: str
    removed: bool


# -- dead letters --------------------------------------------------------------------------------------


class DeadLetterRecord(_Body):
    """Seed 000's DLQ record, with the id to redrive or remove it by."""

    recordId: str
    originalJobId: str
    queue: str
    name: str
    data: Any
    error: str
    attemptsMade: int
    failedAt: str


class DeadLetterList(_Body):
    queue: str
    deadLetterQueue: str
    records: list[DeadLetterRecord]


class RedriveRequest(_Request):
    recordIds: list[Annotated[str, Field(min_length=1, max_length=256)]] | None = Field(
        None, max_length=10_000, description="records to redrive; omitted or null: all of them")


class RedriveResult(_Body):
    queue: str
    redriven: list[str] = Field(description="ids of the jobs returned to their queues")
    remaining: int = Field(0, description="records not reached before the request's time ran out: send the same "
                                          "request again to continue")


# -- schedules and operations --------------------------------------------------------------------------


class ScheduleList(_Body):
    schedules: list[dict[str, Any]]


class ScheduleInfoModel(_Body):
    """A repeatable job as listed: its options, Scheduler expression and next run times."""

    queue: str
    name: str
    pattern: str | None = None
    every: int | None = None
    tz: str
    expression: str = Field(description="EventBridge Scheduler expression: cron(...) in tz, or rate(...)")
    nextRuns: list[str]
    limit: int | None = None
    startDate: str | None = None
    endDate: str | None = None
    source: Literal["api"] | None = None


class ScheduleRemoved(_Body):
    queue: str
    name: str
    removed: bool


class InitializeRequest(_Request):
    prune: bool = Field(False, description="also delete jobqueue's schedules that no cron entry matches")


class InitializeResult(_Body):
    changes: list[dict[str, Any]]


class Session(_Body):
    """What the caller's token may do: the dashboard hides actions for a read-only token."""

    readOnly: bool = Field(description="true for READ_ONLY_TOKEN: only GET requests are answered")


class QueueOverview(QueueMetrics):
    """One queue as the dashboard's overview shows it."""

    deadLetters: int = Field(description="records awaiting triage in the queue's dead-letter queue")
    completedLastHour: int = Field(description="jobs that completed in the last hour and are still kept")
    failedLastHour: int = Field(description="jobs that failed for good in the last hour and are still kept")
    eventSources: EventSources | None = Field(description="its mappings as Lambda reports them; null if unknown")


class Overview(_Body):
    queues: list[QueueOverview]


class Dependency(_Body):
    ok: bool
    error: str | None = None


class RedisMemory(_Body):
    """Redis's memory (INFO memory). Under `noeviction` writes fail once `usedBytes` reaches `maxBytes`."""

    usedBytes: int = Field(description="used_memory")
    maxBytes: int | None = Field(description="maxmemory; null when it is 0, which means no limit")
    usedPercent: float | None = Field(description="usedBytes of maxBytes, %; null without a limit")
    policy: str = Field(description="maxmemory-policy (jobqueue needs noeviction)")
    summary: str = Field(description="the same in words, e.g. '1.2 MiB of 1.0 GiB (0.1 %), noeviction'")


class Health(_Body):
    status: Literal["ok", "degraded"]
    redis: Dependency
    sqs: Dependency
    memory: RedisMemory | None = Field(None, description="Redis memory use; null when Redis does not answer")
