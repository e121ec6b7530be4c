"""A real Redis Cluster for the tests: three masters (`redis-server --cluster-enabled yes`) on free loopback
ports in a temporary directory, joined by `redis-cli --cluster create`, no replicas, nothing persisted."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from jobqueue.local.services import free_port

__all__ = ["RedisClusterServers"]

MASTERS = 3
READY_TIMEOUT_S = 20.0


class RedisClusterServers:
    """Start with `start()`, stop with `stop()`; `url` names one node, from which a cluster client finds the rest.

    >>> servers = RedisClusterServers(tmp_path).start()  # doctest: +SKIP
    >>> servers.url  # doctest: +SKIP
    'redis://127.0.0.1:40123/0'
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ports = [free_port() for _ in range(MASTERS)]
        # The cluster bus port is the port + 10000 unless set: that one may be taken, or past 65535.
        self.bus_ports = [free_port() for _ in range(MASTERS)]
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> RedisClusterServers:
        for port, bus_port in zip(self.ports, self.bus_ports, strict=True):
            self.processes.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--cluster-port", str(bus_port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes",
                 "--cluster-config-file", f"nodes-{port}.conf", "--dir", str(self.directory), "--save", "",
                 "--appendonly", "no", "--maxmemory-policy", "noeviction"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        try:
            for port in self.ports:
                self._wait(partial(_pings, port))
            subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                            "--cluster-replicas", "0", "--cluster-yes"],
                           check=True, capture_output=True, timeout=READY_TIMEOUT_S)
            for port in self.ports:
                self._wait(partial(_cluster_ok, port))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=10)
        self.processes.clear()

    @staticmethod
    def _wait(ready: Callable[[], bool]) -> None:
        """Wait until `ready()` is true; a connection refused (the server still starting) counts as not yet."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                if ready():
                    return
            except RedisConnectionError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"Redis Cluster not ready within {READY_TIMEOUT_S} s")
            time.sleep(0.05)


def _pings(port: int) -> bool:
    return bool(Redis(port=port).ping())


def _cluster_ok(port: int) -> bool:
    """The node sees every slot served: the cluster accepts commands."""
    return bool(Redis(port=port, decode_responses=True).cluster("INFO")["cluster_state"] == "ok")
