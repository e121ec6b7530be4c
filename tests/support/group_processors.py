"""The group tests' processor: records, per group, how many of its jobs run at once and when each starts."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

from jobqueue import Job, processor
from jobqueue.connection import redis_for
from jobqueue.keys import app_key
from jobqueue.settings import get_settings

GROUP_QUEUES = ("flow-groups", "flow-groups-kill")


def _key(queue: str, name: str) -> str:
    return app_key(get_settings().prefix, f"groups:{queue}:{name}")


def runs(queue: str) -> list[dict[str, Any]]:
    """`{id, group, start, end, running}` of every finished processor call: `running` is how many jobs of its group
    were running (itself included) when it started."""
    client = redis_for(get_settings())
    return [json.loads(x) for x in client.lrange(_key(queue, "runs"), 0, -1)]


def starts(queue: str) -> list[dict[str, Any]]:
    """`{id, start}` of every processor call, finished or not (a call that killed its process included)."""
    client = redis_for(get_settings())
    return [json.loads(x) for x in client.lrange(_key(queue, "starts"), 0, -1)]


def tenant_job(job: Job) -> dict[str, Any]:
    """Sleeps `seconds` (data) while counted as running in its group; `die` kills its process on attempt 1."""
    client = redis_for(get_settings())
    group = job.opts.group_id
    began = time.time()
    client.rpush(_key(job.queue, "starts"), json.dumps({"id": job.id, "start": began}))
    if job.data.get("die") and job.attempt == 1:
        os.kill(os.getpid(), signal.SIGKILL)  # a Lambda that died mid-job (timeout, out of memory)
    running = int(client.incr(_key(job.queue, f"running:{group}")))
    try:
        time.sleep(float(job.data.get("seconds", 0)))
    finally:
        client.decr(_key(job.queue, f"running:{group}"))
    client.rpush(_key(job.queue, "runs"), json.dumps({"id": job.id, "group": group, "start": began,
                                                      "end": time.time(), "running": running}))
    return {"attempt": job.attempt}


for _queue in GROUP_QUEUES:
    processor(_queue)(tenant_job)
