"""Redis cost of a job's lifecycle (add -> active -> completed): jobqueue against npm BullMQ.

Run from the repository root: ``.venv/bin/python -m bench.lifecycle`` (``--help`` for the flags). It needs
a Redis at REDIS_URL (default redis://127.0.0.1:6379/0), ``node`` and ``npm ci --prefix compat``.
The last line printed is one JSON object (see `summary_json`); the exit status is 0 whether or not the
budgets of DESIGN.md section 9 are met: this is a report, not a test.

What is measured, per job, around each workload and only on the Redis side:

- **commands**: the sum of ``calls`` over every command of ``INFO commandstats``. Redis counts the commands
  a Lua script runs as well as the EVALSHA that ran it, so a script call of 10 jobs doing 4 commands each
  counts 41. That is reported as is, for both systems.
- **CPU**: ``used_cpu_user + used_cpu_sys`` of ``INFO cpu`` (the Redis process, all threads), in
  microseconds. Redis prints them with microsecond resolution; on Linux their sum comes from the
  scheduler's runtime accounting (only the user/sys split is tick-sampled), so a workload of a second or
  more is measured far above the resolution. It includes Redis's idle work (serverCron at ``hz``; the
  idle rate is measured before starting and its share per job printed) and any other client's load:
  every measurement runs ``--repeats`` times, interleaved, and the median is reported, with the spread.
  The kernel's part (``used_cpu_sys``) is printed too: on a small VM, waking Redis up for a request can
  cost it more CPU than the request's work, and a single synchronous client (jobqueue's worker here, each
  Lambda in production) wakes it for every call. For jobqueue's headline, a no-op EVALSHA sent at the
  run's own pace is measured afterwards, and the figure is split into the commands' own work, the
  scripts' overhead, those round trips and the rest. The time spent inside scripts (INFO commandstats,
  no socket I/O) is printed for both systems as context; the budget is on the CPU figure.
- **memory**: ``used_memory`` after every job completed minus before; nothing is removed on completion, so
  this is what a retained completed job costs (both cap their events stream at ~10,000 entries).

Nothing is reset (no CONFIG RESETSTAT): every figure is a delta of counters. Each run uses its own key
prefix (``bench-<hex>-<n>``), whose keys are deleted with SCAN + UNLINK right after the run (and swept
again at exit); the next run waits for lazy freeing to finish. The Redis may be shared, so FLUSHDB and
FLUSHALL are never used. Other clients' commands and other processes of this machine (on a small VM
they share Redis's cores and caches) inflate the CPU figures: before each run the benchmark waits up to
``--quiet-wait`` seconds for the machine to be quiet, a run during which other processes were busy
anyway is discarded and run again (up to ``--retries`` times), and a warning is printed when other
clients or processes were busy in the end, or when the repeats disagree.

Workloads, each of ``--jobs`` jobs (default 20,000) named "bench" with data ``{"i": n}``:

- **bullmq**: ``node compat/bench_bullmq.mjs``: ``addBulk`` in chunks of 1,000, then one Worker with a
  no-op processor and concurrency 10 until all are completed. Measured around the subprocess; nothing is
  subtracted (node's start-up costs Redis nothing but idle time).
- **jobqueue**: the real producer and worker with SQS replaced by `StubSqs`, an in-memory FIFO, so only
  Redis is measured. ``Queue.add_bulk`` (it chunks 500 jobs per Redis call and 10 per SQS call by itself),
  then the stub's messages are delivered 10 per batch as real ``aws:sqs`` Lambda events to
  ``Worker.handle`` with a no-op processor. The headline figure does this with an empty queue and the same
  shape as BullMQ's workload: add every job, then consume them all in the order SQS delivers them.
- **jobqueue with a backlog**: the queue first holds B waiting jobs (1,000 and 100,000, added through the
  producer, not measured), in Redis and in the stub's FIFO alike. Then, in steady state, each step adds a
  window of ``--window`` jobs (default 1,000) and delivers as many, so the queue stays B deep and every
  measured lifecycle (add, active, completed) happens with B jobs waiting. Delivery order:

  - ``sqs``: the order the SQS emulator delivers: oldest first (moto's standard queues, which the local
    runtime uses, deliver FIFO; checked; the stub does the same), so the backlog drains as it is refilled;
  - ``newest10``: a tenth of each window's deliveries are the newest messages in the queue (newer jobs
    overtaking older ones, DESIGN.md section 4's costly case), the rest the oldest.

  Each of these runs for every job id shape (``--id-shapes``): ``numeric`` (generated ids), ``webhook``
  (``event_job_id`` of a webhook event), ``cron`` (``schedule_job_id`` of a schedule's tick) and ``user``
  (a caller's ``jobId``, ``order-<n>``). Only generated ids tell by themselves how old a job is.

  ``backlog_growth`` is CPU per job with the large backlog over CPU per job with the small one, for each
  shape and order; the JSON field is the worst of them. Budget: at most 1.2.

Budgets (DESIGN.md section 9, from the issue): jobqueue's Redis CPU per job at most 0.5x BullMQ's
(heading to 0.3x, with at most 8 Redis commands per job) and flat as the backlog grows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis import Redis

from jobqueue.api.intake import event_job_id
from jobqueue.catalog import Catalog, build_catalog
from jobqueue.connection import redis_client
from jobqueue.queue import Queue
from jobqueue.registry import Registry
from jobqueue.schedules import schedule_job_id
from jobqueue.settings import Settings
from jobqueue.worker import Worker

if TYPE_CHECKING:
    from jobqueue.job import Job

__all__ = ["Measure", "StubSqs", "main"]

QUEUE = "bench"
JOB_NAME = "bench"
SQS_BATCH = 10
ORDERS = ("sqs", "newest10")
# Job id shapes: the id of the n-th job, None for ids the producer generates.
ID_SHAPES: dict[str, Callable[[int], str] | None] = {
    "numeric": None,
    "webhook": lambda n: event_job_id("gohighlevel", f"evt-{n}"),
    "cron": lambda n: schedule_job_id("bench-tick", datetime.fromtimestamp(60 * n, UTC)),
    "user": lambda n: f"order-{n}",
}
REPO = Path(__file__).resolve().parent.parent
BULLMQ_SCRIPT = REPO / "compat" / "bench_bullmq.mjs"
BULLMQ_LABEL = "npm bullmq 6.7.0, empty queue (addBulk, Worker c=10)"
CPU_RATIO_BUDGET = 0.5
CPU_RATIO_TARGET = 0.3
COMMANDS_TARGET = 8
BACKLOG_BUDGET = 1.2
# Thresholds past which a figure is flagged as suspect rather than silently trusted.
BUSY_OPS_PER_SEC = 100  # other clients' commands per second before starting
BUSY_OTHER_CORES = 0.25  # other processes' CPU during a run, in cores
WIDE_SPREAD = 1.25  # max / min CPU per job over the repeats
SCRIPT_COMMANDS = ("evalsha", "eval", "evalsha_ro", "eval_ro", "fcall", "fcall_ro")

Out = Callable[[str], None]


# -- measuring Redis --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """The counters a measurement is a difference of."""

    calls: dict[str, tuple[int, int]]  # command -> (calls, usec)
    cpu_us: float
    sys_us: float  # the kernel's part of cpu_us (sockets, epoll, scheduling)
    used_memory: int
    machine_busy_s: float | None  # every CPU of this machine, from /proc/stat (None: not Linux)
    own_cpu_s: float  # this process and its finished children (the node workload)


@dataclass(frozen=True)
class Measure:
    """One workload's Redis cost (totals, not per job) and its times."""

    jobs: int
    commands: float
    cpu_us: float
    sys_us: float
    memory: float
    elapsed_s: float  # between the two snapshots
    workload_s: float  # the workload's own clock (node's, without its start-up), for jobs/s
    per_command: dict[str, tuple[float, float]] = field(default_factory=dict)  # command -> (calls, usec)
    other_cores: float | None = None  # CPU other processes of this machine used meanwhile, in cores
    round_trip_us: float | None = None  # Redis CPU of one no-op EVALSHA round trip at this run's pace

    def usec(self, names: Sequence[str], exclude: bool = False) -> float:
        """Commandstats time (inside commands) of `names`, or of every other command, per job."""
        return sum(u for n, (_, u) in self.per_command.items() if (n in names) != exclude) / self.jobs

    @property
    def round_trips_per_job(self) -> float:
        """Script calls per job: jobqueue sends each one alone, so each is a round trip (and a wakeup)."""
        return sum(c for n, (c, _) in self.per_command.items() if n in SCRIPT_COMMANDS) / self.jobs

    @property
    def cpu_per_job(self) -> float:
        return self.cpu_us / self.jobs

    @property
    def sys_per_job(self) -> float:
        return self.sys_us / self.jobs

    @property
    def commands_per_job(self) -> float:
        return self.commands / self.jobs

    @property
    def bytes_per_job(self) -> float:
        return self.memory / self.jobs

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.workload_s if self.workload_s > 0 else 0.0


