"""`jobqueue dev` (`make run`): the whole system on one machine, running the real Lambda handlers.

It creates the catalog's SQS topology and Scheduler schedules on the AWS endpoint, then runs exactly the
functions `jobqueue.deployment.function_specs` lists (what the CDK app deploys), each in processes of its own:

- the API function behind http://127.0.0.1:3000 (JOBQUEUE_API_PORT; 0 picks a free port);
- one SQS event source mapping per event source of a worker or dead-letter function, created through the
  runtime's own Lambda API (`lambda_api`, AWS_ENDPOINT_URL_LAMBDA) and consumed by a poller (`pollers`) that
  receives nothing while its mapping is disabled (pause and resume switch them through that API);
- a Scheduler ticker firing the group's schedules into the scheduler function (`ticker`);
- the seed systems (`workloads.local`): stand-ins for their third-party services, their DynamoDB tables, and
  the domain-event bus whose rule feeds the search queue; their processors unless JOBQUEUE_PROCESSORS is set.

Where things are:

| variable | default | meaning |
|---|---|---|
| AWS_ENDPOINT_URL | a moto server in this process (MOTO_PORT, else the state folder's port) | SQS, Scheduler |
| AWS_ENDPOINT_URL_LAMBDA | always set here: the runtime's Lambda API (the state folder's port) | mappings |
| REDIS_URL | a `redis-server` from PATH (the state folder's port and data), stopped on exit | job state |
| JOBQUEUE_STATE_DIR | `.jobqueue/` under the project (`state`); `LocalRuntime` without one keeps nothing | restarts |
| JOBQUEUE_LOCAL_MAX_CONCURRENCY | 2 | cap on each event source's MaximumConcurrency here (processes) |
| JOBQUEUE_SCHEDULE_GROUP, JOBQUEUE_SCHEDULE_PREFIX | default, none | which schedules are upserted and fired |
| JOBQUEUE_TABLE_PREFIX | jobqueue- | the seed systems' table names (prefix + base name) |
| JOBQUEUE_PROCESSORS | the seeds' and `examples.processors`, unless the catalog names some | processor modules |
| JOBQUEUE_PAYLOAD_BUCKET | jobqueue-payloads (created at start through the S3 API) | large job data (claim check) |

Each function's processes get this process's environment (the stage-wide settings) plus the function's own
from its FunctionSpec. SIGINT (Ctrl-C) and SIGTERM stop everything: pollers, ticker, API, every function
process, the embedded Redis and moto.

Restarts: Redis is the durable truth. The embedded Redis persists to the state folder (an append-only file synced
on every write); the embedded moto keeps nothing, so at every start into a fresh moto the runtime sends each job
Redis holds as waiting, prioritized, active or delayed again (`Queue.resend_pending`: SendMessageBatch through
the engine's transport, a delayed job delayed until its time in the delayed set), before any poller runs. The
same holds with a REDIS_URL of your own. A job is thus never in one store without the other: SQS only ever
holds copies of what Redis records. Against an AWS_ENDPOINT_URL of your own (LocalStack) nothing is resent: that
endpoint keeps its messages, or loses them, itself. The Lambda API (mappings) starts empty too: a queue paused in
Redis has its new mappings disabled through UpdateEventSourceMapping, as `jobqueue pause` does.
`main(["--fresh"])` (`make run-fresh`) wipes the state folder first.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import sys
import threading
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from redis.exceptions import RedisError

from jobqueue.admin import QueueAdmin
from jobqueue.catalog import default_catalog
from jobqueue.connection import aws_client
from jobqueue.deployment import function_specs
from jobqueue.errors import JobQueueError
from jobqueue.local.http import DEFAULT_PORT, ApiServer
from jobqueue.local.lambda_api import LambdaApi
from jobqueue.local.pollers import EventSourcePoller
from jobqueue.local.processes import FunctionPool, InvokeError
from jobqueue.local.services import EmbeddedMoto, EmbeddedRedis, bind_error
from jobqueue.local.shell import ENDPOINTS, export_line, forget_stale
from jobqueue.local.state import StateDir, state_dir
from jobqueue.local.ticker import SchedulerTicker
from jobqueue.local.topology import create_event_source_mappings, create_payload_bucket, create_topology
from jobqueue.queue import Queue
from jobqueue.schedules import initialize
from jobqueue.settings import get_settings
from jobqueue.sweeper import install_sweep_schedule
from workloads.local import SeedSystems  # local tooling only: the deployed engine never imports workloads

__all__ = ["DEFAULT_MAX_CONCURRENCY", "LocalRuntime", "main", "run"]

PR_SET_PDEATHSIG = 1
"""prctl(2)'s option: the signal this process gets when its parent dies."""

