"""Whether a flow's add committed, and what the sweeper does with the jobs it left marked unsent.

`FlowProducer.add` records a flow level by level, its root last, every job marked unsent and naming its root in
`flow`; the flow is committed once its root exists (and carries no `rb`, the mark of a rollback under way). A
producer that died before that leaves jobs no caller was promised: the sweeper removes them. After it, the
sweeper completes the add: a job without children is sent like any unsent job, a parent's mark is cleared.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from redis import Redis

    from jobqueue.scripts import Scripts

__all__ = ["ROLLBACK_FIELD", "committed_roots", "triage_unsent"]

ROLLBACK_FIELD = "rb"
"""Set on a flow's root while its producer rolls the flow back: the flow counts as never committed."""


def committed_roots(redis: Redis, roots: Iterable[str]) -> set[str]:
    """The root keys among `roots` whose flow is committed, in one round trip."""
    roots = list(roots)
    pipe = redis.pipeline(transaction=False)
    for root in roots:
        pipe.hmget(root, "timestamp", ROLLBACK_FIELD)
    return {root for root, (stamp, rolling) in zip(roots, pipe.execute(), strict=True) if stamp and not rolling}


def triage_unsent(scripts: Scripts, hashes: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Of jobs marked unsent for longer than the grace period (their hashes), those to send: flow jobs of an
    uncommitted flow are removed, parents of a committed one waiting for children have their marks cleared."""
    flow_jobs = {job_id: raw for job_id, raw in hashes.items() if raw.get("flow")}
    if not flow_jobs:
        return list(hashes)
    committed = committed_roots(scripts.client, {raw["flow"] for raw in flow_jobs.values()})
    pipe = scripts.client.pipeline(transaction=False)
    for job_id in flow_jobs:
        pipe.zscore(scripts.keys.waiting_children, job_id)
    waiting = {job_id for job_id, score in zip(flow_jobs, pipe.execute(), strict=True) if score is not None}
    uncommitted: dict[int, list[str]] = defaultdict(list)
    for job_id, raw in flow_jobs.items():
        if raw["flow"] not in committed:
            uncommitted[int(raw["timestamp"])].append(job_id)
    now = int(time.time() * 1000)
    for added, job_ids in uncommitted.items():
        scripts.remove_flow_jobs(job_ids, added, now)
    scripts.confirm_flow_parents([(job_id, int(flow_jobs[job_id]["timestamp"])) for job_id in waiting
                                  if flow_jobs[job_id]["flow"] in committed])
    settled = waiting | {job_id for job_ids in uncommitted.values() for job_id in job_ids}
    return [job_id for job_id in hashes if job_id not in settled]