def _info(client: Redis, section: str) -> dict[str, Any]:
    """`INFO <section>` as a dict (redis-py parses it); a helper so the typing is stated once."""
    return dict(client.info(section))


def machine_busy_s() -> float | None:
    """CPU time every process of this machine used so far (/proc/stat, 10 ms ticks).

    Redis's CPU figure is its own, but on a small VM other processes sharing the cores (and their caches)
    still slow Redis down: a run with busy neighbours is flagged rather than silently trusted.
    """
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    guest = sum(fields[8:10])  # already counted in user and nice
    return (sum(fields) - idle - guest) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU of this process and of its waited-for children (the node subprocess)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def wait_for_lazyfree(client: Redis, timeout_s: float = 60.0) -> None:
    """UNLINK frees big values in a background thread whose CPU counts as Redis's: let it finish first."""
    deadline = time.monotonic() + timeout_s
    while int(_info(client, "memory").get("lazyfree_pending_objects", 0)) > 0:
        if time.monotonic() > deadline:
            logging.getLogger(__name__).warning("lazy freeing still pending after %.0f s", timeout_s)
            return
        time.sleep(0.05)


def calibrate_round_trip(meter: Meter, client: Redis, think_s: float, calls: int = 300) -> float:
    """Redis CPU of one no-op EVALSHA sent alone after `think_s` of client work, in microseconds.

    On a small VM, waking Redis up for a request can cost it far more CPU than the request itself, and a
    single synchronous client (jobqueue's worker here; each Lambda in production) wakes it for every call.
    Measured at the jobqueue run's own pace, this says how much of its figure is that per-call cost.
    """
    noop = client.register_script("return 0")
    noop()
    before = meter.snapshot().cpu_us
    for _ in range(calls):
        until = time.perf_counter() + think_s
        while time.perf_counter() < until:
            pass
        noop()
    # Minus the two snapshots' own INFO calls, at their usual cost, is below the resolution that matters.
    return (meter.snapshot().cpu_us - before) / calls


