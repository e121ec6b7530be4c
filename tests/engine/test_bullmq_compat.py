"""Acceptance 5: npm bullmq, PyPI bullmq and the seeds' redis-cli commands read jobqueue's state correctly."""

from __future__ import annotations

import time

import pytest

from jobqueue import Queue
from jobqueue.throughput import finished_within, read_metrics
from tests.conftest import Namespace
from tests.support.bullmq_py import read_state, read_state_node
from tests.support.functions import LocalFunctions

pytestmark = pytest.mark.cluster  # also run on a real Redis Cluster (tests/conftest.py)

FIELDS = ("name", "data", "attemptsMade", "progress", "returnvalue", "failedReason")


def test_real_bullmq_clients_report_what_jobqueue_reports(ns: Namespace) -> None:
    leads, email = Queue("lead-processing"), Queue("email")
    done = leads.add_bulk([{"name": "process-lead", "data": {"leadId": i}} for i in range(3)])
    dead = leads.add("process-lead", {"leadId": 10, "behavior": "unrecoverable"})
    retrying = leads.add("process-lead", {"leadId": 11, "behavior": "flaky", "failures": 1},
                         backoff={"type": "fixed", "delay": 600_000})
    functions = LocalFunctions(ns, ["lead-processing"], ["lead-processing-dlq"])
    functions.pump(lambda: leads.get_job_counts()["completed"] == 3 and leads.get_state(dead) == "failed"
                   and leads.get_state(retrying) == "delayed"
                   and ns.redis.llen(ns.settings.queue_keys("lead-processing-dlq").wait) == 1, timeout=20)
    delayed = leads.add("process-lead", {"leadId": 12}, delay=3_600_000)
    waiting = leads.add_bulk([{"name": "process-lead", "data": {"leadId": 20 + i}} for i in range(2)])
    prioritized = email.add("generic", {"to": "a@example.com"})  # priority 5 from the catalog
    urgent = email.add("password_reset", {"to": "b@example.com"})  # priority 1
    plain = email.add("generic", {"to": "c@example.com"}, priority=0)

    ids = {"lead-processing": [*done, dead, retrying, delayed, *waiting],
           "email": [prioritized, urgent, plain]}
    from_node = read_state_node(ns.settings.redis_url, ns.settings.prefix, ids, cluster=ns.settings.redis_cluster)
    from_pypi = read_state(ns.settings.redis_url, ns.settings.prefix, ids, cluster=ns.settings.redis_cluster)
    for name, job_ids in ids.items():
        ours = Queue(name).get_job_counts()
        assert from_node[name]["counts"] == ours, name
        assert from_pypi[name]["counts"] == ours, name
        for job_id in job_ids:
            job = Queue(name).get_job(job_id)
            assert job is not None
            expected = {field: getattr(job, field) for field in FIELDS}
            for reader, state in (("npm", from_node), ("pypi", from_pypi)):
                seen = state[name]["jobs"][job_id]
                assert {field: seen[field] for field in FIELDS} == expected, (reader, job_id)
                assert seen["state"] == job.state, (reader, job_id)

    assert from_node["lead-processing"]["counts"] == {
        "active": 0, "completed": 3, "delayed": 2, "failed": 1, "prioritized": 0, "waiting": 2,
        "waiting-children": 0}
    assert from_node["email"]["counts"]["prioritized"] == 2
    assert from_node["email"]["counts"]["waiting"] == 1
    assert from_node["lead-processing"]["jobs"][retrying]["attemptsMade"] == 1
    assert from_node["lead-processing"]["jobs"][done[0]]["returnvalue"] == {"leadId": 0, "attempt": 1}
    assert from_node["lead-processing"]["jobs"][dead]["failedReason"] == "lead has no address"

    # The seeds' runbook commands.
    # The seeds' runbook commands: `bull:lead-processing:wait`, or in a Redis Cluster `bull:{lead-processing}:wait`.
    p = ns.settings.prefix
    leads_name, dlq_name = (ns.settings.queue_keys(q).name for q in ("lead-processing", "lead-processing-dlq"))
    assert leads_name == ("{lead-processing}" if ns.settings.redis_cluster else "lead-processing")
    assert ns.redis.llen(f"{p}:{leads_name}:wait") == 2
    assert ns.redis.llen(f"{p}:{leads_name}:active") == 0
    assert ns.redis.zcard(f"{p}:{leads_name}:failed") == 1
    assert ns.redis.zcard(f"{p}:{leads_name}:completed") == 3
    assert ns.redis.llen(f"{p}:{dlq_name}:wait") == 1
    assert ns.redis.hget(f"{p}:{leads_name}:{done[0]}", "name") == "process-lead"


