"""LocalStack's community runtime on this machine, without Docker: started on a spare loopback port, ready in ~1 s.

`make localstack` installs it (CPython 3.13, `localstack-core[runtime]`, pinned by
`tests/integration/localstack-constraints.txt`) into `.localstack/venv`; this module starts and stops it.
Each instance runs in host mode with its own file-system root in a temporary directory, so instances of
several people or test runs on one machine share no state and nothing under /var/lib/localstack.

    python -m tests.integration.localstack     # make localstack-up: prints the endpoint, Ctrl-C stops
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import NoReturn

from jobqueue.local.services import free_port

__all__ = ["DEFAULT_VENV", "LocalStack", "LocalStackError", "localstack_ready"]

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VENV = ROOT / ".localstack" / "venv"
# Nothing is persisted (PERSISTENCE=0), so a slow graceful shutdown is cut short.
_GRACE_S = 2


class LocalStackError(RuntimeError):
    """LocalStack is not installed, did not start, or does not answer."""


def localstack_ready(endpoint: str, timeout: float = 2) -> bool:
    """Whether LocalStack at `endpoint` has finished starting (its init stages report completion)."""
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/init/ready", timeout=timeout) as response:
            return bool(json.load(response).get("completed"))
    except (OSError, ValueError):  # refused, timed out, HTTP errors (URLError is an OSError), not JSON
        return False


class LocalStack:
    """One LocalStack process on a free loopback port, in a private file-system root removed by `stop()`.

    >>> stack = LocalStack()                # doctest: +SKIP
    >>> stack.start()                       # doctest: +SKIP
    'http://127.0.0.1:41234'
    >>> stack.stop()                        # doctest: +SKIP
    """

    def __init__(self, venv: Path = DEFAULT_VENV, port: int | None = None) -> None:
        self.python = venv / "bin" / "python"
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._root: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def _environment(self, root: Path) -> dict[str, str]:
        # The runtime's own settings only: AWS_* variables of the caller (an endpoint, keys) mean nothing to it.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALSTACK_", "PYTHON"))}
        return env | {
            "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
            "GATEWAY_SERVER": "hypercorn",
            "LOCALSTACK_HOST": f"127.0.0.1:{self.port}",  # queue URLs that resolve without public DNS
            "SQS_ENDPOINT_STRATEGY": "path",
            "DNS_ADDRESS": "0",
            "PERSISTENCE": "0",
            "OVERRIDE_IN_DOCKER": "0",  # host mode: the directories below, not /var/lib/localstack
            "FILESYSTEM_ROOT": str(root),
            "SKIP_SSL_CERT_DOWNLOAD": "1",
        }

    @property
    def log_path(self) -> Path | None:
        return self._root / "localstack.log" if self._root else None

    def log_tail(self, lines: int = 30) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def start(self, timeout: float = 90) -> str:
        """Start the runtime and wait until it is ready; returns its endpoint URL."""
        if not self.python.exists():
            raise LocalStackError(f"LocalStack is not installed at {self.python.parent.parent}: run `make localstack`")
        self._root = Path(tempfile.mkdtemp(prefix="jobqueue-localstack-"))
        log = (self._root / "localstack.log").open("wb")
        self._process = subprocess.Popen(
            [str(self.python), "-m", "localstack.runtime.main"], cwd=self._root, env=self._environment(self._root),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        process = self._process
        while not localstack_ready(self.endpoint):
            if process.poll() is not None:
                self._give_up(f"exited with code {process.returncode}")
            if time.monotonic() > deadline:
                self._give_up(f"not ready on {self.endpoint} within {timeout} s")
            time.sleep(0.2)
        return self.endpoint

    def _give_up(self, problem: str) -> NoReturn:
        tail = self.log_tail()
        self.stop()
        raise LocalStackError(f"LocalStack {problem}; its log ends:\n{tail}")

    def stop(self) -> None:
        """Stop the runtime (SIGTERM, then SIGKILL to its process group if it lingers); remove its file-system root."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # its own session: start_new_session=True
                process.wait()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


def main() -> int:
    stack = LocalStack()
    try:
        endpoint = stack.start()
    except LocalStackError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"LocalStack ready: AWS_ENDPOINT_URL={endpoint} (Ctrl-C stops it)", flush=True)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})  # after the start: not inherited
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
