"""The flow-control tests' processor: records each job's start and end, in the order they happen."""

from __future__ import annotations

import json
import time
from typing import Any

from jobqueue import Job, processor
from jobqueue.connection import redis_for
from jobqueue.keys import app_key
from jobqueue.settings import get_settings

FLOW_QUEUES = ("flow-lanes", "flow-priority", "flow-limited", "flow-serial", "flow-delayed", "flow-dedupe")


def spans_key(queue: str) -> str:
    return app_key(get_settings().prefix, f"spans:{queue}")


def starts_key(queue: str) -> str:
    return app_key(get_settings().prefix, f"starts:{queue}")


def starts(queue: str) -> list[str]:
    """Ids of the jobs the processor started, in the order it started them (repeats included)."""
    return [str(x) for x in redis_for(get_settings()).lrange(starts_key(queue), 0, -1)]


def spans(queue: str) -> list[dict[str, Any]]:
    """`{id, start, end}` (s) of every finished processor call."""
    client = redis_for(get_settings())
    return [json.loads(x) for x in client.lrange(spans_key(queue), 0, -1)]


def record(job: Job) -> dict[str, Any]:
    """Sleeps `seconds` (data) between recording its start and its end."""
    client = redis_for(get_settings())
    began = time.time()
    client.rpush(starts_key(job.queue), job.id)
    time.sleep(float(job.data.get("seconds", 0)) if isinstance(job.data, dict) else 0)
    client.rpush(spans_key(job.queue), json.dumps({"id": job.id, "start": began, "end": time.time()}))
    return {"attempt": job.attempt}


for _queue in FLOW_QUEUES:
    processor(_queue)(record)
