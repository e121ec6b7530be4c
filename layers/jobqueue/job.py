"""Jobs: their options (BullMQ's names), the SQS message that carries one, and the handle processors get."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from jobqueue.catalog import DEFAULT_KEEP_LOGS, Backoff, QueueConfig, Retention, check_retry_plan
from jobqueue.errors import InvalidJobError, MalformedMessageError
from jobqueue.keys import job_id_problem

if TYPE_CHECKING:
    from jobqueue.scripts import Scripts

__all__ = ["DEAD_LETTER_ATTRIBUTES", "GROUP_ID_MAX", "DeadLetter", "Group", "Job", "JobMessage", "JobOptions",
           "ParentRef", "resolve_options"]

# Longest SQS DelaySeconds; longer delays travel in hops (see jobqueue.worker).
MAX_SQS_DELAY_MS = 900_000
DEAD_LETTER_ATTRIBUTES = ("jobqueue-failed-reason", "jobqueue-attempts-made")
"""Message attributes that carry why a job died when the worker (not SQS redrive) sends it to the DLQ; here, not in
the worker, so the dead-letter function reads them without importing the worker."""


GROUP_ID_MAX = 128
"""Longest group id: SQS's MessageGroupId allows 128 characters."""


class Group(BaseModel):
    """BullMQ Pro's `group: {id}`: the tenant a job belongs to, for per-group limits and fair delivery.

    The id is the job's SQS MessageGroupId (1-128 printable ASCII characters) and part of Redis key names, so ':'
    and whitespace are refused.

    >>> Group(id="tenant-a").id
    'tenant-a'
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: str = Field(min_length=1, max_length=GROUP_ID_MAX, pattern=r"^[!-9;-~]+$",
                    description="the tenant: printable ASCII without ':' or spaces, at most 128 characters")


class ParentRef(BaseModel):
    """BullMQ's `opts.parent`: the flow parent of a child job, in any queue (`queue` is its key, `bull:<name>`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: str = Field(min_length=1, max_length=128)
    queue: str = Field(min_length=1)


class JobOptions(BaseModel):
    """BullMQ's job options. Both BullMQ's camelCase and Python's snake_case names are accepted.

    Numbers are strict integers, as BullMQ's types are: `"priority": "1"` or `"attempts": 2.0` is refused,
    not coerced.

    >>> JobOptions.model_validate({"attempts": 3, "backoff": {"type": "fixed", "delay": 500}}).attempts
    3
    """

    # Validators are built on first validation: a cold start whose path validates no job builds none.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    attempts: int = Field(1, ge=1, le=1000, strict=True)
    backoff: Backoff | None = None
    delay: int = Field(0, ge=0, strict=True, description="ms before the first attempt")
    priority: int = Field(0, ge=0, le=2_097_152, strict=True, description="1 is the highest; 0 means none")
    job_id: str | None = Field(None, alias="jobId", min_length=1, max_length=128, pattern=r"^[^:\s]+$")
    remove_on_complete: Retention | None = Field(None, alias="removeOnComplete")
    remove_on_fail: Retention | None = Field(None, alias="removeOnFail")
    ttl: int | None = Field(None, ge=1, le=900_000, strict=True,
                            description="ms the job may run before its attempt fails (BullMQ Pro's ttl)")
    group: Group | None = Field(None, description="the job's tenant (BullMQ Pro's group): per-group concurrency "
                                "and rate limits from the catalog, and fair delivery between groups")
    parent: ParentRef | None = Field(None, description="set by FlowProducer.add (jobqueue.flow_producer)")
    fail_parent_on_failure: bool = Field(False, alias="failParentOnFailure")
    continue_parent_on_failure: bool = Field(False, alias="continueParentOnFailure")
    ignore_dependency_on_failure: bool = Field(False, alias="ignoreDependencyOnFailure")
    remove_dependency_on_failure: bool = Field(False, alias="removeDependencyOnFailure")

    @field_validator("backoff", mode="before")
    @classmethod
    def _number_means_fixed(cls, value: Any) -> Any:
        # BullMQ accepts `backoff: 1000` for a fixed delay.
        if isinstance(value, int) and not isinstance(value, bool):
            return {"type": "fixed", "delay": value}
        return value

    @field_validator("job_id")
    @classmethod
    def _not_an_integer(cls, value: str | None) -> str | None:
        # Like BullMQ: integer ids are reserved for generated ones.
        if value is not None and value.isdigit():
            raise ValueError("custom job ids cannot be integers (they are reserved for generated ids)")
        problem = None if value is None else job_id_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @property
    def group_id(self) -> str:
        """The job's group id, "" when it belongs to none."""
        return self.group.id if self.group else ""

    def to_bullmq_json(self) -> str:
        """The `opts` field of the job hash, with BullMQ's key names. A backoff keeps its `type` and `delay` even
        when they are the defaults: BullMQ reads a backoff without a type as an unknown strategy."""
        opts = self.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        if self.backoff is not None:
            opts["backoff"] = {"type": self.backoff.type, "delay": self.backoff.delay, **opts.get("backoff", {})}
        return json.dumps(opts, separators=(",", ":"))


