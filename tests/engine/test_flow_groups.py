"""Groups (tenants): one tenant's flood does not hold up another's jobs, and no group ever runs more jobs at
once, or starts more per second, than the catalog allows, across every worker instance (issue 16, point 1)."""

from __future__ import annotations

from collections import Counter

import pytest

from jobqueue import Queue
from jobqueue.errors import InvalidJobError
from tests.conftest import Namespace
from tests.support.flow import Consumers, dlq_depth, flow_namespace
from tests.support.functions import start_worker_process, wait_for
from tests.support.group_processors import runs, starts

FLOOD = "flow-groups"


def _busiest_second(times_ms: list[int]) -> int:
    times_ms = sorted(times_ms)
    return max((sum(1 for t in times_ms if s <= t < s + 1000) for s in times_ms), default=0)


def test_a_tenants_flood_does_not_hold_up_another_tenant(ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    ns = flow_namespace(ns, monkeypatch)
    producer = Queue(FLOOD)
    flood = producer.add_bulk([{"name": "work", "data": {"seconds": 0.05}, "opts": {"group": {"id": "tenant-a"}}}
                               for _ in range(500)])
    few = producer.add_bulk([{"name": "work", "data": {"seconds": 0.05}, "opts": {"group": {"id": "tenant-b"}}}
                             for _ in range(50)])

    def b_done() -> bool:
        return sum(1 for r in runs(FLOOD) if r["group"] == "tenant-b") == len(few)

    took = Consumers(ns, FLOOD, per_lane=4).run_until(b_done, timeout=90)
    done = Counter(r["group"] for r in runs(FLOOD))
    print(f"tenant-b's 50 jobs done in {took:.1f} s, while tenant-a had done {done['tenant-a']} of 500")
    assert done["tenant-a"] < len(flood) / 2, "most of tenant-a's jobs still wait when tenant-b's are all done"
    # Never more than group_concurrency (2) jobs of a group at once, nor group_rate_limit (20/s) starts.
    assert max(r["running"] for r in runs(FLOOD)) <= 2
    jobs = {job_id: producer.get_job(job_id) for job_id in flood + few}
    for group, ids in (("tenant-a", flood), ("tenant-b", few)):
        started = [j.processedOn for i in ids if (j := jobs[i]) and j.processedOn]
        assert _busiest_second(started) <= 20, f"{group}: more than 20 starts within one second"
    # Waiting for a group counted no attempt, ran nothing twice, and nothing went to the dead-letter queue.
    ran = Counter(r["id"] for r in runs(FLOOD))
    assert all(n == 1 for n in ran.values())
    assert all(jobs[i].attemptsMade == 1 for i in ran)  # type: ignore[union-attr]
    assert all(jobs[i].state in ("waiting", "active") for i in flood if i not in ran)  # type: ignore[union-attr]
    assert dlq_depth(ns, FLOOD) == 0
    # The group stays in the job's options, where BullMQ (Pro) clients read it.
    assert jobs[few[0]].opts["group"] == {"id": "tenant-b"}  # type: ignore[union-attr]


def test_a_dead_workers_group_slot_is_freed_when_its_lease_ends(ns: Namespace,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """group_concurrency 1: the job of a killed worker holds its group's one slot until its lease (the 1 s
    function timeout) ends; then the group's next job runs, and the killed job runs again as a stalled attempt."""
    ns = flow_namespace(ns, monkeypatch)
    queue = "flow-groups-kill"
    producer = Queue(queue)
    killed = producer.add("work", {"die": True}, group={"id": "t"})
    worker = start_worker_process(ns, queue)
    try:
        wait_for(lambda: worker.poll() is not None, timeout=30)  # its processor killed it mid-job
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(10)
    keys = ns.settings.queue_keys(queue)
    assert ns.redis.zrange(keys.group_slots("t"), 0, -1) == [killed]
    after = producer.add("work", {}, group={"id": "t"})
    Consumers(ns, queue, per_lane=2).run_until(lambda: producer.get_job_counts()["completed"] == 2, timeout=60)

    first = min(s["start"] for s in starts(queue) if s["id"] == killed)
    later = [s["start"] for s in starts(queue) if s["id"] == after]
    assert len(later) == 1 and later[0] >= first + 0.9, "the next job waited for the dead worker's lease"
    assert [s["id"] for s in starts(queue)].count(killed) == 2
    assert producer.get_job(killed).attemptsMade == 2  # type: ignore[union-attr]  # the stall and the rerun
    assert producer.get_job(after).attemptsMade == 1  # type: ignore[union-attr]
    assert ns.redis.exists(keys.group_slots("t")) == 0
    assert dlq_depth(ns, queue) == 0


@pytest.mark.parametrize("group", [{"id": ""}, {"id": "a:b"}, {"id": "a b"}, {"id": "x" * 129}, {"name": "a"}, "a"])
def test_a_bad_group_is_refused_and_nothing_is_added(ns: Namespace, monkeypatch: pytest.MonkeyPatch,
                                                     group: object) -> None:
    ns = flow_namespace(ns, monkeypatch)
    producer = Queue(FLOOD)
    with pytest.raises(InvalidJobError, match="group"):
        producer.add("work", {}, group=group)
    assert sum(producer.get_job_counts().values()) == 0
