"""The API's queue metrics are npm BullMQ's `getJobCounts()` on the same Redis, in seed 003's shape."""

from __future__ import annotations

import pytest

from jobqueue import Queue
from tests.api.conftest import ApiClient
from tests.conftest import Namespace
from tests.support.bullmq_py import read_state_node
from tests.support.functions import LocalFunctions

pytestmark = pytest.mark.cluster  # also run on a real Redis Cluster (tests/conftest.py)


def test_queue_metrics_equal_npm_bullmq_job_counts(ns: Namespace, api: ApiClient) -> None:
    email = Queue("email")
    done = [email.add("welcome", {"behavior": "ok"}) for _ in range(3)]
    failed = email.add("welcome", {"behavior": "unrecoverable"})
    LocalFunctions(ns, ["email"], ["dead"]).pump(
        lambda: all(email.get_state(j) == "completed" for j in done) and email.get_state(failed) == "failed", 15)
    email.add_bulk([{"name": "welcome", "data": {"n": i}} for i in range(4)])          # wait
    email.add_bulk([{"name": "generic", "data": {"n": i}} for i in range(2)])          # prioritized (priority 5)
    email.add("password_reset", {"to": "a@b.c"}, delay=600_000)                        # delayed
    running = email.add("welcome", {})
    keys = ns.settings.queue_keys("email")
    ns.redis.lrem(keys.wait, 0, running)
    ns.redis.lpush(keys.active, running)                                               # active
    api.call("POST", "/queues/email/pause")

    counts = read_state_node(ns.settings.redis_url, ns.settings.prefix, {"email": []},
                             cluster=ns.settings.redis_cluster)["email"]["counts"]
    assert counts == {"active": 1, "completed": 3, "delayed": 1, "failed": 1, "prioritized": 2, "waiting": 4,
                      "waiting-children": 0}
    metrics = api.call("GET", "/queues/email").json
    assert metrics.pop("eventSources") == {"enabled": 0, "disabled": 0, "transitioning": 0, "stopped": True}
    waiting = counts["waiting"] + counts["prioritized"]  # seed 003's "waiting": all that waits to start
    assert metrics == {
        "queueName": "email", "waiting": waiting, "active": counts["active"], "completed": counts["completed"],
        "failed": counts["failed"], "delayed": counts["delayed"], "paused": 1,
        "total": waiting + counts["active"] + counts["delayed"],
    }
    stats = api.call("GET", "/stats").json
    assert next(q for q in stats["queues"] if q["queueName"] == "email") == metrics

    # Prometheus: BullMQ's own exporter's names, labels and counts (Queue.exportPrometheusMetrics).
    text = api.call("GET", "/metrics").text
    for state, count in counts.items():
        assert f'bullmq_job_count{{queue="email", state="{state}"}} {count}\n' in text
    # The worker counts finished jobs in BullMQ's metrics hashes: 3 completed, 1 failed above.
    assert 'bullmq_job_completed_total{queue="email"} 3\n' in text
    assert 'bullmq_job_failed_total{queue="email"} 1\n' in text
    assert 'jobqueue_queue_paused{queue="email"} 1\n' in text
    assert 'jobqueue_dead_letters{queue="dead"} 1\n' in text