def resolve_options(queue: QueueConfig, name: str, opts: dict[str, Any]) -> JobOptions:
    """Options of a new job: the caller's, over the job name's defaults, over the queue's defaults."""
    named = queue.jobs.get(name)
    defaults: dict[str, Any] = {"attempts": queue.attempts}
    if queue.backoff:
        defaults["backoff"] = queue.backoff
    if queue.remove_on_complete:
        defaults["removeOnComplete"] = queue.remove_on_complete
    if queue.remove_on_fail:
        defaults["removeOnFail"] = queue.remove_on_fail
    if named:
        defaults.update({k: v for k, v in {"attempts": named.attempts, "backoff": named.backoff,
                                            "priority": named.priority}.items() if v is not None})
    where = f"queue {queue.name!r}, job {name!r}"
    try:
        resolved = JobOptions.model_validate({**defaults, **opts})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InvalidJobError(f"{where}: invalid options: {problems}") from exc
    if resolved.attempts > queue.max_attempts:
        raise InvalidJobError(
            f"{where}: attempts {resolved.attempts} exceeds the queue's limit of {queue.max_attempts} (its SQS "
            f"redrive is sized for the catalog's attempts; raise `attempts` in the catalog to allow more)")
    if resolved.ttl is not None and resolved.ttl >= queue.timeout * 1000:
        raise InvalidJobError(f"{where}: ttl {resolved.ttl} ms must be shorter than the worker's timeout of "
                              f"{queue.timeout} s (a job starts only when its whole ttl is left in the invocation)")
    try:
        check_retry_plan(resolved.attempts, resolved.backoff)
    except ValueError as exc:
        raise InvalidJobError(f"{where}: {exc}") from None
    return resolved


class JobMessage(BaseModel):
    """The SQS message body: the whole job, so that SQS alone can rebuild any state Redis loses."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    v: Literal[1] = 1
    queue: str
    id: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=256)
    data: Any = None
    opts: JobOptions
    timestamp: int = Field(ge=0, description="ms when the job was added")
    attempts_offset: int = Field(
        0, ge=0, alias="attemptsOffset",
        description="attempts made before this message was sent (a deferred job travels in a new message)",
    )
    yields: int = Field(0, ge=0, description="times the job was deferred for higher-priority jobs (jobqueue.flow)")

    def body(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_defaults=False)

    def entry(self, delay_seconds: int) -> dict[str, Any]:
        """The job's SendMessageBatch entry (without its Id). A job of a group carries the group id as its
        MessageGroupId: on a standard queue that is what SQS fair queues tell tenants apart by."""
        entry: dict[str, Any] = {"MessageBody": self.body(), "DelaySeconds": delay_seconds}
        if self.opts.group:
            entry["MessageGroupId"] = self.opts.group.id
        return entry

    def due_at(self) -> int:
        """When the job's first attempt may start (ms)."""
        return self.timestamp + self.opts.delay

    @property
    def data_json(self) -> str:
        return json.dumps(self.data, separators=(",", ":"))


@dataclass
class Job:
    """The job a processor runs, with the ways to report on it while it runs.

    >>> @processor("email", "generic")
    ... def send(job: Job) -> dict[str, str]:
    ...     job.update_progress(50)
    ...     return {"sent": job.data["to"]}
    """

    id: str
    name: str
    data: Any
    opts: JobOptions
    queue: str
    timestamp: int
    attempt: int
    """This attempt's number, starting at 1."""
    _scripts: Scripts = field(repr=False)
    keep_logs: int = field(default=DEFAULT_KEEP_LOGS, repr=False)
    """Log lines the job keeps, the newest (its queue's `keep_logs`, BullMQ's `keepLogs`)."""

    @property
    def attempts_made(self) -> int:
        """Attempts finished before this one (BullMQ's `attemptsMade` while the job runs)."""
        return self.attempt - 1

    def get_children_values(self) -> dict[str, Any]:
        """A flow parent's completed children: child key (`bull:<queue>:<id>`) -> return value (BullMQ's
        `job.getChildrenValues()`)."""
        raw = cast("dict[str, str]", self._scripts.client.hgetall(self._scripts.keys.processed(self.id)))
        return {key: json.loads(value) for key, value in raw.items()}

    def get_ignored_children_failures(self) -> dict[str, str]:
        """Children that failed and were ignored or let this parent continue: child key -> reason (BullMQ's
        `job.getIgnoredChildrenFailures()`)."""
        return cast("dict[str, str]", self._scripts.client.hgetall(self._scripts.keys.failed_children(self.id)))

    def update_progress(self, progress: int | float | dict[str, Any]) -> None:
        """Visible in the job's status and emitted as a `progress` event."""
        self._scripts.update_progress(self.id, progress)

    def log(self, line: str) -> None:
        """Appends to the job's log (BullMQ's `Job.log`), which keeps its newest `keep_logs` lines."""
        self._scripts.add_log(self.id, line, self.keep_logs)


def parse_message(body: str) -> JobMessage:
    """Validate an SQS body as a job message; the error names what is wrong."""
    try:
        return JobMessage.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise MalformedMessageError(f"not a jobqueue message: {problems}") from exc


@dataclass(frozen=True)
class DeadLetter:
    """What is kept of a dead job: the seed-000 DLQ record's fields."""

    originalJobId: str
    queue: str
    name: str
    data: Any
    error: str
    attemptsMade: int
    failedAt: str

    def to_json(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))
