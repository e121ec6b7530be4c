"""The queue catalog: every queue, its default job options and worker settings, from one TOML source.

>>> catalog = load_catalog()
>>> catalog.queue("lead-processing").attempts
5
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from jobqueue.cron import CronPattern, TimeZoneName
from jobqueue.errors import CatalogError, UnknownJobTypeError, UnknownQueueError

__all__ = [
    "DEFAULT_KEEP_LOGS",
    "DEFAULT_REMOVE_ON_COMPLETE",
    "DEFAULT_REMOVE_ON_FAIL",
    "MAX_VISIBILITY_S",
    "RECEIVE_MARGIN",
    "WORK_RETENTION_S",
    "Backoff",
    "Catalog",
    "CronEntry",
    "DeadLetterConfig",
    "JobDefaults",
    "Lane",
    "Limiter",
    "QueueConfig",
    "Retention",
    "WebhookSource",
    "check_retry_plan",
    "load_catalog",
]

WORK_RETENTION_S = 4 * 24 * 3600
"""SQS message retention of the work queues: a job's whole retry plan must fit in it."""
MAX_VISIBILITY_S = 12 * 3600
"""SQS's longest visibility timeout: the longest wait before one retry."""
RECEIVE_MARGIN = 5
"""Receives SQS allows a message beyond the most attempts of its queue before redriving it to the DLQ.

jobqueue counts attempts in Redis and dead-letters exhausted jobs itself; `maxReceiveCount` is only a safety net
for deliveries that never reached a processor (an invocation that failed before it, repeatedly), so it sits
this far above the attempts, where it never catches a job that still has attempts to make.
"""
# Room left in the retention for deferrals and processing time, beyond the sum of a job's backoffs.
_RETENTION_SLACK_S = 3600

# SQS allows 80 characters of [A-Za-z0-9_-]; ':' would break BullMQ's key layout. Room is left for a
# stage prefix and the "-dlq" suffix.
QUEUE_NAME = r"^[A-Za-z0-9_-]{1,60}$"


class _Model(BaseModel):
    # Validators are built on first validation: a cold start that loads the prebuilt catalog builds none.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class Backoff(_Model):
    """How long to wait before retry n: `delay` ms (fixed) or `delay * 2**(n-1)` ms (exponential)."""

    type: Literal["fixed", "exponential"] = "exponential"
    delay: int = Field(1000, ge=0, le=MAX_VISIBILITY_S * 1000, strict=True)
    jitter: float = Field(0.0, ge=0.0, le=1.0, strict=True)

    def delay_for(self, attempts_made: int) -> int:
        """The longest wait (ms, before jitter) after `attempts_made` failed attempts."""
        return self.delay if self.type == "fixed" else self.delay * 2 ** (attempts_made - 1)


def check_retry_plan(attempts: int, backoff: Backoff | None) -> None:
    """Refuse a retry plan SQS cannot carry: a wait longer than a visibility timeout, or retries that outlive
    the message's retention. Raises ValueError naming the limit."""
    if backoff is None or attempts < 2:
        return
    longest = backoff.delay_for(attempts - 1)
    if longest > MAX_VISIBILITY_S * 1000:
        raise ValueError(f"backoff before attempt {attempts} would be {longest / 3_600_000:.1f} h; SQS allows at "
                         f"most {MAX_VISIBILITY_S // 3600} h between attempts")
    horizon = sum(backoff.delay_for(n) for n in range(1, attempts))
    if horizon > (WORK_RETENTION_S - _RETENTION_SLACK_S) * 1000:
        raise ValueError(f"{attempts} attempts with this backoff span {horizon / 3_600_000:.1f} h; the work "
                         f"queues keep a message {WORK_RETENTION_S // 3600} h, less {_RETENTION_SLACK_S // 3600} h "
                         "for deferrals")


