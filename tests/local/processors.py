"""Processors for the local runtime's tests, loaded in function processes through JOBQUEUE_PROCESSORS."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from jobqueue import Job, processor
from jobqueue.connection import redis_for
from jobqueue.keys import app_key
from jobqueue.settings import get_settings


def pid_key(job_id: str) -> str:
    return app_key(get_settings().prefix, f"pids:{job_id}")


@processor("lead-processing", "hold")
def hold(job: Job) -> dict[str, Any]:
    """Records which process runs each attempt; the first one then holds on (until its process is killed), deaf
    to the worker's ttl alarm as code in a C extension would be: only the function's timeout stops it."""
    redis_for(get_settings()).rpush(pid_key(job.id), os.getpid())
    if job.attempt == 1:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(float(job.data.get("hold", 60)) if isinstance(job.data, dict) else 60)
    return {"attempt": job.attempt, "pid": os.getpid()}