def test_per_minute_metrics_are_bullmqs_and_count_the_last_hour(ns: Namespace) -> None:
    """moveToFinished keeps BullMQ's per-minute metrics: npm bullmq's getMetrics reads the same points, and the
    dashboard's last hour (`finished_within`) counts jobs whatever retention removed since."""
    leads = Queue("lead-processing")
    functions = LocalFunctions(ns, ["lead-processing"])
    leads.add_bulk([{"name": "process-lead", "data": {"leadId": i}} for i in range(3)])
    functions.pump(lambda: leads.get_job_counts()["completed"] == 3, timeout=20)
    metrics = ns.settings.queue_keys("lead-processing").metrics("completed")
    # Three minutes pass with no finish: the next finish closes the first minute and pushes two empty ones.
    ns.redis.hset(metrics, mapping={"prevTS": int(time.time() * 1000) - 180_000, "prevCount": 0})
    ns.redis.delete(f"{metrics}:data")
    leads.add_bulk([{"name": "process-lead", "data": {"leadId": 10 + i}} for i in range(2)])
    functions.pump(lambda: leads.get_job_counts()["completed"] == 5, timeout=20)
    ns.redis.delete(ns.settings.queue_keys("lead-processing").completed)  # retention: the figures stay

    count, prev_count = (int(v or 0) for v in ns.redis.hmget(metrics, "count", "prevCount"))
    points = [int(p) for p in ns.redis.lrange(f"{metrics}:data", 0, -1)]
    assert count == 5 and points[-3:] == [0, 0, 3] and sum(points) + count - prev_count == 5

    seen = read_state_node(ns.settings.redis_url, ns.settings.prefix, {"lead-processing": []}, metrics=True,
                           cluster=ns.settings.redis_cluster)
    completed = seen["lead-processing"]["metrics"]["completed"]
    assert completed["data"] == points and completed["count"] == len(points)
    assert (completed["meta"]["count"], completed["meta"]["prevCount"]) == (5, prev_count)
    assert seen["lead-processing"]["metrics"]["failed"]["meta"]["count"] == 0

    pipe = ns.redis.pipeline()
    read_metrics(pipe, ns.settings.queue_keys("lead-processing"), "completed", 60)
    meta, window = pipe.execute()
    now = int(time.time() * 1000)
    assert finished_within(meta, window, now_ms=now, minutes=60) == 5
    assert finished_within(meta, window, now_ms=now + 3_600_000, minutes=60) == 0

    # A long idle spell: each empty minute is a point (pushed at most 1000 a command), a week at most.
    ns.redis.hset(metrics, "prevTS", now - 2_500 * 60_000)
    ns.redis.delete(f"{metrics}:data")
    leads.add("process-lead", {"leadId": 20})
    functions.pump(lambda: int(ns.redis.hget(metrics, "count") or 0) == 6, timeout=20)
    assert ns.redis.llen(f"{metrics}:data") == 2_500
    ns.redis.hset(metrics, "prevTS", now - 20_000 * 60_000)
    leads.add("process-lead", {"leadId": 21})
    functions.pump(lambda: int(ns.redis.hget(metrics, "count") or 0) == 7, timeout=20)
    assert ns.redis.llen(f"{metrics}:data") == 10_080
