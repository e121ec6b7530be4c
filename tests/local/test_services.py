"""The embedded Redis fallback and the runtime's own settings: clear errors when they cannot work."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from jobqueue.errors import JobQueueError
from jobqueue.local.dev import LocalRuntime
from jobqueue.local.http import ApiServer
from jobqueue.local.services import EmbeddedMoto, EmbeddedRedis, LocalServiceError


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


@contextmanager
def busy_port() -> Iterator[int]:
    """A loopback port this process listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_busy_api_port_names_the_process_holding_it_and_the_setting_to_change() -> None:
    with busy_port() as port, pytest.raises(LocalServiceError) as caught:
        ApiServer(port=port)
    message = str(caught.value)
    assert message.startswith(f"port {port} is in use by pid {os.getpid()} (")
    assert message.endswith("stop that process, or set JOBQUEUE_API_PORT to another port (0 picks a free one)")


def test_a_busy_moto_port_is_named_instead_of_waited_for() -> None:
    with busy_port() as port, pytest.raises(LocalServiceError) as caught:
        EmbeddedMoto(port).start()
    message = str(caught.value)
    assert message.startswith(f"port {port} is in use by pid {os.getpid()} (")
    assert message.endswith("stop that process, or set MOTO_PORT to another port (0 picks a free one)")