def delete_keys(client: Redis, pattern: str) -> int:
    """SCAN + UNLINK in chunks of 500: the Redis may be shared, so only our keys, never FLUSHDB."""
    deleted = 0
    chunk: list[Any] = []
    for key in client.scan_iter(match=pattern, count=1000):
        chunk.append(key)
        if len(chunk) >= 500:
            deleted += int(client.unlink(*chunk))
            chunk.clear()
    if chunk:
        deleted += int(client.unlink(*chunk))
    return deleted


@dataclass(frozen=True)
class Meter:
    """Reads the counters. Knows whether Redis runs on this machine: its CPU is then part of /proc/stat's
    total and must be told apart from other processes'."""

    client: Redis
    local: bool
    quiet_wait_s: float = 60.0

    @classmethod
    def connect(cls, url: str, quiet_wait_s: float = 60.0) -> Meter:
        client = Redis.from_url(url, decode_responses=True)
        pid = _info(client, "server").get("process_id")
        try:
            local = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").startswith("redis")
        except OSError:
            local = False
        return cls(client, local, quiet_wait_s)

    def snapshot(self) -> Snapshot:
        """Commandstats first, CPU last, so our own INFO calls mostly fall outside the CPU window."""
        stats = _info(self.client, "commandstats")
        calls = {
            name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
            for name, v in stats.items() if name.startswith("cmdstat_")
        }
        memory = int(_info(self.client, "memory")["used_memory"])
        cpu = _info(self.client, "cpu")
        sys_us = float(cpu["used_cpu_sys"]) * 1e6
        return Snapshot(calls, float(cpu["used_cpu_user"]) * 1e6 + sys_us, sys_us, memory, machine_busy_s(),
                        own_cpu_s())

    def difference(self, before: Snapshot, after: Snapshot, jobs: int, elapsed_s: float) -> Measure:
        """The workload's cost: counters after minus before (commands new since `before` count in full)."""
        per_command: dict[str, tuple[float, float]] = {}
        for name, (calls, usec) in after.calls.items():
            calls0, usec0 = before.calls.get(name, (0, 0))
            if calls > calls0:
                per_command[name] = (float(calls - calls0), float(usec - usec0))
        cpu_us = after.cpu_us - before.cpu_us
        others: float | None = None
        if after.machine_busy_s is not None and before.machine_busy_s is not None and elapsed_s > 0:
            busy = after.machine_busy_s - before.machine_busy_s - (after.own_cpu_s - before.own_cpu_s)
            others = max(0.0, busy - (cpu_us / 1e6 if self.local else 0.0)) / elapsed_s
        return Measure(
            jobs=jobs, commands=sum(c for c, _ in per_command.values()), cpu_us=cpu_us,
            sys_us=after.sys_us - before.sys_us,
            memory=float(after.used_memory - before.used_memory), elapsed_s=elapsed_s, workload_s=elapsed_s,
            per_command=per_command, other_cores=others,
        )

    def others_cores(self, seconds: float = 0.5) -> float | None:
        """CPU cores other processes of this machine are using right now (None: cannot tell)."""
        busy0, own0, redis0 = machine_busy_s(), own_cpu_s(), self.snapshot().cpu_us
        time.sleep(seconds)
        busy1, own1, redis1 = machine_busy_s(), own_cpu_s(), self.snapshot().cpu_us
        if busy0 is None or busy1 is None:
            return None
        redis_s = (redis1 - redis0) / 1e6 if self.local else 0.0
        return max(0.0, busy1 - busy0 - (own1 - own0) - redis_s) / seconds

    def settle(self) -> None:
        """Start a run on a quiet machine: the previous run's frees done, busy neighbours gone if they go
        within `quiet_wait_s` (on a 2-core VM another process's load visibly inflates Redis's CPU time)."""
        wait_for_lazyfree(self.client)
        deadline = time.monotonic() + self.quiet_wait_s
        while time.monotonic() < deadline:
            others = self.others_cores()
            if others is None or others <= BUSY_OTHER_CORES:
                return
            time.sleep(1.0)


@dataclass(frozen=True)
class Environment:
    """The Redis before the benchmark: its version, how busy other clients keep it, its idle CPU."""

    version: str
    instantaneous_ops: int
    other_ops_per_s: float
    idle_cpu_us_per_s: float
    warnings: list[str]


def probe(meter: Meter, seconds: float = 1.0) -> Environment:
    """Measure other clients' load and Redis's idle CPU, so a reader can judge the figures."""
    first, cpu0 = _info(meter.client, "stats"), meter.snapshot().cpu_us
    time.sleep(seconds)
    second, cpu1 = _info(meter.client, "stats"), meter.snapshot().cpu_us
    # Minus our own calls in between: INFO stats, commandstats, memory, cpu.
    others = max(0.0, (int(second["total_commands_processed"]) - int(first["total_commands_processed"]) - 4)
                 / seconds)
    instantaneous = int(first.get("instantaneous_ops_per_sec", 0))
    warnings: list[str] = []
    if max(instantaneous, others) > BUSY_OPS_PER_SEC:
        warnings.append(
            f"other clients were running ~{max(instantaneous, others):.0f} commands/s on this Redis before "
            "starting; their load is counted in the CPU figures (medians of repeats limit, not remove, it)"
        )
    version = str(_info(meter.client, "server").get("redis_version", "?"))
    return Environment(version, instantaneous, others, (cpu1 - cpu0) / seconds, warnings)


