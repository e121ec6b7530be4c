"""jobqueue: BullMQ-style background jobs on SQS, Lambda and Redis.

>>> from jobqueue import Job, Queue, processor
>>> @processor("email", "password_reset")
... def send_reset(job: Job) -> dict[str, str]:
...     return {"sent": job.data["to"]}
>>> Queue("email").add("password_reset", {"to": "a@example.com"})  # doctest: +SKIP

Names are imported on first use (PEP 562), so a Lambda that needs only the worker does not pay at cold start
for the API's, the admin's or the producer's modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Catalog": "jobqueue.catalog",
    "QueueConfig": "jobqueue.catalog",
    "load_catalog": "jobqueue.catalog",
    "DeadLetterInfo": "jobqueue.admin",
    "QueueAdmin": "jobqueue.admin",
    "EnqueueError": "jobqueue.errors",
    "InvalidArgumentError": "jobqueue.errors",
    "InvalidJobError": "jobqueue.errors",
    "JobActiveError": "jobqueue.errors",
    "JobNotFoundError": "jobqueue.errors",
    "JobQueueError": "jobqueue.errors",
    "JobTimeoutError": "jobqueue.errors",
    "PayloadTooLargeError": "jobqueue.errors",
    "RetryAfterError": "jobqueue.errors",
    "UnrecoverableError": "jobqueue.errors",
    "FlowProducer": "jobqueue.flow_producer",
    "Job": "jobqueue.job",
    "JobOptions": "jobqueue.job",
    "JobInfo": "jobqueue.queue",
    "Queue": "jobqueue.queue",
    "processor": "jobqueue.registry",
}

if TYPE_CHECKING:
    from jobqueue.admin import DeadLetterInfo, QueueAdmin
    from jobqueue.catalog import Catalog, QueueConfig, load_catalog
    from jobqueue.errors import (
        EnqueueError,
        InvalidArgumentError,
        InvalidJobError,
        JobActiveError,
        JobNotFoundError,
        JobQueueError,
        JobTimeoutError,
        PayloadTooLargeError,
        RetryAfterError,
        UnrecoverableError,
    )
    from jobqueue.flow_producer import FlowProducer
    from jobqueue.job import Job, JobOptions
    from jobqueue.queue import JobInfo, Queue
    from jobqueue.registry import processor


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'jobqueue' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "Catalog",
    "DeadLetterInfo",
    "EnqueueError",
    "FlowProducer",
    "InvalidArgumentError",
    "InvalidJobError",
    "Job",
    "JobActiveError",
    "JobInfo",
    "JobNotFoundError",
    "JobOptions",
    "JobQueueError",
    "JobTimeoutError",
    "PayloadTooLargeError",
    "Queue",
    "QueueAdmin",
    "QueueConfig",
    "RetryAfterError",
    "UnrecoverableError",
    "__version__",
    "load_catalog",
    "processor",
]
