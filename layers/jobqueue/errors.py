"""Every error jobqueue raises, under one base class so callers can catch them together."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CatalogError",
    "EnqueueError",
    "EventSourceError",
    "InvalidArgumentError",
    "InvalidJobError",
    "JobActiveError",
    "JobNotFoundError",
    "JobQueueError",
    "JobTimeoutError",
    "MalformedMessageError",
    "PayloadTooLargeError",
    "Rejection",
    "RetryAfterError",
    "ScheduleConflictError",
    "ScheduleNotFoundError",
    "ScriptError",
    "UnknownJobTypeError",
    "UnknownQueueError",
    "UnrecoverableError",
]


class JobQueueError(Exception):
    """Base of every error raised by jobqueue."""


class CatalogError(JobQueueError):
    """The queue catalog or a user's extension of it is invalid; the message names queue and field."""


class UnknownQueueError(JobQueueError):
    """A queue name that the catalog does not define."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown queue {name!r}; known queues: {', '.join(sorted(known))}")
        self.name = name


class UnknownJobTypeError(JobQueueError):
    """A seed-002 `jobType` that no catalog queue serves."""

    def __init__(self, job_type: str, known: list[str]) -> None:
        super().__init__(f"unknown job type {job_type!r}; known job types: {', '.join(sorted(known))}")
        self.job_type = job_type


class InvalidJobError(JobQueueError):
    """Job name, data or options failed validation; nothing was written."""


class PayloadTooLargeError(InvalidJobError):
    """The serialized job exceeds the message size SQS accepts; nothing was written."""


@dataclass(frozen=True)
class Rejection:
    """One job of a call that was not accepted: where it was in the call, its id if it got one, why, and
    whether it may still run (`may_run`: jobqueue could not roll it back, or cannot tell whether SQS has it)."""

    index: int
    job_id: str | None
    reason: str
    may_run: bool


class EnqueueError(JobQueueError):
    """Some jobs of an add (or a retry, or a redrive) were not made durable in SQS.

    `ids` has, per job of the call, the id of each accepted job (it will run) and None for the others;
    `rejections` says of each other job why, and whether it may still run. A job that may not run was rolled
    back: nothing of it is left and it never runs. One that may run was recorded and perhaps sent: jobqueue
    sends it within a minute unless it is removed, so retry it only under the same `jobId`. A retry of the same
    call with the same job ids completes it and never runs a job twice.
    """

    def __init__(self, message: str, ids: list[str | None], rejections: list[Rejection]) -> None:
        super().__init__(message)
        self.ids = ids
        self.rejections = rejections

    @property
    def accepted(self) -> list[str]:
        """The ids of the jobs that were accepted."""
        return [job_id for job_id in self.ids if job_id is not None]

    @property
    def rejected(self) -> dict[str, str]:
        """The jobs not accepted, by id (`#<index>` for one that got none), with why."""
        return {r.job_id or f"#{r.index}": r.reason for r in self.rejections}

    @property
    def may_run(self) -> bool:
        """Whether any job not accepted may still run."""
        return any(r.may_run for r in self.rejections)


class EventSourceError(JobQueueError):
    """Lambda's API failed listing or switching a queue's event source mappings; a retry of the same call
    (pause, resume, status) completes it. The message names the mappings and the reason."""


class MalformedMessageError(JobQueueError):
    """An SQS record whose body is not a jobqueue job message."""


class ScriptError(JobQueueError):
    """A Lua script answered with an error code; the message says which script and why."""


class UnrecoverableError(JobQueueError):
    """Raise from a processor to fail the job now, skipping its remaining attempts.

    >>> raise UnrecoverableError("lead has no address")
    """


class JobTimeoutError(JobQueueError):
    """A job ran past its `ttl` (or its queue's `job_timeout`): that attempt fails like any error."""


class RetryAfterError(JobQueueError):
    """Raise from a processor to retry no sooner than `delay_ms` (a service's Retry-After); the attempt counts.

    The retry waits the longer of this delay and the job's backoff.

    >>> raise RetryAfterError("rate limited by RealEstateAPI", delay_ms=2000)
    """

    def __init__(self, message: str, *, delay_ms: int) -> None:
        super().__init__(message)
        self.delay_ms = max(0, delay_ms)


class JobNotFoundError(JobQueueError):
    """No job with that id in that queue (never added, removed, or retention already deleted it)."""


class JobActiveError(JobQueueError):
    """The job is running (active); it cannot be removed until it finishes or its attempt times out."""


class InvalidArgumentError(JobQueueError):
    """A queue operation's argument it cannot act on (a state name it does not take, a negative grace or limit).

    Nothing was changed; the message names the argument and what is accepted.
    """


class ScheduleConflictError(JobQueueError):
    """A schedule with that name exists already, or it is the catalog's and cannot be changed at run time."""


class ScheduleNotFoundError(JobQueueError):
    """No repeatable job with that name, in the catalog or added at run time."""
