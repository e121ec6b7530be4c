"""Every function in processes of its own, as Lambda runs it in execution environments.

A `FunctionPool` starts environments (`jobqueue.local.sandbox` processes) on demand, up to its size, keeps them
warm between invocations and cuts an invocation off at the function's timeout by killing its process. An
environment that dies (crashed, killed, timed out) is replaced by a fresh one; the invocation it held fails
like a Lambda timeout, so an SQS batch it held reappears after its visibility timeout.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing import Pipe
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools import Logger

from jobqueue.errors import JobQueueError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from multiprocessing.connection import Connection

    from jobqueue.deployment import FunctionSpec

__all__ = ["INIT_TIMEOUT_S", "FunctionPool", "InvokeError"]

logger = Logger(service="jobqueue-local")

INIT_TIMEOUT_S = 30
"""How long an environment may take to import its handler (Lambda allows 10 s; a busy laptop needs more)."""

Failure = Literal["error", "timeout", "crash", "init"]


class InvokeError(JobQueueError):
    """An invocation that returned no response: the handler raised (`error`), ran out of time (`timeout`), its
    process died (`crash`) or could not start (`init`). `payload` is Lambda's error object."""

    def __init__(self, kind: Failure, message: str, payload: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.payload = payload or {"errorType": f"Local.{kind.title()}", "errorMessage": message}


@dataclass
class _Environment:
    """One process and the supervisor's end of its socket."""

    process: subprocess.Popen[bytes]
    conn: Connection

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self.conn.close()
        if self.alive:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait()

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next message, None after `timeout` s; EOFError/OSError when the process is gone."""
        if not self.conn.poll(timeout):
            return None
        message: dict[str, Any] = json.loads(self.conn.recv_bytes())
        return message


class FunctionPool:
    """The execution environments of one function: at most `size` at once, each serving one invocation at a time.

    `env` is the whole environment of its processes (stage-wide settings plus the function's own).
    """

    def __init__(self, spec: FunctionSpec, env: Mapping[str, str], size: int = 1) -> None:
        if size < 1:
            raise ValueError(f"function {spec.name}: pool size must be at least 1, got {size}")
        self.spec = spec
        self.size = size
        self._env = {**env, **spec.environment, "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                     "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout)}
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[_Environment] = []
        self._all: list[_Environment] = []
        self._closed = False

    @property
    def pids(self) -> list[int]:
        """The process ids of the live environments."""
        with self._lock:
            return [e.process.pid for e in self._all if e.alive]

    def invoke(self, event: dict[str, Any]) -> Any:
        """Run the handler once in an idle (or new) environment and return its response; InvokeError if none."""
        self._slots.acquire()
        try:
            environment = self._take()
            try:
                response = self._call(environment, event)
            except InvokeError as exc:
                if exc.kind in ("timeout", "crash"):
                    self._replace(environment)
                else:
                    self._give_back(environment)
                raise
            self._give_back(environment)
            return response
        finally:
            self._slots.release()

    def close(self) -> None:
        """Stop every environment; an invocation still running fails as a crash."""
        with self._lock:
            self._closed = True
            environments, self._all, self._idle = list(self._all), [], []
        for environment in environments:
            environment.close()

    # -- environments ----------------------------------------------------------------------------------------

    def _take(self) -> _Environment:
        with self._lock:
            while self._idle:
                environment = self._idle.pop()
                if environment.alive:
                    return environment
                environment.close()
                self._forget(environment)
                logger.warning("function process died while idle; starting a new one",
                               extra={"function": self.spec.name, "exitCode": environment.process.returncode})
        return self._start()

    def _start(self) -> _Environment:
        if self._closed:
            raise InvokeError("init", f"function {self.spec.name} is shutting down")
        started = time.monotonic()
        ours, theirs = Pipe()
        command = [sys.executable, "-m", "jobqueue.local.sandbox", "--fd", str(theirs.fileno()),
                   "--name", self.spec.name, "--handler", self.spec.handler]
        process = subprocess.Popen(command, env=self._env, pass_fds=(theirs.fileno(),), start_new_session=True)
        theirs.close()
        environment = _Environment(process, ours)
        with self._lock:
            self._all.append(environment)
        try:
            ready = environment.receive(INIT_TIMEOUT_S)
        except (EOFError, OSError):
            ready = {"status": "init-error", "body": json.dumps({"errorMessage": "process exited during init"})}
        if ready is None or ready["status"] != "ready":
            self._discard(environment)
            payload = json.loads(ready["body"]) if ready else None
            message = (payload or {}).get("errorMessage") or f"init did not finish within {INIT_TIMEOUT_S} s"
            logger.error("function failed to start", extra={"function": self.spec.name, "error": message})
            raise InvokeError("init", f"function {self.spec.name}: {message}", payload)
        logger.info("function process started", extra={"function": self.spec.name, "pid": process.pid,
                                                        "initMs": round((time.monotonic() - started) * 1000)})
        return environment

    def _call(self, environment: _Environment, event: dict[str, Any]) -> Any:
        timeout = self.spec.timeout
        try:
            environment.conn.send_bytes(json.dumps({"event": event, "timeout": timeout}).encode())
            reply = environment.receive(timeout)
        except (EOFError, OSError):
            code = environment.process.wait()
            raise InvokeError("crash", f"function {self.spec.name}: process exited with {code} during the "
                                       "invocation") from None
        if reply is None:
            raise InvokeError("timeout", f"function {self.spec.name}: Task timed out after {timeout} seconds")
        body = json.loads(reply["body"])
        if reply["status"] != "ok":
            raise InvokeError("error", f"function {self.spec.name}: {body.get('errorType')}: "
                                       f"{body.get('errorMessage')}", body)
        return body

    def _give_back(self, environment: _Environment) -> None:
        with self._lock:
            if not self._closed and environment.alive:
                self._idle.append(environment)
                return
        self._discard(environment)

    def _replace(self, environment: _Environment) -> None:
        """A dead or timed-out environment goes; a fresh one is started in the background, kept warm."""
        self._discard(environment)
        if self._closed:
            return
        logger.warning("function process lost; restarting it", extra={
            "function": self.spec.name, "pid": environment.process.pid, "exitCode": environment.process.returncode})
        threading.Thread(target=self._warm, name=f"restart-{self.spec.name}", daemon=True).start()

    def _warm(self) -> None:
        try:
            environment = self._start()
        except InvokeError:
            return  # logged; the next invocation tries again
        self._give_back(environment)

    def _discard(self, environment: _Environment) -> None:
        environment.close()
        with self._lock:
            self._forget(environment)

    def _forget(self, environment: _Environment) -> None:
        if environment in self._all:
            self._all.remove(environment)

