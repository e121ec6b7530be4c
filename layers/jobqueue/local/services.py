"""The AWS endpoint and the Redis the local runtime uses when none is given: an embedded moto server and a
`redis-server` (throwaway, or persisting to a data directory), stopped on exit."""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from jobqueue.errors import JobQueueError

__all__ = ["BackgroundHttpServer", "EmbeddedMoto", "EmbeddedRedis", "EmbeddedRedisCluster", "LocalServiceError",
           "bind_error", "free_port", "listener_of"]


class LocalServiceError(JobQueueError):
    """A service the local runtime needs cannot be started."""


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listener_of(port: int) -> str | None:
    """Who listens on TCP `port` on this machine, as `pid N (command line)`, read from /proc; None when that
    cannot be told (no /proc, or the process is another user's)."""
    inodes: set[str] = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        with contextlib.suppress(OSError):
            for line in table.read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    for process in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if any(_link(fd) in inodes for fd in (process / "fd").iterdir()):
                command = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                return f"pid {process.name} ({command.strip()[:120]})"
    return None


def _link(fd: Path) -> str:
    """Where a /proc file descriptor points; "" for one closed meanwhile (the listing's own, say)."""
    try:
        return os.readlink(fd)
    except OSError:
        return ""


def bind_error(exc: OSError, port: int, setting: str) -> Exception:
    """A port that is taken, named with the process that holds it and the setting that picks another."""
    if exc.errno != errno.EADDRINUSE:
        return exc
    holder = listener_of(port)
    return LocalServiceError(f"port {port} is in use{f' by {holder}' if holder else ''}: stop that process, or "
                             f"set {setting} to another port (0 picks a free one)")


def _serialize_sqs_receives() -> None:
    """Make moto's ReceiveMessage atomic per queue, as SQS's is.

    moto's server answers requests in threads, and two concurrent polls of one queue can both take a message or
    both move it to the DLQ; the loser fails with a 500 and the messages it had already received stay invisible
    until their visibility timeout (seen with four pollers on one queue). Each receive now holds the lock moto
    keeps per queue for sends; its long-poll wait (a Condition wait) releases it.
    """
    from moto.sqs.models import SQSBackend

    original = SQSBackend.receive_message
    if getattr(original, "serialized", False):
        return

    @functools.wraps(original)
    def receive_message(self: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        with self.get_queue(queue_name)._messages_lock:
            return original(self, queue_name, *args, **kwargs)

    receive_message.serialized = True  # type: ignore[attr-defined]
    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]


def _dispatch_by_host_once() -> None:
    """Make moto's server find a request's backend once per host, not at every request.

    Its dispatcher holds one lock for every request while it names the backend of the request's host: a listing
    of moto's package folder (a stat of each of its ~200 service folders) and up to ~180 URL patterns tried in
    turn, the same answer each time for one host. Concurrent calls (pollers, producers, workers) queued on that
    lock. The backend found for a host is now kept.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    if getattr(original, "once", False):
        return
    found: dict[str | None, Any] = {}

    @functools.wraps(original)
    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        if host not in found:  # called under the dispatcher's lock
            found[host] = original(self, host)
        return found[host]

    get_backend_for_host.once = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


_DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_dynamodb_lock = threading.RLock()


def _serialize_dynamodb_writes() -> None:
    """Make moto's DynamoDB writes atomic, as DynamoDB's are per item.

    moto checks a write's condition and applies it in two steps without a lock: two concurrent conditional
    updates (the seeds' "one tick claims a due message") could both pass (seen under load). Every write now holds
    one lock, which is stricter than DynamoDB (per item) and costs nothing at local rates.
    """
    from moto.dynamodb.models import DynamoDBBackend

    for name in _DYNAMODB_WRITES:
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "serialized", False):
            continue

        def write(self: DynamoDBBackend, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _dynamodb_lock:
                return _original(self, *args, **kwargs)

        functools.update_wrapper(write, original)
        write.serialized = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, write)


class EmbeddedMoto:
    """moto's server in this process on `port` (0: a free one); sets AWS_ENDPOINT_URL and dummy credentials."""

    def __init__(self, port: int = 0) -> None:
        from moto.server import ThreadedMotoServer

        from jobqueue.local.fair_sqs import fair_queues
        from jobqueue.local.moto_sqs import atomic_deletes, attributes_once_per_call, epoch_clock

        _dispatch_by_host_once()
        _serialize_sqs_receives()
        _serialize_dynamodb_writes()
        attributes_once_per_call()
        atomic_deletes()
        fair_queues()
        epoch_clock()

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call drowns the runtime's own logs
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._port = port
        self.endpoint = ""

    def start(self) -> EmbeddedMoto:
        if self._port:  # moto's server would wait forever for a port that is taken
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("127.0.0.1", self._port))
                except OSError as exc:
                    raise bind_error(exc, self._port, "MOTO_PORT") from None
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local"),
                            ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_REGION", "us-east-1")):
            os.environ.setdefault(name, value)
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint
        return self

    def stop(self) -> None:
        self._server.stop()


