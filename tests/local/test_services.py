"""The embedded Redis fallback and the runtime's own settings: clear errors when they cannot work."""

from __future__ import annotations

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from jobqueue.errors import JobQueueError
from jobqueue.local.dev import LocalRuntime
from jobqueue.local.services import EmbeddedRedis, LocalServiceError


def test_the_embedded_redis_starts_without_persistence_and_stops() -> None:
    server = EmbeddedRedis().start()
    try:
        client = Redis.from_url(server.url)
        assert client.ping()
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
    finally:
        server.stop()
    with pytest.raises(RedisConnectionError):
        Redis.from_url(server.url, socket_connect_timeout=1).ping()


def test_no_redis_server_binary_is_a_clear_error() -> None:
    with pytest.raises(LocalServiceError, match=r"no 'no-such-redis-server' on PATH .* or set REDIS_URL"):
        EmbeddedRedis("no-such-redis-server")


@pytest.mark.parametrize("value", ["0", "many", "-1"])
def test_a_bad_concurrency_cap_is_refused_by_name(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBQUEUE_LOCAL_MAX_CONCURRENCY", value)
    with pytest.raises(JobQueueError, match=f"JOBQUEUE_LOCAL_MAX_CONCURRENCY='{value}' is not a positive"):
        LocalRuntime()