# -- the SQS stub and Lambda events -----------------------------------------------------------------------


@dataclass(frozen=True)
class StubMessage:
    message_id: str
    body: str
    sent_ms: int


class StubSqs:
    """An in-memory FIFO standing in for SQS, so that only Redis work is measured.

    It implements the calls `Queue` and `Worker` make (GetQueueUrl, SendMessageBatch,
    ChangeMessageVisibilityBatch, DeleteMessageBatch) with boto3's argument and response shapes.
    """

    def __init__(self, region: str = "us-east-1", account: str = "000000000000") -> None:
        self.region = region
        self.account = account
        self.queues: dict[str, deque[StubMessage]] = {}
        self._sent = 0

    def arn(self, queue: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{queue}"

    # Argument names are boto3's.
    def get_queue_url(self, QueueName: str) -> dict[str, str]:
        self.queues.setdefault(QueueName, deque())
        return {"QueueUrl": f"https://sqs.{self.region}.amazonaws.com/{self.account}/{QueueName}"}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        queue = self.queues.setdefault(QueueUrl.rsplit("/", 1)[-1], deque())
        now = int(time.time() * 1000)
        successful = []
        for entry in Entries:
            self._sent += 1
            message = StubMessage(f"m-{self._sent}", entry["MessageBody"], now)
            queue.append(message)
            successful.append({"Id": entry["Id"], "MessageId": message.message_id,
                               "MD5OfMessageBody": hashlib.md5(message.body.encode()).hexdigest()})
        return {"Successful": successful, "Failed": []}

    def change_message_visibility_batch(self, QueueUrl: str,
                                        Entries: list[dict[str, Any]]) -> dict[str, Any]:
        """Accepted and ignored: a no-op processor never retries, so nothing must become visible again."""
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        """Delivered messages already left the FIFO (`take`), as the event source mapping deletes them."""
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def take(self, queue: str, count: int, order: str) -> list[StubMessage]:
        """`count` messages as delivered: the oldest ("sqs"), or the newest tenth first ("newest10")."""
        fifo = self.queues[queue]
        newest = count // 10 if order == "newest10" else 0
        taken = [fifo.pop() for _ in range(newest)]
        return taken + [fifo.popleft() for _ in range(count - newest)]


def sqs_event(messages: Sequence[StubMessage], queue_arn: str, region: str) -> dict[str, Any]:
    """A Lambda SQS event as the event source mapping builds it (Powertools' SQSRecord shape)."""
    now = str(int(time.time() * 1000))
    return {"Records": [
        {
            "messageId": m.message_id,
            "receiptHandle": f"rh-{m.message_id}",
            "body": m.body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": str(m.sent_ms),
                "SenderId": "AIDABENCHMARK",
                "ApproximateFirstReceiveTimestamp": now,
            },
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(m.body.encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        for m in messages
    ]}


def batches(items: list[StubMessage], size: int = SQS_BATCH) -> Iterator[list[StubMessage]]:
    """Consecutive slices: the event source mapping's batches."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


# -- workloads --------------------------------------------------------------------------------------------


def job_specs(count: int, first: int = 0, shape: str = "numeric") -> list[dict[str, Any]]:
    """The jobs both systems add: BullMQ's workload adds `{name: "bench", data: {i}}` with default opts;
    other id shapes add the same jobs with a `jobId` of that shape."""
    job_id = ID_SHAPES[shape]
    if job_id is None:
        return [{"name": JOB_NAME, "data": {"i": i}} for i in range(first, first + count)]
    return [{"name": JOB_NAME, "data": {"i": i}, "opts": {"jobId": job_id(i)}} for i in range(first, first + count)]


def _noop(job: Job) -> None:
    """The processor does nothing, so the lifecycle's Redis work is all there is."""


@dataclass(frozen=True)
class Scenario:
    """One jobqueue workload: `backlog` jobs left waiting, then `jobs` measured in windows of `window`."""

    label: str
    backlog: int
    jobs: int
    window: int
    order: str
    shape: str = "numeric"
    calibrate: bool = False  # also measure the cost of a bare round trip at this run's pace


class JobqueueBench:
    """jobqueue's real producer and worker against Redis (a Redis Cluster: `cluster`), with SQS stubbed out."""

    def __init__(self, redis_url: str, queue: str = QUEUE, *, cluster: bool = False) -> None:
        self.redis_url = redis_url
        self.queue = queue
        self.cluster = cluster
        # Every finished job kept, as BullMQ's workload keeps them (the catalog's default retention would trim).
        self.catalog: Catalog = build_catalog({queue: {"remove_on_complete": None, "remove_on_fail": None}}, {})
        self.registry = Registry()
        self.registry.processor(queue)(_noop)
        self.client = redis_client(redis_url, cluster)

    def run(self, scenario: Scenario, prefix: str, meter: Meter) -> Measure:
        """Prefill the backlog (unmeasured), then measure the measured jobs' whole lifecycle."""
        settings = Settings.model_validate({"prefix": prefix, "redis_url": self.redis_url,
                                            "redis_cluster": self.cluster})
        sqs = StubSqs()
        queue = Queue(self.queue, catalog=self.catalog, settings=settings, redis=self.client, sqs=sqs)
        worker = Worker(self.queue, catalog=self.catalog, settings=settings, redis=self.client, sqs=sqs,
                        processors=self.registry)
        for start in range(0, scenario.backlog, 10_000):
            queue.add_bulk(job_specs(min(10_000, scenario.backlog - start), start, scenario.shape))
        meter.settle()
        before = meter.snapshot()
        started = time.perf_counter()
        for start in range(0, scenario.jobs, scenario.window):
            size = min(scenario.window, scenario.jobs - start)
            queue.add_bulk(job_specs(size, scenario.backlog + start, scenario.shape))
            for batch in batches(sqs.take(self.queue, size, scenario.order)):
                response = worker.handle(sqs_event(batch, sqs.arn(self.queue), sqs.region), None)
                if response["batchItemFailures"]:
                    raise RuntimeError(f"jobqueue reported failed records: {response['batchItemFailures']}")
        elapsed = time.perf_counter() - started
        after = meter.snapshot()
        counts = queue.get_job_counts()
        if counts["completed"] != scenario.jobs or counts["waiting"] != scenario.backlog or counts["active"]:
            raise RuntimeError(f"jobqueue {scenario.label}: unexpected final counts {counts}")
        measure = meter.difference(before, after, scenario.jobs, elapsed)
        if not scenario.calibrate or not measure.round_trips_per_job:
            return measure
        trips = measure.round_trips_per_job * measure.jobs
        think = max(0.0, (elapsed - measure.cpu_us / 1e6) / trips)
        return replace(measure, round_trip_us=calibrate_round_trip(meter, self.client, think))


def run_bullmq(redis_url: str, prefix: str, jobs: int, meter: Meter) -> Measure:
    """npm BullMQ's workload in a node subprocess, measured around the whole process."""
    node = shutil.which("node")
    if node is None or not (REPO / "compat" / "node_modules" / "bullmq").is_dir():
        raise RuntimeError("npm bullmq is not available: install node and run `npm ci --prefix compat`")
    request = json.dumps({"redisUrl": redis_url, "prefix": prefix, "queue": QUEUE, "jobs": jobs,
                          "concurrency": 10})
    meter.settle()
    before = meter.snapshot()
    started = time.perf_counter()
    done = subprocess.run([node, str(BULLMQ_SCRIPT)], input=request, capture_output=True, text=True,
                          cwd=REPO, timeout=1800, check=False)
    elapsed = time.perf_counter() - started
    after = meter.snapshot()
    if done.returncode != 0:
        raise RuntimeError(f"bench_bullmq.mjs failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    completed = int(meter.client.zcard(f"{prefix}:{QUEUE}:completed"))
    if answer.get("jobs") != jobs or completed != jobs:
        raise RuntimeError(f"bullmq completed {answer.get('jobs')} jobs ({completed} in Redis), not {jobs}")
    return replace(meter.difference(before, after, jobs, elapsed),
                   workload_s=float(answer["elapsed_ms"]) / 1000)


# -- statistics and report --------------------------------------------------------------------------------


def median_measure(runs: Sequence[Measure]) -> Measure:
    """Per-figure medians; the per-command breakdown is that of the run whose CPU is the median."""
    by_cpu = sorted(runs, key=lambda m: m.cpu_us)
    others = [m.other_cores for m in runs if m.other_cores is not None]
    trips = [m.round_trip_us for m in runs if m.round_trip_us is not None]
    return Measure(
        jobs=runs[0].jobs,
        commands=statistics.median(m.commands for m in runs),
        cpu_us=statistics.median(m.cpu_us for m in runs),
        sys_us=statistics.median(m.sys_us for m in runs),
        memory=statistics.median(m.memory for m in runs),
        elapsed_s=statistics.median(m.elapsed_s for m in runs),
        workload_s=statistics.median(m.workload_s for m in runs),
        per_command=by_cpu[(len(by_cpu) - 1) // 2].per_command,
        other_cores=statistics.median(others) if others else None,
        round_trip_us=statistics.median(trips) if trips else None,
    )


@dataclass(frozen=True)
class Row:
    """A workload's line of the table: its median and the runs behind it."""

    label: str
    runs: list[Measure]

    @property
    def median(self) -> Measure:
        return median_measure(self.runs)

    @property
    def spread(self) -> tuple[float, float]:
        cpus = [m.cpu_per_job for m in self.runs]
        return min(cpus), max(cpus)


def print_table(rows: Sequence[Row], idle_us_per_s: float, out: Out) -> None:
    """One line per workload: Redis CPU (median, min..max, kernel and idle shares), commands, memory, speed."""
    out(f"{'workload':<52}{'cpu us/job':>11}{'min..max':>14}{'sys':>6}{'idle':>6}{'cmds/job':>9}{'B/job':>7}"
        f"{'jobs/s':>8}{'others':>7}")
    for row in rows:
        m, (low, high) = row.median, row.spread
        idle = idle_us_per_s * m.elapsed_s / m.jobs
        others = "?" if m.other_cores is None else f"{m.other_cores:.2f}"
        out(f"{row.label:<52}{m.cpu_per_job:>11.2f}{f'{low:.1f}..{high:.1f}':>14}{m.sys_per_job:>6.1f}"
            f"{idle:>6.1f}{m.commands_per_job:>9.2f}{m.bytes_per_job:>7.0f}{m.jobs_per_s:>8,.0f}{others:>7}")
    out("  sys: the kernel's part of cpu (socket reads and writes, epoll); idle: Redis's idle CPU over the run's")
    out("  time, per job (both included in cpu); others: CPU cores other processes of this machine used meanwhile")


def print_breakdown(title: str, m: Measure, out: Out, top: int = 14) -> None:
    """Where the Redis CPU goes, per job: INFO commandstats (time inside each command), then a split.

    A script's EVALSHA time includes the commands it runs, which are also listed under their own names. The
    split: the commands' own work; the scripts' overhead beyond it (Lua, argument and reply conversion, the
    per-call glue of redis.call); the cost of waking Redis for each round trip where it was calibrated; the
    rest (reading and writing the payloads, event loop, idle cron, other clients).
    """
    out(f"{title}: per job, from INFO commandstats (the median-CPU run)")
    out(f"  {'command':<22}{'calls/job':>10}{'usec/job':>10}{'usec/call':>11}")
    ranked = sorted(m.per_command.items(), key=lambda kv: kv[1][1], reverse=True)
    for name, (calls, usec) in ranked[:top]:
        out(f"  {name:<22}{calls / m.jobs:>10.3f}{usec / m.jobs:>10.2f}{usec / calls:>11.2f}")
    scripts, commands = m.usec(SCRIPT_COMMANDS), m.usec(SCRIPT_COMMANDS, exclude=True)
    parts = [f"commands' own work {commands:.1f}", f"script overhead {max(0.0, scripts - commands):.1f}"]
    rest = m.cpu_per_job - max(scripts, commands)
    if m.round_trip_us is not None:
        wakeups = m.round_trips_per_job * m.round_trip_us
        parts.append(f"round trips {wakeups:.1f} ({m.round_trips_per_job:.2f}/job x {m.round_trip_us:.0f} us, "
                     "a no-op EVALSHA at this pace)")
        rest -= wakeups
    parts.append(f"rest {rest:.1f}")
    out(f"  split of {m.cpu_per_job:.1f} us/job: " + "; ".join(parts))


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator > 0 else None


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("OK" if ok else "MISSED")


def run_warnings(rows: Sequence[Row]) -> list[str]:
    """Flag workloads whose figures other load may have inflated: busy neighbours, repeats that disagree."""
    warnings = []
    for row in rows:
        m, (low, high) = row.median, row.spread
        if m.other_cores is not None and m.other_cores > BUSY_OTHER_CORES:
            warnings.append(f"{row.label}: other processes used {m.other_cores:.2f} cores meanwhile")
        if len(row.runs) > 1 and low > 0 and high / low > WIDE_SPREAD:
            warnings.append(f"{row.label}: repeats disagree ({low:.1f}..{high:.1f} us/job)")
    return warnings


# -- command line -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Defaults are the issue's: 20,000 jobs, backlogs of 1,000 and 100,000, 3 repeats."""
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle",
                                     description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=None, help="measured jobs per workload (20000)")
    parser.add_argument("--window", type=int, default=1000,
                        help="backlog workloads: jobs added, then consumed, at a time (1000)")
    parser.add_argument("--small-backlog", type=int, default=1000, help="(1000)")
    parser.add_argument("--large-backlog", type=int, default=None, help="(100000)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per workload; medians count (3)")
    parser.add_argument("--quick", action="store_true",
                        help="2,000 jobs, backlogs of 1,000 and 10,000, one run: a smoke test, not the budget")
    parser.add_argument("--quiet-wait", type=float, default=60.0,
                        help="seconds to wait, before each run, for other processes to leave the CPUs (60)")
    parser.add_argument("--retries", type=int, default=2,
                        help="runs during which other processes were busy are discarded and run again (2)")
    parser.add_argument("--no-bullmq", action="store_true", help="skip npm BullMQ (no ratio)")
    parser.add_argument("--no-backlog", action="store_true", help="skip the backlog workloads")
    parser.add_argument("--no-admin-pages", action="store_true",
                        help="skip bench.admin_pages (admin reads at 100 and at --large-backlog records)")
    parser.add_argument("--id-shapes", default=",".join(ID_SHAPES),
                        help=f"backlog workloads: job id shapes to run, comma-separated ({','.join(ID_SHAPES)})")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (2_000 if args.quick else 20_000)
    args.large_backlog = args.large_backlog or (10_000 if args.quick else 100_000)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.id_shapes = [shape.strip() for shape in args.id_shapes.split(",") if shape.strip()]
    if unknown := sorted(set(args.id_shapes) - set(ID_SHAPES)):
        parser.error(f"unknown --id-shapes {unknown}; known: {', '.join(ID_SHAPES)}")
    if min(args.jobs, args.window, args.repeats, args.large_backlog) < 1 or min(args.small_backlog, args.retries) < 0:
        parser.error("sizes and --repeats must be positive")
    return args


def scenarios_of(args: argparse.Namespace) -> list[Scenario]:
    """The headline (empty queue, BullMQ's shape), then each backlog size in each delivery order."""
    scenarios = [Scenario("jobqueue, empty queue (add all, then consume)", 0, args.jobs, args.jobs, "sqs",
                          calibrate=True)]
    if not args.no_backlog:
        scenarios += [
            Scenario(f"jobqueue, {backlog:,} waiting, {shape} ids, windows of {args.window:,}, {order}", backlog,
                     args.jobs, args.window, order, shape)
            for shape in args.id_shapes for backlog in (args.small_backlog, args.large_backlog) for order in ORDERS
        ]
    return scenarios


def main(argv: Sequence[str] | None = None) -> int:
    """Run every workload `repeats` times, interleaved, then print the table, verdicts and JSON."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("jobqueue").setLevel(logging.WARNING)  # the worker logs every job at INFO
    out: Out = print
    meter = Meter.connect(args.redis_url, args.quiet_wait)
    env = probe(meter)
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    out(f"Redis {env.version} at {args.redis_url} ({'this machine' if meter.local else 'remote'}); other "
        f"clients ~{env.other_ops_per_s:.0f} commands/s (instantaneous_ops_per_sec {env.instantaneous_ops}); "
        f"idle Redis CPU {env.idle_cpu_us_per_s:.0f} us/s")
    for warning in env.warnings:
        out(f"WARNING: {warning}")
    out(f"{args.jobs:,} jobs per workload, {args.repeats} run(s) each, interleaved; key prefixes {run_id}-<n>")
    scenarios = scenarios_of(args)
    bench = JobqueueBench(args.redis_url)
    runs: dict[str, list[Measure]] = {s.label: [] for s in scenarios}
    if not args.no_bullmq:
        runs[BULLMQ_LABEL] = []
    started = time.monotonic()
    count = 0

    def measured(label: str, work: Callable[[str], Measure]) -> None:
        """One run under a fresh prefix whose keys are deleted whatever happens; run again (up to
        `--retries` times) while other processes were busy meanwhile, as their load inflates Redis's CPU."""
        nonlocal count
        for attempt in range(args.retries + 1):
            count += 1
            prefix = f"{run_id}-{count}"
            try:
                m = work(prefix)
            finally:
                delete_keys(meter.client, f"{prefix}:*")
            busy = m.other_cores is not None and m.other_cores > BUSY_OTHER_CORES
            note = f"; other processes used {m.other_cores:.2f} cores" if busy else ""
            out(f"  {label}: {m.cpu_per_job:.2f} us/job, {m.commands_per_job:.2f} commands/job, "
                f"{m.jobs_per_s:,.0f} jobs/s{note}  [{time.monotonic() - started:.0f} s]")
            if not busy or attempt == args.retries:
                runs[label].append(m)
                return
            out("    (discarded, running it again)")

    try:
        for _ in range(args.repeats):
            for index, scenario in enumerate(scenarios):
                measured(scenario.label, partial(bench.run, scenario, meter=meter))
                if index == 0 and not args.no_bullmq:
                    measured(BULLMQ_LABEL, partial(run_bullmq, args.redis_url, jobs=args.jobs, meter=meter))
    finally:
        delete_keys(meter.client, f"{run_id}-*")
        wait_for_lazyfree(meter.client)
    pages: dict[str, Any] = {}
    if not args.no_admin_pages:
        from bench.admin_pages import measure_pages  # it reuses this module's meter
        out(f"admin pages at 100 and at {args.large_backlog:,} records:")
        pages = measure_pages(args.redis_url, meter, [100, args.large_backlog], 20 if args.quick else 200, out)
    out(f"total time {time.monotonic() - started:.0f} s")
    report(out, args, scenarios, runs, env, pages=pages)
    return 0


def report(out: Out, args: argparse.Namespace, scenarios: list[Scenario], runs: dict[str, list[Measure]],
           env: Environment, *, pages: dict[str, Any]) -> None:
    """The readable table, the breakdowns, the verdicts and, last, the JSON line."""
    rows = {label: Row(label, measures) for label, measures in runs.items()}
    headline = rows[scenarios[0].label].median
    bullmq = rows[BULLMQ_LABEL].median if BULLMQ_LABEL in rows else None
    order = [scenarios[0].label, *([BULLMQ_LABEL] if bullmq else []), *(s.label for s in scenarios[1:])]
    out("")
    print_table([rows[label] for label in order], env.idle_cpu_us_per_s, out)
    out("")
    print_breakdown("jobqueue, empty queue", headline, out)
    if bullmq:
        out("")
        print_breakdown("npm bullmq", bullmq, out)
    backlog = backlog_figures(args, scenarios, rows)
    growth = {(shape, o): figures["growth"] for shape, orders in backlog.items() for o, figures in orders.items()}
    if backlog:
        worst_shape, worst_order = max(growth, key=lambda key: growth[key] or 0.0)
        label = next(s.label for s in scenarios if s.backlog == args.large_backlog and s.order == worst_order
                     and s.shape == worst_shape)
        out("")
        print_breakdown(label, rows[label].median, out)
    cpu_ratio = ratio(headline.cpu_per_job, bullmq.cpu_per_job) if bullmq else None
    worst = max((g for g in growth.values() if g is not None), default=None)
    verdicts = {
        "budget_cpu_ratio_ok": None if cpu_ratio is None else cpu_ratio <= CPU_RATIO_BUDGET,
        "budget_backlog_ok": None if worst is None else worst <= BACKLOG_BUDGET,
        "target_cpu_ratio_0_3_ok": None if cpu_ratio is None else cpu_ratio <= CPU_RATIO_TARGET,
        "target_commands_ok": headline.commands_per_job <= COMMANDS_TARGET,
    }
    out("")
    out(f"Redis CPU per job, jobqueue / bullmq: {cpu_ratio} (budget <= {CPU_RATIO_BUDGET}: "
        f"{verdict(verdicts['budget_cpu_ratio_ok'])}; target {CPU_RATIO_TARGET}: "
        f"{verdict(verdicts['target_cpu_ratio_0_3_ok'])})")
    if bullmq:
        jq_scripts, bq_scripts = headline.usec(SCRIPT_COMMANDS), bullmq.usec(SCRIPT_COMMANDS)
        out(f"Redis time inside scripts per job (no socket I/O, no wakeups): jobqueue {jq_scripts:.1f} us, "
            f"bullmq {bq_scripts:.1f} us, ratio {ratio(jq_scripts, bq_scripts)} (context, not the budget)")
    out(f"Redis commands per job, jobqueue: {headline.commands_per_job:.2f} (target <= {COMMANDS_TARGET}: "
        f"{verdict(verdicts['target_commands_ok'])})")
    by_order = ", ".join(f"{shape} ids {o} {g}" for (shape, o), g in growth.items()) or "not measured"
    out(f"backlog growth, CPU per job with {args.large_backlog:,} / with {args.small_backlog:,} waiting: "
        f"{by_order}; worst {worst} (budget <= {BACKLOG_BUDGET}: {verdict(verdicts['budget_backlog_ok'])})")
    warnings = env.warnings + run_warnings(list(rows.values()))
    for warning in warnings:
        out(f"WARNING: {warning}")
    summary = summary_json(args, env, headline=headline, bullmq=bullmq, cpu_ratio=cpu_ratio, worst=worst,
                           backlog=backlog, verdicts=verdicts, warnings=warnings)
    out(json.dumps({**summary, **pages}, separators=(",", ":")))


def backlog_figures(args: argparse.Namespace, scenarios: list[Scenario],
                    rows: dict[str, Row]) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per id shape and delivery order: CPU and commands per job at both backlog sizes, and the growth."""
    figures: dict[str, dict[str, dict[str, float | None]]] = {}
    for shape, order in ((shape, order) for shape in args.id_shapes for order in ORDERS):
        found = {s.backlog: rows[s.label].median for s in scenarios[1:] if s.order == order and s.shape == shape}
        if len(found) < 2:
            continue
        small, large = found[args.small_backlog], found[args.large_backlog]
        figures.setdefault(shape, {})[order] = {
            f"cpu_us_per_job_{args.small_backlog}": round(small.cpu_per_job, 3),
            f"cpu_us_per_job_{args.large_backlog}": round(large.cpu_per_job, 3),
            f"commands_per_job_{args.small_backlog}": round(small.commands_per_job, 3),
            f"commands_per_job_{args.large_backlog}": round(large.commands_per_job, 3),
            "growth": ratio(large.cpu_per_job, small.cpu_per_job),
        }
    return figures


def summary_json(args: argparse.Namespace, env: Environment, *, headline: Measure, bullmq: Measure | None,
                 cpu_ratio: float | None, worst: float | None,
                 backlog: dict[str, dict[str, dict[str, float | None]]],
                 verdicts: dict[str, bool | None], warnings: list[str]) -> dict[str, Any]:
    """The machine-readable result: the issue's fields first, then the details behind them."""
    def both(value: Callable[[Measure], float], digits: int) -> dict[str, float | None]:
        return {"jobqueue": round(value(headline), digits),
                "bullmq": round(value(bullmq), digits) if bullmq else None}

    return {
        "jobqueue_cpu_us_per_job": round(headline.cpu_per_job, 3),
        "bullmq_cpu_us_per_job": round(bullmq.cpu_per_job, 3) if bullmq else None,
        "redis_cpu_ratio": cpu_ratio,
        "commands_per_job": both(lambda m: m.commands_per_job, 3),
        "bytes_per_job": both(lambda m: m.bytes_per_job, 1),
        "script_us_per_job": both(lambda m: m.usec(SCRIPT_COMMANDS), 3),
        "script_time_ratio": ratio(headline.usec(SCRIPT_COMMANDS), bullmq.usec(SCRIPT_COMMANDS)) if bullmq else None,
        "jobqueue_round_trip_us": None if headline.round_trip_us is None else round(headline.round_trip_us, 1),
        "backlog_growth": worst,
        "backlog_growth_by_order": {o: f["growth"] for o, f in backlog.get("numeric", {}).items()},
        "backlog_growth_by_id_shape": {shape: {o: f["growth"] for o, f in orders.items()}
                                       for shape, orders in backlog.items()},
        **verdicts,
        "jobs_per_s": both(lambda m: m.jobs_per_s, 0),
        "backlog": backlog.get("numeric", {}),
        "backlog_by_id_shape": backlog,
        "jobs": args.jobs,
        "window": args.window,
        "backlogs": [args.small_backlog, args.large_backlog],
        "repeats": args.repeats,
        "redis_version": env.version,
        "idle_redis_cpu_us_per_s": round(env.idle_cpu_us_per_s),
        "warnings": warnings,
    }


if __name__ == "__main__":
    sys.exit(main())
