"""A processor for flow tests: every run traced; it returns its label with its children's values, or fails."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from typing import TYPE_CHECKING, Any

from jobqueue import Job, UnrecoverableError, processor
from tests.support.bullmq_py import COMPAT_DIR, NODE_TIMEOUT_S
from tests.support.processors import _trace

if TYPE_CHECKING:
    from jobqueue.settings import Settings

STEP = "flow-step"


@processor("lead-processing", STEP)
@processor("email", STEP)
def step(job: Job) -> dict[str, Any]:
    """`label` names the job in its return value; `fail`: true dies at once (unrecoverable); `seconds`: how
    long it works first."""
    _trace(job)
    data = job.data if isinstance(job.data, dict) else {}
    time.sleep(float(data.get("seconds", 0)))
    if data.get("fail"):
        raise UnrecoverableError(f"{data.get('label')} cannot be done")
    return {"label": data.get("label"), "children": job.get_children_values(),
            "ignored": job.get_ignored_children_failures()}


def read_flow_node(settings: Settings, queue: str, job_id: str) -> Any:
    """The flow rooted at `queue`'s job `job_id` as npm bullmq's `FlowProducer.getFlow` reads it
    (``node compat/read_flow.mjs``), from the Redis (or Redis Cluster) of `settings`."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH; the npm BullMQ reader needs Node.js >= 20")
    request = {"redisUrl": settings.redis_url, "prefix": settings.prefix, "queueName": queue, "id": job_id,
               "cluster": settings.redis_cluster}
    proc = subprocess.run([node, str(COMPAT_DIR / "read_flow.mjs")], input=json.dumps(request), capture_output=True,
                          text=True, timeout=NODE_TIMEOUT_S, check=False, cwd=COMPAT_DIR)
    if proc.returncode != 0:
        raise RuntimeError(f"read_flow.mjs exited {proc.returncode}: {proc.stderr.strip()}")
    return json.loads(proc.stdout)
