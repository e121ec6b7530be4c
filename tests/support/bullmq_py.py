"""Read queue state through the real BullMQ clients, to prove jobqueue's Redis layout is BullMQ's.

Two readers return the same shape::

    {"<queue>": {"counts": {...getJobCounts()...},
                 "jobs": {"<jobId>": None | {"id", "name", "data", "attemptsMade", "progress",
                                              "returnvalue", "failedReason", "state", "processedOn",
                                              "finishedOn", "timestamp", "opts"}}}}

``read_state`` uses the PyPI ``bullmq`` package (3.4.4) in-process; ``read_state_node`` runs
``compat/read_state.mjs`` (npm ``bullmq`` 6.7.0). Both only read: neither constructs a worker or an
events listener, and the npm reader passes ``skipMetasUpdate`` (its Queue constructor otherwise
HSETs ``<prefix>:<queue>:meta``). The PyPI Queue constructor writes nothing.

Where PyPI bullmq 3.4.4 genuinely differs from npm bullmq 6.7.0, ``read_state`` normalises to the
npm view, so equal Redis state gives equal output:

* ``processedOn`` / ``finishedOn``: npm leaves them ``undefined`` (printed as null) when the hash
  field is absent or empty; PyPI defaults them to ``0``. Normalised to ``None`` in that case.
* ``timestamp``: npm gives ``NaN`` (printed as null) when the field is absent; PyPI gives ``0``.
  Normalised to ``None`` in that case.
* ``opts``: PyPI's Job constructor injects ``"delay": 0`` and ``"backoff": None`` into every job's
  opts; npm only injects ``"attempts": 0`` (both do that). The two injected keys are dropped when
  the stored opts do not contain them. Not normalised (documented only, no BullMQ writer produces
  them): npm folds the stored keys ``tm``/``omc`` into ``opts.telemetry`` and strips
  ``repeatJobKey``; PyPI leaves both as stored.
* ``id``: npm prefers a stored ``id`` hash field over the requested id, PyPI the reverse. BullMQ
  never stores an ``id`` field, so both give the requested id; not normalised.
* Empty-string ``data`` / ``progress`` fields: npm treats them as ``{}`` / ``0``, PyPI raises a JSON
  error. Not normalised: it would hide a malformed hash.
* ``state`` of a missing job: both readers return ``None`` for the whole job and call no
  ``getState``.

Both clients run the same Lua for ``getJobCounts`` (same default seven states, no ``paused``) and
``getState``. That ``getCounts`` script RPOPs the tail of ``wait``/``paused`` when it is a pre-v5
marker (a string starting ``0:``): the one write a read can cause, in both clients.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from bullmq import Queue
from bullmq.job import Job, optsFromJSON
from redis.asyncio.cluster import RedisCluster

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPAT_DIR = REPO_ROOT / "compat"
READ_STATE_MJS = COMPAT_DIR / "read_state.mjs"
NODE_TIMEOUT_S = 120.0

# Keys PyPI's Job constructor adds to every job's opts (with these values) that npm does not.
_PYPI_INJECTED_OPTS: dict[str, Any] = {"delay": 0, "backoff": None}


def _pypi_opts(job_opts: dict[str, Any], raw_opts: str | None) -> dict[str, Any]:
    """Drop the opts keys PyPI injects, unless the stored opts really carry them."""
    stored = optsFromJSON(json.loads(raw_opts or "{}"))
    opts = dict(job_opts)
    for key, injected in _PYPI_INJECTED_OPTS.items():
        if key not in stored and opts.get(key) == injected:
            opts.pop(key, None)
    return opts


def _field_or_none(raw: dict[str, str], field: str, value: Any) -> Any:
    """npm reports a field absent (or empty) in the hash as undefined; PyPI reports a default."""
    return value if raw.get(field) else None


async def _read_job(queue: Any, job_id: str) -> dict[str, Any] | None:
    """One job as npm's reader shows it; the same HGETALL Job.fromId does, then Job.fromJSON."""
    raw: dict[str, str] | None = await queue.backend.getJobData(job_id)
    if not raw:
        return None
    job: Any = Job.fromJSON(queue, raw, job_id)
    state: str = await job.getState()
    return {
        "id": job.id,
        "name": job.name,
        "data": job.data,
        "attemptsMade": job.attemptsMade,
        "progress": job.progress,
        "returnvalue": job.returnvalue,
        "failedReason": job.failedReason,
        "state": state,
        "processedOn": _field_or_none(raw, "processedOn", job.processedOn),
        "finishedOn": _field_or_none(raw, "finishedOn", job.finishedOn),
        "timestamp": _field_or_none(raw, "timestamp", job.timestamp),
        "opts": _pypi_opts(job.opts, raw.get("opts")),
    }


async def _read_queue(redis_url: str, prefix: str, name: str, job_ids: list[str], cluster: bool) -> dict[str, Any]:
    """Counts and jobs of one queue; the Queue gets its own client, which its close() closes."""
    # Our own client rather than a URL: BullMQ's URL client retries for minutes on a dead Redis.
    client: Any = (RedisCluster.from_url(redis_url, decode_responses=True) if cluster
                   else aioredis.Redis.from_url(redis_url, decode_responses=True))
    queue: Any = Queue("{" + name + "}" if cluster else name, {"connection": client, "prefix": prefix})
    try:
        counts: dict[str, int] = dict(await queue.getJobCounts())
        jobs = {job_id: await _read_job(queue, str(job_id)) for job_id in job_ids}
        return {"counts": counts, "jobs": jobs}
    finally:
        await queue.close()
        await client.aclose()


async def _read_all(redis_url: str, prefix: str, queues: dict[str, list[str]], cluster: bool) -> dict[str, Any]:
    return {name: await _read_queue(redis_url, prefix, name, ids, cluster) for name, ids in queues.items()}


def read_state(redis_url: str, prefix: str, queues: dict[str, list[str]], *, cluster: bool = False
               ) -> dict[str, Any]:
    """Queue state as the PyPI bullmq client sees it, normalised to npm's view (module docstring).

    `cluster`: `redis_url` names a Redis Cluster node, and each queue is opened by its hash tag (`{<queue>}`).
    Synchronous (``asyncio.run``) so plain tests can call it; not callable from a running event loop.
    """
    return asyncio.run(_read_all(redis_url, prefix, queues, cluster))


def read_state_node(redis_url: str, prefix: str, queues: dict[str, list[str]], *,
                    metrics: bool = False, cluster: bool = False) -> dict[str, Any]:
    """Queue state as the npm bullmq client sees it, via ``node compat/read_state.mjs``; with `metrics`, also each
    queue's ``getMetrics('completed')`` and ``getMetrics('failed')``; `cluster` as `read_state`'s, through an
    ioredis Cluster connection.

    Raises rather than skips when node or ``compat/node_modules`` is missing: a compatibility check
    that silently does not run proves nothing (``npm ci --prefix compat`` installs it).
    """
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH; the npm BullMQ reader needs Node.js >= 20")
    if not (COMPAT_DIR / "node_modules" / "bullmq").is_dir():
        raise RuntimeError(f"{COMPAT_DIR / 'node_modules'} is missing; run `npm ci --prefix compat`")
    request = {"redisUrl": redis_url, "prefix": prefix, "queues": queues, "metrics": metrics, "cluster": cluster}
    proc = subprocess.run(
        [node, str(READ_STATE_MJS)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=False,
        cwd=COMPAT_DIR,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"read_state.mjs exited {proc.returncode}: {proc.stderr.strip()}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result