class Retention(_Model):
    """BullMQ's removeOnComplete/removeOnFail: keep at most `count` finished jobs, none older than `age` s."""

    count: int | None = Field(None, ge=0, strict=True)
    age: int | None = Field(None, gt=0, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _from_bullmq_forms(cls, value: Any) -> Any:
        # BullMQ accepts `true` (remove at once), a count, or {count, age}.
        if value is True:
            return {"count": 0}
        if isinstance(value, int) and not isinstance(value, bool):
            return {"count": value}
        return value


# model_construct: these valid values need no validator, and building one at import would cost every cold start.
DEFAULT_REMOVE_ON_COMPLETE = Retention.model_construct(count=1000, age=24 * 3600)
"""Completed jobs a queue keeps when the catalog says nothing (BullMQ keeps all: under noeviction, an outage)."""
DEFAULT_REMOVE_ON_FAIL = Retention.model_construct(count=10_000, age=7 * 24 * 3600)
"""Failed jobs a queue keeps when the catalog says nothing; dead jobs also keep their dead-letter record."""
DEFAULT_KEEP_LOGS = 100
"""Log lines a job keeps when the catalog says nothing (BullMQ's `keepLogs`)."""


class Limiter(_Model):
    """At most `max` jobs start per `duration` ms across every worker of the queue."""

    max: int = Field(gt=0)
    duration: int = Field(gt=0)


class CronEntry(_Model):
    """A repeatable job: BullMQ's 5-field cron pattern in an IANA time zone, as EventBridge Scheduler can run it."""

    name: str = Field(min_length=1)
    pattern: CronPattern
    tz: TimeZoneName = "UTC"
    data: dict[str, Any] = Field(default_factory=dict)


class JobDefaults(_Model):
    """Defaults for one job name, overriding the queue's (seed 004's per-name priorities)."""

    priority: int | None = Field(None, ge=0, le=2_097_152)
    attempts: int | None = Field(None, ge=1, le=1000)
    backoff: Backoff | None = None


@dataclass(frozen=True)
class Lane:
    """One SQS queue of a work queue. SQS has no priorities, so a queue with `priority_lanes` has one SQS
    queue per band: a job goes to the first lane whose `max_priority` is at least its priority (1 is the
    highest), and every other job to the default lane (`max_priority` None), named like the queue itself.
    All lanes of a queue share its worker function, dead-letter queue, redrive policy and timeouts; each
    lane has its own event source with the queue's concurrency.
    """

    queue: str
    sqs_name: str
    max_priority: int | None = None


class QueueConfig(_Model):
    """One work queue. Field names follow BullMQ's options where one exists."""

    name: Annotated[str, Field(pattern=QUEUE_NAME)]
    attempts: int = Field(1, ge=1, le=1000)
    backoff: Backoff | None = None
    concurrency: int = Field(1, ge=1, le=1000)
    concurrency_env: str | None = None
    limiter: Limiter | None = None
    limiter_env: str | None = None
    remove_on_complete: Retention | None = DEFAULT_REMOVE_ON_COMPLETE
    remove_on_fail: Retention | None = DEFAULT_REMOVE_ON_FAIL
    keep_logs: int = Field(DEFAULT_KEEP_LOGS, ge=1, le=100_000, description="log lines a job keeps (keepLogs)")
    dead_letter: Annotated[str, Field(pattern=QUEUE_NAME)] = ""
    on_dead: str | None = Field(None, pattern=r"^[\w.]+:\w+$")
    jobs: dict[str, JobDefaults] = Field(default_factory=dict)
    cron: list[CronEntry] = Field(default_factory=list)
    job_types: list[str] = Field(default_factory=list)
    batch_size: int = Field(10, ge=1, le=10_000, description="records per invocation (over 10 needs a window)")
    batching_window: int = Field(0, ge=0, le=300, description="seconds the event source gathers a batch")
    timeout: int = Field(60, ge=1, le=900, description="worker function timeout, seconds")
    job_timeout: int | None = Field(
        None, ge=1, le=900,
        description="seconds a job may run (BullMQ Pro's ttl; a job's `ttl` option overrides); default half of "
                    "`timeout`. The worker starts no job that cannot finish in the invocation's remaining time.",
    )
    priority_lanes: list[Annotated[int, Field(ge=1, le=2_097_152)]] = Field(default_factory=list)
    sends_to: list[Annotated[str, Field(pattern=QUEUE_NAME)]] = Field(
        default_factory=list,
        description="other queues this queue's worker sends jobs to: jobs its processors add, and the flow parents "
                    "its jobs release (deployed, its function may send to those queues only)",
    )
    group_concurrency: int | None = Field(
        None, ge=1, le=10_000,
        description="jobs of one group (the `group` option's id) active at once, across every worker instance")
    group_rate_limit: Limiter | None = Field(
        None, description="at most `max` jobs of one group start per `duration` ms, across every worker instance")

    @field_validator("priority_lanes")
    @classmethod
    def _ascending_lanes(cls, value: list[int]) -> list[int]:
        if value != sorted(set(value)):
            raise ValueError(f"priority lanes must be distinct and ascending, got {value}")
        return value

    @field_validator("cron")
    @classmethod
    def _unique_cron_names(cls, value: list[CronEntry]) -> list[CronEntry]:
        # An entry's name identifies its Scheduler schedule and its jobs' ids.
        names = [entry.name for entry in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"cron entry names must be unique, repeated: {repeated}")
        return value

    @model_validator(mode="after")
    def _window_for_large_batches(self) -> QueueConfig:
        # Lambda refuses an SQS event source with more than 10 records per batch and no batching window.
        if self.batch_size > 10 and self.batching_window < 1:
            raise ValueError(f"batch_size {self.batch_size} needs batching_window of at least 1 second")
        return self

    @model_validator(mode="after")
    def _plans_fit(self) -> QueueConfig:
        if self.job_timeout is not None and self.job_timeout >= self.timeout:
            raise ValueError(f"job_timeout {self.job_timeout} s must be shorter than the worker's timeout "
                             f"{self.timeout} s (a job starts only when its whole ttl is left in the invocation)")
        check_retry_plan(self.attempts, self.backoff)
        for name, job in self.jobs.items():
            try:
                check_retry_plan(job.attempts or self.attempts, job.backoff or self.backoff)
            except ValueError as exc:
                raise ValueError(f"job {name!r}: {exc}") from None
        return self

    @model_validator(mode="before")
    @classmethod
    def _default_dead_letter(cls, value: Any) -> Any:
        if isinstance(value, dict) and not value.get("dead_letter") and "name" in value:
            return {**value, "dead_letter": f"{value['name']}-dlq"}
        return value

    @property
    def max_attempts(self) -> int:
        """The most attempts any job of this queue may get (a job asking for more is refused)."""
        return max([self.attempts, *(j.attempts for j in self.jobs.values() if j.attempts)])

    @property
    def max_receive_count(self) -> int:
        """The SQS redrive policy's maxReceiveCount: a safety net above the attempts (see RECEIVE_MARGIN)."""
        return self.max_attempts + RECEIVE_MARGIN

    @property
    def job_timeout_ms(self) -> int:
        """How long a job may run unless it says otherwise (its `ttl`)."""
        return self.job_timeout * 1000 if self.job_timeout else self.timeout * 500

    def lanes(self) -> list[Lane]:
        """The SQS queues that carry this queue's jobs, highest priority first, the default lane last."""
        return [*(Lane(self.name, f"{self.name}-p{p}", p) for p in self.priority_lanes), Lane(self.name, self.name)]

    def lane_for(self, priority: int) -> Lane:
        """The lane a job of this priority travels in (0, BullMQ's "no priority", takes the default lane)."""
        lanes = self.lanes()
        return next((lane for lane in lanes[:-1] if 1 <= priority <= (lane.max_priority or 0)), lanes[-1])

    def effective_concurrency(self, env: dict[str, str] | None = None) -> int:
        """Concurrency after the seed's environment override (e.g. EMAIL_WORKER_CONCURRENCY)."""
        override = self._env_override(self.concurrency_env, env)
        return self.concurrency if override is None else override

    def effective_limiter(self, env: dict[str, str] | None = None) -> Limiter | None:
        """The rate limit after the seed's environment override (e.g. ENRICH_RATE_PER_SECOND)."""
        override = self._env_override(self.limiter_env, env)
        if override is None or self.limiter is None:
            return self.limiter
        return self.limiter.model_copy(update={"max": override})

    def _env_override(self, variable: str | None, env: dict[str, str] | None) -> int | None:
        raw = (os.environ if env is None else env).get(variable) if variable else None
        if raw is None:
            return None
        if not raw.isdigit() or int(raw) < 1:
            raise CatalogError(f"queue {self.name!r}: {variable}={raw!r} is not a positive integer")
        return int(raw)


class DeadLetterConfig(_Model):
    """A dead-letter queue; several work queues may share one (seed 004's `dead`)."""

    name: Annotated[str, Field(pattern=QUEUE_NAME)]
    concurrency: int = Field(2, ge=1, le=1000)
    retention_days: int = Field(14, ge=1, le=14)


class WebhookSource(_Model):
    """An inbound webhook source: where `POST /webhooks/{source}` puts its events and how it trusts them.

    Replays: a delivery of an event id seen within `dedupe_window` is answered as the first one was, with no
    second job. After the window the id is forgotten, so a source whose body carries its send time (`timestamp`,
    covered by the signature) is also checked against `timestamp_tolerance`; the tolerance must be shorter than
    the window, so a signed body replayed once its id is forgotten is always older than the tolerance: refused.
    """

    name: str
    queue: str
    job_name: str = Field(min_length=1)
    event_id: str = Field("id", description="dotted path of the event id in the JSON body (dedupe key)")
    signature: Literal["hmac-sha256"] = "hmac-sha256"
    signature_header: str = "X-Signature"
    secret: str = Field(description="env var holding the secret locally; Secrets Manager id when deployed")
    dedupe_window: int = Field(24 * 3600, gt=0, description="seconds an event id is remembered")
    timestamp: str | None = Field(None, min_length=1, description="dotted path of the send time in the JSON body "
                                  "(ISO 8601, or Unix seconds or milliseconds); required in every event when set")
    timestamp_tolerance: int = Field(300, gt=0, description="seconds the send time may be from now, either way")
    group: str | None = Field(None, min_length=1, description="dotted path of the tenant id in the JSON body: "
                              "an event that has one becomes a job of that group (the `group` option)")

    @model_validator(mode="after")
    def _tolerance_within_window(self) -> WebhookSource:
        if self.timestamp is not None and self.timestamp_tolerance >= self.dedupe_window:
            raise ValueError(f"timestamp_tolerance ({self.timestamp_tolerance} s) must be shorter than "
                             f"dedupe_window ({self.dedupe_window} s), or a replay after the window is accepted")
        return self


class Catalog(_Model):
    """All queues, all dead-letter queues, webhook sources, and the processor modules that serve them."""

    queues: dict[str, QueueConfig]
    dead_letters: dict[str, DeadLetterConfig]
    webhooks: dict[str, WebhookSource] = Field(default_factory=dict)
    processors: list[str] = Field(default_factory=list)
    routers: list[str] = Field(default_factory=list, description='API routers beside the engine\'s: "module:router"')

    def queue(self, name: str) -> QueueConfig:
        try:
            return self.queues[name]
        except KeyError:
            raise UnknownQueueError(name, list(self.queues)) from None

    def queue_for_job_type(self, job_type: str) -> QueueConfig:
        """The queue that serves seed 002's `{jobType, data}` requests."""
        for queue in self.queues.values():
            if job_type in queue.job_types or job_type == queue.name:
                return queue
        raise UnknownJobTypeError(job_type, [t for q in self.queues.values() for t in q.job_types])

    def sources_of(self, dead_letter: str) -> list[QueueConfig]:
        """The work queues whose exhausted jobs go to `dead_letter`."""
        return [q for q in self.queues.values() if q.dead_letter == dead_letter]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Overlay a user's catalog on the packaged one: new queues are added, named fields replaced."""
    merged = {k: dict(v) for k, v in base.items()}
    for name, fields in extra.items():
        if not isinstance(fields, dict):
            raise CatalogError(f"queue {name!r}: expected a table of settings, got {fields!r}")
        merged[name] = {**merged.get(name, {}), **fields}
    return merged


def _read_toml(path: Path | str, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from exc


def _field_error(exc: ValidationError, kind: str, name: str) -> CatalogError:
    problems = "; ".join(
        f"field {'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
    )
    return CatalogError(f"{kind} {name!r}: {problems}")


def build_catalog(
    queues: dict[str, Any], dead_letters: dict[str, Any], processors: list[str] | None = None,
    webhooks: dict[str, Any] | None = None, routers: list[str] | None = None,
) -> Catalog:
    """Validate raw tables into a Catalog; errors name the queue and the field."""
    built: dict[str, QueueConfig] = {}
    for name, fields in queues.items():
        try:
            built[name] = QueueConfig.model_validate({**fields, "name": name})
        except ValidationError as exc:
            raise _field_error(exc, "queue", name) from exc
    dlqs: dict[str, DeadLetterConfig] = {}
    lane_names = {lane.sqs_name: q.name for q in built.values() for lane in q.lanes()[:-1]}
    for lane_name, owner in lane_names.items():
        if lane_name in built:
            raise CatalogError(f"queue {owner!r}: priority lane {lane_name!r} has the name of a work queue")
    for name in sorted({q.dead_letter for q in built.values()} | set(dead_letters)):
        if name in built or name in lane_names:
            raise CatalogError(f"dead-letter queue {name!r}: also the name of a work queue or priority lane")
        try:
            dlqs[name] = DeadLetterConfig.model_validate({**dead_letters.get(name, {}), "name": name})
        except ValidationError as exc:
            raise _field_error(exc, "dead-letter queue", name) from exc
    for queue in built.values():
        unknown = sorted(set(queue.sends_to) - set(built))
        if unknown:
            raise CatalogError(f"queue {queue.name!r}: field sends_to: unknown queue(s) {unknown}")
    sources: dict[str, WebhookSource] = {}
    for name, fields in (webhooks or {}).items():
        try:
            sources[name] = WebhookSource.model_validate({**fields, "name": name})
        except ValidationError as exc:
            raise _field_error(exc, "webhook source", name) from exc
        if sources[name].queue not in built:
            raise CatalogError(f"webhook source {name!r}: field queue: unknown queue {sources[name].queue!r}")
    return Catalog(queues=built, dead_letters=dlqs, webhooks=sources, processors=list(processors or []),
                   routers=list(routers or []))


def load_catalog(extra_path: str | None = None, processors: list[str] | None = None) -> Catalog:
    """The packaged catalog, extended by the TOML file at `extra_path` (JOBQUEUE_CATALOG) if given.

    A user's file has the packaged file's shape plus an optional top-level `processors = ["module"]`; its
    `routers` are added to the packaged ones.
    """
    packaged = _read_toml("catalog.toml", resources.files("jobqueue").joinpath("catalog.toml").read_text())
    queues, dead_letters = packaged.get("queues", {}), packaged.get("dead_letters", {})
    webhooks, routers = packaged.get("webhooks", {}), list(packaged.get("routers", []))
    modules = list(processors or [])
    if extra_path:
        path = Path(extra_path)
        if not path.is_file():
            raise CatalogError(f"JOBQUEUE_CATALOG: no file at {path}")
        extra = _read_toml(path, path.read_text())
        unknown = set(extra) - {"queues", "dead_letters", "webhooks", "processors", "routers"}
        if unknown:
            raise CatalogError(f"{path}: unknown top-level keys {sorted(unknown)}")
        for table in ("queues", "dead_letters", "webhooks"):
            if not isinstance(extra.get(table, {}), dict):
                raise CatalogError(f"{path}: [{table}] must be a table of queue settings")
        queues = _merge(queues, extra.get("queues", {}))
        dead_letters = _merge(dead_letters, extra.get("dead_letters", {}))
        webhooks = _merge(webhooks, extra.get("webhooks", {}))
        modules += [m for m in extra.get("processors", []) if m not in modules]
        routers += [r for r in extra.get("routers", []) if r not in routers]
    return build_catalog(queues, dead_letters, modules, webhooks, routers)


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The catalog this process runs with, from the settings in the environment."""
    from jobqueue.settings import get_settings

    settings = get_settings()
    if not settings.catalog_path:  # the packaged catalog, as validated at build time (jobqueue.prebuilt)
        from jobqueue.prebuilt import load_prebuilt

        prebuilt = load_prebuilt(settings.processors)
        if prebuilt is not None:
            return prebuilt
    return load_catalog(settings.catalog_path, settings.processors)
