"""jobqueue: BullMQ-style background jobs on SQS, Lambda and Redis.

>>> from jobqueue import Job, Queue, processor
>>> @processor("email", "password_reset")
... def send_reset(job: Job) -> dict[str, str]:
...     return {"sent": job.data["to"]}
>>> Queue("email").add("password_reset", {"to": "a@example.com"})  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from jobqueue.admin import DeadLetterInfo, QueueAdmin
from jobqueue.catalog import Catalog, QueueConfig, load_catalog
from jobqueue.errors import (
    EnqueueError,
    InvalidArgumentError,
    InvalidJobError,
    JobActiveError,
    JobNotFoundError,
    JobQueueError,
    PayloadTooLargeError,
    UnrecoverableError,
)
from jobqueue.job import Job, JobOptions
from jobqueue.queue import JobInfo, Queue
from jobqueue.registry import processor

__all__ = [
    "Catalog",
    "DeadLetterInfo",
    "EnqueueError",
    "InvalidArgumentError",
    "InvalidJobError",
    "Job",
    "JobActiveError",
    "JobInfo",
    "JobNotFoundError",
    "JobOptions",
    "JobQueueError",
    "PayloadTooLargeError",
    "Queue",
    "QueueAdmin",
    "QueueConfig",
    "UnrecoverableError",
    "__version__",
    "load_catalog",
    "processor",
]
