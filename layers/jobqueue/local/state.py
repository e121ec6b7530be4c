"""The local runtime's state folder: what lets `make run` pick up where it stopped.

`.jobqueue/` under the project (git-ignored), or JOBQUEUE_STATE_DIR:

    redis/       the embedded redis-server's append-only file: every job (the durable truth, see `dev`)
    ports.json   the ports of the embedded moto, Redis and Lambda API, chosen free once and kept, so an export
                 line stays valid across restarts (`--fresh` keeps them too)
    lock         flock-ed by the running runtime (one per folder), holding its pid
    env          the running runtime's export line (`jobqueue env`), removed when it stops
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from pathlib import Path
from typing import IO

from jobqueue.local.services import LocalServiceError, free_port

__all__ = ["DEFAULT_STATE_DIR", "PORT_NAMES", "StateDir", "running_export_line", "state_dir"]

DEFAULT_STATE_DIR = Path(__file__).resolve().parents[3] / ".jobqueue"
PORT_NAMES = ("moto", "redis", "lambda", "gohighlevel", "realestate", "crm", "messaging", "integrations", "search",
              "app", "webhook-receiver", "push", "smtp")
"""The embedded services and seed stand-ins (`standins.start_all`) whose ports the folder keeps, so an export line
stays valid across restarts (the API's is JOBQUEUE_API_PORT, default 3000)."""
_KEPT = {"lock", "ports.json"}


def state_dir() -> Path:
    """JOBQUEUE_STATE_DIR, else `.jobqueue/` under the project."""
    raw = os.environ.get("JOBQUEUE_STATE_DIR")
    return Path(raw).expanduser().resolve() if raw else DEFAULT_STATE_DIR


class StateDir:
    """One runtime's folder: `acquire()` locks it for this process, `release()` lets it go."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.redis_dir = path / "redis"
        self._lock: IO[str] | None = None

    def acquire(self) -> StateDir:
        """Lock the folder (created if missing); LocalServiceError when another runtime holds it."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            lock = (self.path / "lock").open("a+")
        except OSError as exc:
            raise LocalServiceError(f"cannot use {self.path} for the local state ({exc.strerror}): set "
                                    "JOBQUEUE_STATE_DIR to a writable folder") from None
        if not _try_lock(lock, fcntl.LOCK_EX, attempts=20):  # `jobqueue env` holds it for a moment at most
            lock.close()
            holder = _holder(self.path)
            raise LocalServiceError(
                f"jobqueue dev already runs with its state in {self.path}{f' (pid {holder})' if holder else ''}: "
                "`jobqueue env` prints its export line; stop it (Ctrl-C in its terminal) to start another") from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock = lock
        return self

    def wipe(self) -> None:
        """Delete everything but the lock and the ports: the next start is empty, on the same ports."""
        for entry in self.path.iterdir():
            if entry.name not in _KEPT:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()

    def ports(self) -> dict[str, int]:
        """The kept ports, missing ones (or 0) chosen free now and kept from here on."""
        file = self.path / "ports.json"
        ports: dict[str, int] = {}
        if file.exists():
            try:
                ports = json.loads(file.read_text())
                if not isinstance(ports, dict) or not all(
                        name in PORT_NAMES and type(port) is int and 0 <= port < 65536 for name, port in ports.items()):
                    raise ValueError("expected an object of port numbers")
            except ValueError as exc:
                raise LocalServiceError(f"{file} is not valid ({exc}): delete it, and new ports are chosen") from None
        missing = [name for name in PORT_NAMES if not ports.get(name)]
        if missing:
            ports |= {name: free_port() for name in missing}
            file.write_text(json.dumps(ports, indent=2) + "\n")
        return ports

    def publish(self, export_line: str) -> None:
        """Write the export line for `jobqueue env` (only this user can read it: REDIS_URL may hold a password)."""
        file = self.path / "env"
        file.unlink(missing_ok=True)
        with os.fdopen(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(export_line + "\n")

    def release(self) -> None:
        """Remove the export line and unlock; nothing when this process does not hold the folder."""
        if self._lock is not None:
            (self.path / "env").unlink(missing_ok=True)
            self._lock.close()  # closing the file releases the flock
            self._lock = None


def _try_lock(lock: IO[str], kind: int, attempts: int = 1) -> bool:
    """flock `kind` without waiting, `attempts` times 50 ms apart; whether it was taken."""
    for attempt in range(attempts):
        try:
            fcntl.flock(lock, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < attempts:
                time.sleep(0.05)
    return False


def _holder(path: Path) -> int | None:
    """The pid of the runtime holding the folder's lock (0: unknown); None when no runtime holds it."""
    try:
        with (path / "lock").open() as lock:
            if _try_lock(lock, fcntl.LOCK_SH):
                return None  # nobody holds it; closing lets it go again
            pid = lock.read().strip()
    except OSError:
        return None
    return int(pid) if pid.isdigit() else 0


def running_export_line(path: Path) -> str:
    """The export line of the runtime running with its state in `path` (`jobqueue env`); LocalServiceError when
    none runs there."""
    line = ""
    if _holder(path) is not None:
        with contextlib.suppress(OSError):
            line = (path / "env").read_text().strip()
    if not line:
        raise LocalServiceError(f"no jobqueue dev runs with its state in {path}: start one with `make run` "
                                "(JOBQUEUE_STATE_DIR names another folder)")
    return line
