"""A Redis server of a test's own, on a free port with nothing on disk: the one a test may crash and restart
(the shared Redis at REDIS_URL is never restarted or flushed)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.support.ports import free_port


class RedisServer:
    """`redis-server` on 127.0.0.1 with no persistence, so a restart starts it empty, as a lost node comes back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.mkdtemp(prefix="jobqueue-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> RedisServer:
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self._dir],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        probe = Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                probe.ping()
                break
            except RedisConnectionError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)
            finally:
                probe.close()
        return self

    def restart(self) -> None:
        """Crash the server (SIGKILL) and start it again on the same port: every key is gone."""
        self._stop(kill=True)
        self.start()

    def stop(self) -> None:
        self._stop(kill=False)
        shutil.rmtree(self._dir, ignore_errors=True)

    def _stop(self, *, kill: bool) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill() if kill else process.terminate()
            process.wait(10)
