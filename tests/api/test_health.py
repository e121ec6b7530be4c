"""`GET /health` says which dependency is down, and answers 503 while one is."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from redis import Redis

from jobqueue.api.routes import ops
from jobqueue.api.services import services
from jobqueue.settings import get_settings
from tests.api.conftest import ApiClient
from tests.conftest import Namespace

CLOSED = "127.0.0.1:1"  # nothing listens on port 1: connections are refused at once


def test_health_names_the_dependency_that_is_down(ns: Namespace, api: ApiClient,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    healthy = api.call("GET", "/health", token=None).json
    assert healthy["status"] == "ok"
    info = services().redis.info("memory")
    memory = healthy["memory"]
    assert memory["policy"] == info["maxmemory_policy"] and memory["usedBytes"] > 0
    if info["maxmemory"]:
        assert memory["maxBytes"] == info["maxmemory"] and 0 < memory["usedPercent"] <= 100
    else:  # no limit: said so rather than a percentage of nothing
        assert memory["maxBytes"] is None and memory["usedPercent"] is None and "no limit" in memory["summary"]

    svc = services()
    alive = svc.redis
    monkeypatch.setattr(svc, "redis", Redis.from_url(f"redis://{CLOSED}/0", socket_connect_timeout=1))
    answer = api.call("GET", "/health", token=None)
    assert answer.status == 503
    assert answer.json == {"status": "degraded", "redis": {"ok": False, "error": "ConnectionError"},
                           "sqs": {"ok": True, "error": None}, "memory": None}

    monkeypatch.setattr(svc, "redis", alive)
    dead_sqs = boto3.client("sqs", endpoint_url=f"http://{CLOSED}",
                            config=Config(retries={"max_attempts": 1}, connect_timeout=1))
    monkeypatch.setattr(ops, "_health_sqs", lambda: dead_sqs)
    answer = api.call("GET", "/health", token=None)
    assert answer.status == 503
    assert answer.json["redis"] == {"ok": True, "error": None}
    assert answer.json["sqs"]["ok"] is False and answer.json["sqs"]["error"] == "EndpointConnectionError"


def test_an_unreachable_redis_cluster_is_a_503_as_an_unreachable_redis_is(ns: Namespace, api: ApiClient,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """redis-py's cluster client connects as it is built and fails with RedisClusterException, not a RedisError;
    jobqueue's ClusterClient makes that a ConnectionError: routes answer 503 (not 500), `/health` reports Redis
    down."""
    monkeypatch.setenv("REDIS_URL", f"redis://{CLOSED}")
    for cluster in ("", "1"):
        monkeypatch.setenv("JOBQUEUE_REDIS_CLUSTER", cluster)
        get_settings.cache_clear()
        for path in ("/stats", "/queues/email", "/queues/email/jobs/nope"):
            answer = api.call("GET", path)
            assert answer.status == 503 and "retry later" in answer.json["message"], (cluster, path, answer.text)
        health = api.call("GET", "/health", token=None)
        assert health.status == 503 and health.json["sqs"]["ok"] is True, health.text
        assert health.json["redis"] == {"ok": False, "error": "ConnectionError"}


def test_memory_is_reported_against_maxmemory() -> None:
    full = ops.redis_memory({"used_memory": 3 * 2**30, "maxmemory": 4 * 2**30, "maxmemory_policy": "noeviction"})
    assert (full.usedBytes, full.maxBytes, full.usedPercent) == (3 * 2**30, 4 * 2**30, 75.0)
    assert full.summary == "3.0 GiB of 4.0 GiB (75.0 %), noeviction"
    unlimited = ops.redis_memory({"used_memory": 1536, "maxmemory": 0, "maxmemory_policy": "noeviction"})
    assert (unlimited.maxBytes, unlimited.usedPercent) == (None, None)
    assert unlimited.summary == "1.5 KiB, no limit (maxmemory 0), noeviction"
