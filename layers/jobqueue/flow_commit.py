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

__all__ = ["FLOW_HOLD_SECONDS", "ROLLBACK_FIELD", "committed_roots", "triage_unsent", "uncommitted"]

ROLLBACK_FIELD = "rb"
"""Set on a flow's root while its producer rolls the flow back: the flow counts as never committed."""
FLOW_HOLD_SECONDS = 5
"""How long the delivery of a job of an uncommitted flow waits before it comes back (no attempt spent): until its
producer commits or rolls back the flow, or the sweeper removes it."""


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


def uncommitted(scripts: Scripts, jobs: Iterable[tuple[str, int]]) -> set[str]:
    """Of delivered flow jobs (id, timestamp), those whose add has not committed: still marked unsent by that add,
    and their root not recorded (or being rolled back). Such a job must not run yet: the add may still be undone."""
    jobs = list(jobs)
    pipe = scripts.client.pipeline(transaction=False)
    for job_id, _ in jobs:
        pipe.zscore(scripts.keys.unsent, job_id)
        pipe.hget(scripts.keys.job(job_id), "flow")
    found = pipe.execute()
    marked = {job_id: root for (job_id, added), mark, root in zip(jobs, found[::2], found[1::2], strict=True)
              if mark is not None and int(mark) == added and root}
    if not marked:
        return set()
    committed = committed_roots(scripts.client, set(marked.values()))
    return {job_id for job_id, root in marked.items() if root not in committed}