logger = Logger(service="jobqueue-local")

DEFAULT_MAX_CONCURRENCY = 2
"""Locally each event source runs at most this many invocations at once (Lambda's smallest MaximumConcurrency),
so 17 queues do not start hundreds of processes. JOBQUEUE_LOCAL_MAX_CONCURRENCY raises it."""
LOCAL_ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
LOCAL_SCHEDULER_ROLE = "arn:aws:iam::000000000000:role/jobqueue-local-scheduler"
LOCAL_PAYLOAD_BUCKET = "jobqueue-payloads"


def _positive(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise JobQueueError(f"{name}={raw!r} is not a positive whole number")
    return int(raw)


class LocalRuntime:
    """Everything `jobqueue dev` runs; `start()` brings it up, `stop()` takes it all down again.

    With `state` (a StateDir its caller acquired) the embedded Redis keeps its data there and the embedded
    services their ports; without, they keep nothing and take free ports (tests, benchmarks)."""

    def __init__(self, api_port: int | None = None, poll_wait_seconds: int = 5, state: StateDir | None = None
                 ) -> None:
        self.api_port = int(os.environ.get("JOBQUEUE_API_PORT", DEFAULT_PORT)) if api_port is None else api_port
        self.max_concurrency = _positive("JOBQUEUE_LOCAL_MAX_CONCURRENCY", DEFAULT_MAX_CONCURRENCY)
        self.poll_wait_seconds = poll_wait_seconds
        self.state = state
        self.resent: dict[str, int] = {}
        """Per queue, the jobs sent again at start (see the module's docstring)."""
        self.pools: dict[str, FunctionPool] = {}
        self.pollers: list[EventSourcePoller] = []
        self.api: ApiServer | None = None
        self.ticker: SchedulerTicker | None = None
        self.lambda_api: LambdaApi | None = None
        self._moto: EmbeddedMoto | None = None
        self._redis: EmbeddedRedis | None = None
        self._seeds: SeedSystems | None = None
        self._environ_before = dict(os.environ)

    def start(self) -> LocalRuntime:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        ports = self.state.ports() if self.state else {}
        if not os.environ.get("AWS_ENDPOINT_URL"):
            self._moto = EmbeddedMoto(int(os.environ.get("MOTO_PORT", ports.get("moto", 0)))).start()
        if not os.environ.get("REDIS_URL"):
            self._redis = EmbeddedRedis(port=ports.get("redis", 0),
                                        data_dir=self.state.redis_dir if self.state else None).start()
            os.environ["REDIS_URL"] = self._redis.url
        os.environ.setdefault("JOBQUEUE_SCHEDULER_TARGET_ARN", f"{LOCAL_ARN}scheduler")
        os.environ.setdefault("JOBQUEUE_SCHEDULER_ROLE_ARN", LOCAL_SCHEDULER_ROLE)
        os.environ.setdefault("JOBQUEUE_PAYLOAD_BUCKET", LOCAL_PAYLOAD_BUCKET)
        get_settings.cache_clear()
        default_catalog.cache_clear()
        aws_client.cache_clear()
        settings, catalog = get_settings(), default_catalog()
        sqs = aws_client("sqs")
        try:
            self.lambda_api = LambdaApi(sqs.meta.region_name, ports.get("lambda", 0)).start()
        except OSError as exc:
            where = f'"lambda" in {self.state.path / "ports.json"}' if self.state else "the port"
            raise bind_error(exc, ports.get("lambda", 0), where) from None
        os.environ["AWS_ENDPOINT_URL_LAMBDA"] = self.lambda_api.endpoint  # never the emulator's (see lambda_api)
        urls = create_topology(sqs, catalog, settings.sqs_name_prefix)
        create_payload_bucket(aws_client("s3"), settings.payload_bucket)
        if self._moto is not None:  # a fresh SQS: send it what Redis holds (see the module's docstring)
            self.resent = {name: Queue(name, catalog=catalog, settings=settings, sqs=sqs).resend_pending()
                           for name in catalog.queues}
        group = os.environ.get("JOBQUEUE_SCHEDULE_GROUP", "default")
        prefix = os.environ.get("JOBQUEUE_SCHEDULE_PREFIX", "")
        try:
            target, role = os.environ["JOBQUEUE_SCHEDULER_TARGET_ARN"], os.environ["JOBQUEUE_SCHEDULER_ROLE_ARN"]
            initialize(aws_client("scheduler"), catalog, target_arn=target, role_arn=role, group=group,
                       name_prefix=prefix)
            install_sweep_schedule(aws_client("scheduler"), target_arn=target, role_arn=role, group=group,
                                   name_prefix=prefix)
            scheduler_api = True
        except (BotoCoreError, ClientError) as exc:
            logger.error("the endpoint's Scheduler API refused the schedules; cron jobs will not fire here",
                         extra={"error": str(exc)})
            scheduler_api = False
        self._seeds = SeedSystems.start(catalog, sqs, urls, settings.sqs_name_prefix, ports)
        os.environ.update(self._seeds.environment)
        stage_env = dict(os.environ)
        specs = function_specs(catalog)
        mappings = {(spec.name, source): mapping_id for spec, source, mapping_id
                    in create_event_source_mappings(aws_client("lambda"), sqs, specs, urls)}
        for name in catalog.queues:  # a queue paused before the restart stays paused
            admin = QueueAdmin(name, catalog=catalog, settings=settings, sqs=sqs, lambda_client=aws_client("lambda"))
            if admin.is_paused():
                admin.mappings.disable()
        for spec in specs:
            limits = [min(source.max_concurrency, self.max_concurrency) for source in spec.event_sources]
            self.pools[spec.name] = pool = FunctionPool(spec, stage_env, size=max(1, sum(limits)))
            for source, limit in zip(spec.event_sources, limits, strict=True):
                self.pollers.append(EventSourcePoller(
                    sqs, urls[source.sqs_name], source, pool.invoke, function=spec.name, concurrency=limit,
                    mapping=self.lambda_api.store.consumer(mappings[spec.name, source]),
                    wait_seconds=self.poll_wait_seconds))
        self.api = ApiServer(port=self.api_port, runner=self.pools["api"]).start()  # a busy port fails here
        for poller in self.pollers:
            poller.start()
        if scheduler_api:
            self.ticker = SchedulerTicker(aws_client("scheduler"), self._invoke_target, group=group,
                                          prefix=prefix).start()
        logger.info("jobqueue is running", extra={
            "api": self.api.url, "aws_endpoint": os.environ["AWS_ENDPOINT_URL"], "lambda_api": self.lambda_api.endpoint,
            "redis": settings.redis_url.split("@")[-1], "functions": len(self.pools),
            "eventSources": len(self.pollers), "maxConcurrency": self.max_concurrency,
            "resent": sum(self.resent.values())})

    def shell_environment(self, *, reveal: bool = True) -> str:
        """An `export` line that points another shell's `jobqueue` (direct mode), `redis-cli` and `curl` at this
        runtime, ending with the marker a later `jobqueue dev` reads (`shell`); `reveal=False` hides passwords."""
        names = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "AWS_DEFAULT_REGION", "REDIS_URL", "JOBQUEUE_PREFIX",
                 "JOBQUEUE_SQS_PREFIX", "JOBQUEUE_PAYLOAD_BUCKET"]
        names += ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] if self._moto else []  # moto's dummy keys only
        names += sorted(n for n in (self._seeds.environment if self._seeds else {}) if n.endswith("_URL"))
        values = {name: os.environ[name] for name in names if os.environ.get(name)}
        own = [name for name, service in zip(ENDPOINTS, (self._moto, self._redis), strict=True) if service]
        return export_line(values, own, reveal=reveal)

    def _invoke_target(self, arn: str, event: dict[str, Any]) -> Any:
        """A Scheduler target: a function of this runtime, by its ARN's name."""
        name = arn.rsplit(":", 1)[-1]
        pool = self.pools.get(name)
        if not arn.startswith("arn:aws:lambda:") or pool is None:
            raise InvokeError("init", f"schedule target {arn!r} is not a function of this runtime "
                                      f"({sorted(self.pools)})")
        return pool.invoke(event)

    def stop(self) -> None:
        """Stop receiving and serving first, then the function processes, then the embedded services."""
        for poller in self.pollers:
            poller.stop()
        if self.ticker is not None:
            self.ticker.stop()
        if self.api is not None:
            self.api.stop()
        for poller in self.pollers:
            poller.stop(timeout=self.poll_wait_seconds + 5)
        if self.lambda_api is not None:
            self.lambda_api.stop()
        for pool in self.pools.values():
            pool.close()
        if self._seeds is not None:
            self._seeds.stop()
        if self._redis is not None:
            self._redis.stop()
        if self._moto is not None:
            self._moto.stop()
        os.environ.clear()  # the endpoints and defaults set here pointed at what just stopped
        os.environ.update(self._environ_before)
        get_settings.cache_clear()
        default_catalog.cache_clear()
        aws_client.cache_clear()