class EmbeddedRedis:
    """`redis-server` from PATH on a loopback port (0: a free one).

    Without `data_dir` it keeps nothing, so a restart comes back empty as a lost node does (tests crash and
    restart it; the shared Redis is never restarted). With `data_dir` it keeps an append-only file there, synced
    on every write: a job is on disk before its add returns, since the embedded SQS keeps nothing (`make run`).
    """

    def __init__(self, binary: str = "redis-server", port: int = 0, data_dir: Path | None = None,
                 options: tuple[str, ...] = ()) -> None:
        path = shutil.which(binary)
        if path is None:
            raise LocalServiceError(
                f"REDIS_URL is not set and there is no {binary!r} on PATH to start one: install Redis "
                "(e.g. `apt-get install redis-server`, `brew install redis`) or set REDIS_URL")
        self._binary = path
        self._process: subprocess.Popen[bytes] | None = None
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.data_dir = data_dir
        self.options = options  # more `redis-server` arguments

    def start(self, timeout: float = 10) -> EmbeddedRedis:
        from redis import Redis
        from redis.exceptions import ConnectionError as RedisConnectionError

        port = self.port
        persistence = ["--appendonly", "no"]
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            persistence = ["--dir", str(self.data_dir), "--appendonly", "yes", "--appendfsync", "always"]
        self._process = subprocess.Popen(
            [self._binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", *persistence, *self.options],
            stdout=subprocess.DEVNULL, start_new_session=True)
        client: Any = Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return self
            except RedisConnectionError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    holder = listener_of(port)
                    raise LocalServiceError(f"redis-server did not start on port {port}"
                                            + (f": it is in use by {holder}" if holder else "")) from None
                time.sleep(0.05)

    def restart(self) -> None:
        """Crash the server (SIGKILL) and start it again on the same port: every key is gone."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)
        self.start()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


class EmbeddedRedisCluster:
    """A throwaway Redis Cluster: `masters` `redis-server --cluster-enabled yes` on loopback ports (their config
    files in `directory`), joined by `redis-cli --cluster create`, no replicas. `url` names one node; a cluster
    client finds the others. The tests and `make bench-cluster` run on it."""

    def __init__(self, directory: Path, masters: int = 3) -> None:
        # The cluster bus port defaults to the port + 10000, which may be taken or past 65535: chosen too.
        self.nodes = [EmbeddedRedis(options=("--cluster-enabled", "yes", "--cluster-port", str(free_port()),
                                             "--cluster-config-file", str(directory / f"nodes-{n}.conf")))
                      for n in range(masters)]
        self.url = self.nodes[0].url

    def start(self, timeout: float = 30) -> EmbeddedRedisCluster:
        from redis import Redis

        try:
            for node in self.nodes:
                node.start()
            subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
                            "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True,
                           timeout=timeout)
            deadline = time.monotonic() + timeout
            for node in self.nodes:  # every node knows every slot's owner: the cluster takes commands
                client: Any = Redis(port=node.port, decode_responses=True)
                while client.cluster("INFO")["cluster_state"] != "ok":
                    if time.monotonic() > deadline:
                        raise LocalServiceError(f"Redis Cluster not ready within {timeout} s")
                    time.sleep(0.05)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class BackgroundHttpServer:
    """An HTTP server of the local runtime (the API adapter, the Lambda API) served on a daemon thread."""

    def __init__(self, httpd: ThreadingHTTPServer, name: str) -> None:
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name=name,
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
