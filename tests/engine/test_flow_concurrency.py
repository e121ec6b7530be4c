"""Concurrency per queue, held in Redis across every worker instance and lane (acceptance 3)."""

from __future__ import annotations

from itertools import pairwise

import pytest

from jobqueue import Queue
from tests.conftest import Namespace
from tests.support.flow import Consumers, dlq_depth, flow_namespace
from tests.support.flow_processors import spans


def test_concurrency_one_never_runs_two_jobs_at_once(ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    ns = flow_namespace(ns, monkeypatch)
    producer = Queue("flow-serial")
    ids = producer.add_bulk([{"name": "step", "data": {"seconds": 0.1}} for _ in range(16)])
    Consumers(ns, "flow-serial", per_lane=4).run_until(lambda: len(spans("flow-serial")) == len(ids), timeout=120)

    ran = sorted(spans("flow-serial"), key=lambda s: s["start"])
    assert sorted(s["id"] for s in ran) == sorted(ids)
    overlaps = [(a["id"], b["id"]) for a, b in pairwise(ran) if b["start"] < a["end"]]
    assert overlaps == []
    # Waiting for the slot counted no attempt, and the slot was given back.
    assert {producer.get_job(j).attemptsMade for j in ids} == {1}  # type: ignore[union-attr]
    assert dlq_depth(ns, "flow-serial") == 0
    keys = ns.settings.queue_keys("flow-serial")
    assert ns.redis.zcard(keys.slots) == 0 and ns.redis.zcard(keys.leases) == 0
