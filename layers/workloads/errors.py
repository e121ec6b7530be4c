"""How an external service's failure reaches the engine: retry later, or give up on the job now."""

from __future__ import annotations

from jobqueue.errors import JobQueueError, RetryAfterError, UnrecoverableError

__all__ = ["ConfigurationError", "RejectedError", "RetryAfterError", "TransientServiceError"]


class TransientServiceError(JobQueueError):
    """A failure that a later attempt may not meet (timeout, connection refused, 5xx, 429 without Retry-After).

    The job is retried with its queue's backoff.
    """


class RejectedError(UnrecoverableError):
    """The service refused the request itself (a 4xx validation error): retrying the same data cannot help."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ConfigurationError(JobQueueError):
    """An endpoint or secret is missing or malformed; the message names the environment variable."""
