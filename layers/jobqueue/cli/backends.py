"""Where the `jobqueue` command's operations run: in this process against Redis and AWS, or through the HTTP API.

Both answer with the HTTP API's response bodies (`jobqueue.api.models`), so `--json` output is the same
whichever backend produced it, and both turn failures into `CommandError` with the exit code scripts rely on.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import Any, Protocol, cast

__all__ = ["ApiBackend", "Backend", "CommandError", "DirectBackend", "ExitCode", "OnProgress", "api_token"]

OnProgress = Callable[[int, int], None]
Body = dict[str, Any]
REDRIVE_CHUNK = 100
"""Records per redrive request through the API: progress to show, and each call well inside API Gateway's 29 s."""
PAGE = 1000  # the API's largest page


class ExitCode(IntEnum):
    """The command's exit status, documented in `--help` and the README."""

    OK = 0
    FAILED = 1
    """The operation failed, or `health` found a dependency down."""
    USAGE = 2
    """Bad arguments (argparse's own code)."""
    NOT_FOUND = 3
    """No such queue, job or dead-letter record."""
    UNREACHABLE = 4
    """Redis, AWS or the API cannot be reached."""


class CommandError(Exception):
    """A failure to report on stderr, with the exit code that classifies it."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.code = code


class Backend(Protocol):
    """The operations of the CLI; every answer is the body the HTTP API gives for the same request."""

    def stats(self) -> Body: ...
    def queue(self, queue: str) -> Body: ...
    def add(self, queue: str, name: str, data: Any, opts: Body) -> Body: ...
    def add_bulk(self, queue: str, jobs: list[Body]) -> Body: ...
    def add_flow(self, flow: Body) -> Body: ...
    def job(self, queue: str, job_id: str) -> Body: ...
    def jobs(self, queue: str, state: str, start: int, end: int) -> Body: ...
    def remove(self, queue: str, job_id: str) -> Body: ...
    def retry_failed(self, queue: str, limit: int) -> Body: ...
    def promote(self, queue: str, job_id: str | None, limit: int) -> Body: ...
    def pause(self, queue: str) -> Body: ...
    def resume(self, queue: str) -> Body: ...
    def drain(self, queue: str, include_delayed: bool) -> Body: ...
    def clean(self, queue: str, grace: int, limit: int, state: str) -> Body: ...
    def dead_letters(self, queue: str, start: int, end: int) -> Body: ...
    def redrive(self, queue: str, record_ids: list[str] | None, on_progress: OnProgress) -> Body: ...
    def remove_dead_letter(self, queue: str, record_id: str) -> Body: ...
    def schedules(self) -> Body: ...
    def initialize_schedules(self, prune: bool) -> Body: ...
    def add_schedule(self, repeat: Body) -> Body: ...
    def remove_schedule(self, name: str) -> Body: ...
    def health(self) -> Body: ...


# -- in this process ---------------------------------------------------------------------------------------


@contextmanager
def engine_errors() -> Iterator[None]:
    """Engine, API, Redis and AWS exceptions as CommandError: not found (3), unreachable (4), else failed (1)."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ReadTimeoutError,
    )
    from pydantic import ValidationError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from jobqueue.api.errors import HTTPError
    from jobqueue.errors import JobNotFoundError, JobQueueError, ScheduleNotFoundError, UnknownQueueError

    try:
        yield
    except (UnknownQueueError, JobNotFoundError, ScheduleNotFoundError) as exc:
        raise CommandError(str(exc), ExitCode.NOT_FOUND) from exc
    except HTTPError as exc:
        raise status_error(exc.status, str(exc)) from exc
    except (RedisConnectionError, RedisTimeoutError) as exc:  # a Redis Cluster's outage too (ClusterClient)
        raise CommandError(f"cannot reach Redis: {exc}", ExitCode.UNREACHABLE) from exc
    except NoRegionError as exc:
        raise CommandError("cannot reach AWS: no region is set (AWS_REGION, or AWS_DEFAULT_REGION)",
                           ExitCode.UNREACHABLE) from exc
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, NoCredentialsError) as exc:
        raise CommandError(f"cannot reach AWS: {exc}", ExitCode.UNREACHABLE) from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "ResourceNotFoundException"):
            raise CommandError(f"not found in AWS: {exc}", ExitCode.NOT_FOUND) from exc
        raise CommandError(f"AWS refused: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise CommandError(f"invalid arguments: {problems}", ExitCode.USAGE) from exc
    except JobQueueError as exc:
        raise CommandError(str(exc)) from exc


class DirectBackend:
    """Runs each operation in this process, with REDIS_URL and the AWS settings of the environment.

    It calls the API's route functions themselves (plain functions over `Queue`, `QueueAdmin` and
    `jobqueue.schedules`), so it answers exactly what the API would; `redrive`, `retry_failed` and `add_bulk` go
    to the engine directly, with the same answer models: here they have all the time they need, where the routes
    stop at the Lambda invocation's deadline.
    """

    def _run(self, operation: Callable[..., Any], *args: Any) -> Body:
        with engine_errors():
            answer = operation(*args)
        return cast("Body", answer.model_dump(mode="json") if hasattr(answer, "model_dump") else answer)

    def stats(self) -> Body:
        from jobqueue.api.routes import queues

        return self._run(queues.stats)

    def queue(self, queue: str) -> Body:
        from jobqueue.api.routes import queues

        return self._run(queues.get_queue, queue)

    def add(self, queue: str, name: str, data: Any, opts: Body) -> Body:
        from jobqueue.api.services import services

        return self._run(lambda: {"jobId": services().queue(queue).add(name, data, **opts), "queue": queue})

    def add_bulk(self, queue: str, jobs: list[Body]) -> Body:
        from jobqueue.api.models import BulkJobRequest
        from jobqueue.api.routes.jobs import add_bulk

        return self._run(lambda: add_bulk(BulkJobRequest.model_validate({"queue": queue, "jobs": jobs})))

    def add_flow(self, flow: Body) -> Body:
        from jobqueue.api.routes.flows import flow_ids
        from jobqueue.api.services import services

        return self._run(lambda: flow_ids(services().flow_producer().add(flow)))

    def job(self, queue: str, job_id: str) -> Body:
        from jobqueue.api.routes import queues

        return self._run(queues.get_job, queue, job_id)

    def jobs(self, queue: str, state: str, start: int, end: int) -> Body:
        from jobqueue.api.routes import queues

        return self._run(queues.list_jobs, queue, state, start, end)

    def remove(self, queue: str, job_id: str) -> Body:
        from jobqueue.api.routes import queues

        return self._run(queues.remove_job, queue, job_id)

    def retry_failed(self, queue: str, limit: int) -> Body:
        """Straight to `QueueAdmin` like `redrive`: the route bounds its work by a Lambda invocation's time."""
        from jobqueue.api.models import RetryRequest, RetryResult
        from jobqueue.api.services import services

        return self._run(lambda: RetryResult(
            queue=queue, retried=services().admin(queue).retry_failed(RetryRequest(limit=limit).limit)))

    def promote(self, queue: str, job_id: str | None, limit: int) -> Body:
        """One job through its route; all delayed ones straight to `QueueAdmin`, as `retry_failed`."""
        from jobqueue.api.models import PromoteRequest, PromoteResult
        from jobqueue.api.routes import queues
        from jobqueue.api.services import services

        if job_id is not None:
            return self._run(queues.promote_job, queue, job_id)
        return self._run(lambda: PromoteResult(
            queue=queue, promoted=services().admin(queue).promote(limit=PromoteRequest(limit=limit).limit)))

    def pause(self, queue: str) -> Body:
        from jobqueue.api.routes import queues

        return self._run(queues.pause, queue)

    def resume(self, queue: str) -> Body:
        from jobqueue.api.routes import queues

        return self._run(queues.resume, queue)

    def drain(self, queue: str, include_delayed: bool) -> Body:
        from jobqueue.api.models import DrainRequest
        from jobqueue.api.routes import queues

        return self._run(lambda: queues.drain(queue, DrainRequest(includeDelayed=include_delayed)))

    def clean(self, queue: str, grace: int, limit: int, state: str) -> Body:
        from jobqueue.api.models import CleanRequest
        from jobqueue.api.routes import queues

        return self._run(lambda: queues.clean(queue, CleanRequest.model_validate(
            {"grace": grace, "limit": limit, "state": state})))

    def dead_letters(self, queue: str, start: int, end: int) -> Body:
        from jobqueue.api.routes import dead_letters

        return self._run(dead_letters.list_dead_letters, queue, start, end)

    def redrive(self, queue: str, record_ids: list[str] | None, on_progress: OnProgress) -> Body:
        from jobqueue.api.services import services

        return self._run(lambda: {"queue": queue, "remaining": 0,
                                  "redriven": services().admin(queue).redrive(record_ids, on_progress=on_progress)})

    def remove_dead_letter(self, queue: str, record_id: str) -> Body:
        from jobqueue.api.routes import dead_letters

        return self._run(dead_letters.remove_dead_letter, queue, record_id)

    def schedules(self) -> Body:
        from jobqueue.api.routes import schedules

        return self._run(schedules.list_all)

    def initialize_schedules(self, prune: bool) -> Body:
        from jobqueue.api.models import InitializeRequest
        from jobqueue.api.routes import schedules

        return self._run(lambda: schedules.initialize(InitializeRequest(prune=prune)))

    def add_schedule(self, repeat: Body) -> Body:
        from jobqueue.api.routes import schedules
        from jobqueue.repeat import Repeat

        return self._run(lambda: schedules.add(Repeat.model_validate(repeat)))

    def remove_schedule(self, name: str) -> Body:
        from jobqueue.api.routes import schedules

        return self._run(schedules.remove, name)

    def health(self) -> Body:
        from jobqueue.api.routes.ops import check_health
        from jobqueue.api.services import services

        return self._run(lambda: check_health(services()))


# -- through the HTTP API ----------------------------------------------------------------------------------


def _path(*parts: str) -> str:
    return "/" + "/".join(urllib.parse.quote(p, safe="") for p in parts)


class ApiBackend:
    """Calls the HTTP API at `base_url` with the bearer service token (stdlib `urllib`, no extra dependency)."""

    def __init__(self, base_url: str, token: str | None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: Body | None = None, query: dict[str, Any] | None = None,
             answers: tuple[int, ...] = ()) -> Body:
        """One request; a status in `answers` is returned like a 2xx, any other error raises CommandError."""
        url = self.base_url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return _json(response.read())
        except urllib.error.HTTPError as exc:
            answer = _json(exc.read())
            if exc.code in answers:
                return answer
            reason = answer.get("message") or answer.get("error") or ""
            raise status_error(exc.code, f"{method} {path}: {exc.code} {reason}".rstrip()) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CommandError(f"cannot reach the API at {self.base_url}: {reason}", ExitCode.UNREACHABLE) from exc

    def stats(self) -> Body:
        return self.call("GET", "/stats")

    def queue(self, queue: str) -> Body:
        return self.call("GET", _path("queues", queue))

    def add(self, queue: str, name: str, data: Any, opts: Body) -> Body:
        return self.call("POST", "/jobs", {"queue": queue, "name": name, "data": data, "opts": opts or None})

    def add_bulk(self, queue: str, jobs: list[Body]) -> Body:
        return self.call("POST", "/jobs", {"queue": queue, "jobs": jobs}, answers=(207,))

    def add_flow(self, flow: Body) -> Body:
        return self.call("POST", "/flows", flow)

    def job(self, queue: str, job_id: str) -> Body:
        return self.call("GET", _path("queues", queue, "jobs", job_id))

    def jobs(self, queue: str, state: str, start: int, end: int) -> Body:
        return self.call("GET", _path("queues", queue, "jobs"), query={"state": state, "start": start, "end": end})

    def remove(self, queue: str, job_id: str) -> Body:
        return self.call("DELETE", _path("queues", queue, "jobs", job_id))

    def retry_failed(self, queue: str, limit: int) -> Body:
        """Each request retries the oldest failed jobs until its time runs out: as many as it takes."""
        return self._continued(_path("queues", queue, "retry-failed"), "retried", limit)

    def promote(self, queue: str, job_id: str | None, limit: int) -> Body:
        """One job, or up to `limit` delayed jobs in as many requests as it takes."""
        if job_id is not None:
            return self.call("POST", _path("queues", queue, "jobs", job_id, "promote"))
        return self._continued(_path("queues", queue, "promote"), "promoted", limit)

    def _continued(self, path: str, key: str, limit: int) -> Body:
        """POST `path` with what is left of `limit` until the answers' `key` lists reach it or nothing remains."""
        done: list[str] = []
        while True:
            answer = self.call("POST", path, {"limit": limit - len(done)})
            done += answer[key]
            if not answer.get("remaining") or not answer[key] or len(done) >= limit:
                return {**answer, key: done}

    def pause(self, queue: str) -> Body:
        return self.call("POST", _path("queues", queue, "pause"))

    def resume(self, queue: str) -> Body:
        return self.call("POST", _path("queues", queue, "resume"))

    def drain(self, queue: str, include_delayed: bool) -> Body:
        return self.call("POST", _path("queues", queue, "drain"), {"includeDelayed": include_delayed})

    def clean(self, queue: str, grace: int, limit: int, state: str) -> Body:
        return self.call("POST", _path("queues", queue, "clean"), {"grace": grace, "limit": limit, "state": state})

    def dead_letters(self, queue: str, start: int, end: int) -> Body:
        return self.call("GET", _path("queues", queue, "dlq"), query={"start": start, "end": end})

    def redrive(self, queue: str, record_ids: list[str] | None, on_progress: OnProgress) -> Body:
        """In requests of REDRIVE_CHUNK records, reporting progress after each; `None` means every record."""
        ids = list(dict.fromkeys(self._all_record_ids(queue) if record_ids is None else record_ids))
        redriven: list[str] = []
        for start in range(0, len(ids), REDRIVE_CHUNK):
            chunk = ids[start:start + REDRIVE_CHUNK]
            while chunk:  # a request out of time redrove the chunk's first records: the rest go again
                answer = self.call("POST", _path("queues", queue, "dlq", "redrive"), {"recordIds": chunk})
                redriven += answer.get("redriven", [])
                left = int(answer.get("remaining", 0))
                if left == len(chunk):
                    raise CommandError(f"the API redrove none of {left} records before its time ran out")
                chunk = chunk[len(chunk) - left:] if left else []
            on_progress(min(start + REDRIVE_CHUNK, len(ids)), len(ids))
        return {"queue": queue, "redriven": redriven, "remaining": 0}

    def _all_record_ids(self, queue: str) -> list[str]:
        ids: list[str] = []
        while True:
            page = self.dead_letters(queue, len(ids), len(ids) + PAGE - 1)["records"]
            ids += [record["recordId"] for record in page]
            if len(page) < PAGE:
                return ids

    def remove_dead_letter(self, queue: str, record_id: str) -> Body:
        return self.call("DELETE", _path("queues", queue, "dlq", record_id))

    def schedules(self) -> Body:
        return self.call("GET", "/schedules")

    def initialize_schedules(self, prune: bool) -> Body:
        return self.call("POST", "/schedules/initialize", {"prune": prune})

    def add_schedule(self, repeat: Body) -> Body:
        return self.call("POST", "/schedules", repeat)

    def remove_schedule(self, name: str) -> Body:
        return self.call("DELETE", _path("schedules", name))

    def health(self) -> Body:
        return self.call("GET", "/health", answers=(503,))  # 503 carries the report of what is down


def _json(raw: bytes) -> Body:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {"message": raw.decode(errors="replace")[:200]}
    return value if isinstance(value, dict) else {"value": value}


def status_error(status: int, message: str) -> CommandError:
    """An HTTP status as the exit code that classifies it."""
    if status == 404:
        return CommandError(message, ExitCode.NOT_FOUND)
    if status in (502, 503, 504):
        return CommandError(message, ExitCode.UNREACHABLE)
    if status in (401, 403):
        return CommandError(f"{message} (give the service token with --token or JOBQUEUE_TOKEN)")
    return CommandError(message)


def api_token(explicit: str | None) -> str | None:
    """`--token`, else JOBQUEUE_TOKEN, else SERVICE_TOKEN (the variable the seeds' scripts used)."""
    return explicit or os.environ.get("JOBQUEUE_TOKEN") or os.environ.get("SERVICE_TOKEN") or None
