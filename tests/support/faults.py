"""Faults injected at a seam: a call that fails before it reaches its service, one whose reply is lost after the
service did the work, and a process killed just before or just after the call."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from jobqueue.errors import EnqueueError
from tests.support.delivery import Killed

Kind = Literal["error", "lost-reply", "kill", "kill-after"]
KINDS: tuple[Kind, ...] = ("error", "lost-reply", "kill", "kill-after")


def redis_down() -> Exception:
    return RedisConnectionError("Connection reset by peer")


def sqs_down() -> Exception:
    error: Exception = ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "injected"}},
                                   "SendMessageBatch")
    return error


@dataclass
class Fault:
    """What happens at the seam, `times` calls after the first `skip`: `error` (nothing done), `lost-reply`
    (done, then an error), `kill` (the process dies before the call), `kill-after` (it dies once it is done)."""

    kind: Kind
    error: Any = redis_down
    times: int = 1
    skip: int = 0
    calls: int = 0

    def around(self, call: Any) -> Any:
        @functools.wraps(call)
        def faulty(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if not self.skip < self.calls <= self.skip + self.times:
                return call(*args, **kwargs)
            if self.kind == "kill":
                raise Killed
            if self.kind == "error":
                raise self.error()
            call(*args, **kwargs)
            raise Killed if self.kind == "kill-after" else self.error()
        return faulty


def inject(target: Any, method: str, fault: Fault) -> Fault:
    """Put `fault` at `target.method` (an instance attribute shadows the class's method)."""
    setattr(target, method, fault.around(getattr(target, method)))
    return fault


def attempt(call: Any) -> tuple[str, Any]:
    """What the caller saw: ("accepted", the answer), ("error", the exception: EnqueueError, or a RedisError an
    admin action lets through, a 503) or ("killed", None)."""
    try:
        return "accepted", call()
    except (EnqueueError, RedisError) as exc:
        return "error", exc
    except Killed:
        return "killed", None


class FaultySqs:
    """An SQS client whose SendMessageBatch suffers `fault`; every other call goes through."""

    def __init__(self, real: Any, fault: Fault) -> None:
        self.real = real
        self.send_message_batch = fault.around(real.send_message_batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class SlowSqs:
    """SQS that takes `seconds` for every SendMessageBatch."""

    def __init__(self, real: Any, seconds: float) -> None:
        self.real, self.seconds = real, seconds

    def send_message_batch(self, **kwargs: Any) -> Any:
        time.sleep(self.seconds)
        return self.real.send_message_batch(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def sequential(send: Any) -> Any:
    """The transport's send one batch at a time, so 'the second call' is the second batch."""
    def one_by_one(queue: str, entries: Any, *, deadline: float | None = None) -> Any:
        refused: dict[Any, str] = {}
        for start in range(0, len(entries), 10):
            refused.update(send(queue, entries[start:start + 10], deadline=deadline))
        return refused
    return one_by_one