def run(stop: threading.Event, api_port: int | None = None, started: list[ApiServer] | None = None) -> None:
    """Run everything until `stop` is set; the running API server is appended to `started`."""
    runtime = LocalRuntime(api_port).start()
    try:
        if started is not None and runtime.api is not None:
            started.append(runtime.api)
        stop.wait()
    finally:
        runtime.stop()


def _stop_with_parent() -> None:
    """Ask Linux for SIGTERM when the process that started this one dies: `make run` signalled alone (not its
    whole process group, as Ctrl-C does) then stops the runtime too instead of leaving it running orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    """Run until SIGINT or SIGTERM (or the parent process dies) with the state folder's data and ports (`--fresh`:
    wiped first); exit 0 after a clean stop, 1 with one line on stderr when the runtime cannot start."""
    parser = argparse.ArgumentParser(prog="jobqueue dev", description="Run the whole system on this machine.")
    parser.add_argument("--fresh", action="store_true", help="wipe the state folder first: start with no jobs")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    _stop_with_parent()
    state = StateDir(state_dir())
    try:
        forgotten = forget_stale(os.environ)
        state.acquire()
        if args.fresh:
            state.wipe()
        if forgotten:
            sys.stderr.write(f"jobqueue dev: {', '.join(forgotten)} came from the export line of a stopped jobqueue "
                             f"dev: starting its own again\n")
        runtime = LocalRuntime(state=state).start()
    except (JobQueueError, OSError, BotoCoreError, ClientError, RedisError) as exc:
        state.release()
        sys.stderr.write(f"jobqueue dev: {exc}\n")
        return 1
    state.publish(runtime.shell_environment())
    sys.stderr.write(f"jobqueue dev: running with its state in {state.path}; Ctrl-C stops it, `make run-fresh` "
                     f"starts empty. For the CLI in another shell (`jobqueue env` prints it again):\n"
                     f"{runtime.shell_environment(reveal=False)}\n")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        logger.info("stopping")
        runtime.stop()
        state.release()
    logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
