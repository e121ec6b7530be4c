"""Flow control's figures: a rate-limited run against its ideal, priority start positions, and the Redis cost per
job of the flow checks against the plain lifecycle, measured in the same run.

Run from the repository root: ``make bench-flow`` (``.venv/bin/python -m bench.flow --help`` for the flags). It
needs a Redis at REDIS_URL (default redis://127.0.0.1:6379/0); SQS is `bench.lifecycle.StubSqs`, an in-memory
FIFO (made thread-safe here), so that only Redis and the worker are measured. The last line is one JSON
object. A report, not a test: nothing here fails on a figure.

- **rate limit**: `--jobs` jobs on a queue limited to `--rate`/s, consumed by `--workers` threads, each its own
  `Worker` (one Lambda instance each) taking batches of 10; printed: the time from the first start to the last
  against the ideal `(jobs - rate) / rate` seconds, and the busiest second (never above the limit).
- **priority**: 200 priority-5 jobs, then 20 priority-1 jobs, in one queue (no lanes: only yielding orders
  them), two threads; printed: the positions at which the urgent jobs started.
- **cost**: the lifecycle (add, active, completed) of `--cost-jobs` jobs, one thread, three ways: plain; with
  a rate limit of 1000 per 10 ms, which one thread never reaches (the limiter's check and log); with priorities
  and the limit (the yield check too). Commands and Redis CPU per job, each as a ratio to plain, and the flow
  checks' commands per job. Leases and the concurrency slot are part of every row (they serve deduplication
  and are always on).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from redis import Redis

from bench.lifecycle import QUEUE, Meter, StubMessage, StubSqs, batches, delete_keys, job_specs, sqs_event
from jobqueue.catalog import build_catalog
from jobqueue.queue import Queue
from jobqueue.registry import Registry
from jobqueue.settings import Settings
from jobqueue.worker import Worker, logger

if TYPE_CHECKING:
    from jobqueue.job import Job

# Commands only the flow checks send (moveToActive's gates; leases and slots ride in ZADD/ZREM too).
FLOW_COMMANDS = ("time", "zremrangebyscore", "zcard", "zscore", "zrange", "lrange", "lpush", "ltrim", "pexpire")


class SharedStubSqs(StubSqs):
    """`StubSqs` for several worker threads: one lock around every call that touches the FIFOs."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            return super().send_message_batch(QueueUrl, Entries)

    def take_up_to(self, count: int) -> list[StubMessage]:
        with self.lock:
            fifo = self.queues[QUEUE]
            return [fifo.popleft() for _ in range(min(count, len(fifo)))]


class Run:
    """One queue's world: settings under a fresh prefix, the catalog, a producer and a start log."""

    def __init__(self, redis_url: str, client: Redis, config: dict[str, Any]) -> None:
        self.prefix = f"bench-flow-{uuid.uuid4().hex[:8]}"
        self.settings = Settings.model_validate({"prefix": self.prefix, "redis_url": redis_url})
        self.catalog = build_catalog({QUEUE: config}, {})
        self.client = client
        self.sqs = SharedStubSqs()
        self.started: list[tuple[str, float]] = []
        self.registry = Registry()
        self.registry.processor(QUEUE)(self._record)
        self.queue = Queue(QUEUE, catalog=self.catalog, settings=self.settings, redis=client, sqs=self.sqs)

    def _record(self, job: Job) -> None:
        self.started.append((job.id, time.monotonic()))

    def worker(self) -> Worker:
        return Worker(QUEUE, catalog=self.catalog, settings=self.settings, redis=self.client, sqs=self.sqs,
                      processors=self.registry)

    def consume(self, workers: int, until: int) -> None:
        """`workers` threads take batches of 10 until `until` jobs have started."""

        def loop() -> None:
            worker = self.worker()
            while len(self.started) < until:
                batch = self.sqs.take_up_to(10)
                if not batch:
                    time.sleep(0.01)
                    continue
                worker.handle(sqs_event(batch, self.sqs.arn(QUEUE), self.sqs.region), None)

        threads = [threading.Thread(target=loop) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def close(self) -> None:
        delete_keys(self.client, f"{self.prefix}:*")


def rate_limited(redis_url: str, client: Redis, jobs: int, rate: int, workers: int) -> dict[str, Any]:
    run = Run(redis_url, client, {"limiter": {"max": rate, "duration": 1000}, "concurrency": workers})
    try:
        ids = run.queue.add_bulk(job_specs(jobs))
        run.consume(workers, jobs)
        started = sorted(job.processedOn for job in map(run.queue.get_job, ids) if job and job.processedOn)
    finally:
        run.close()
    took = (started[-1] - started[0]) / 1000
    ideal = (jobs - rate) / rate
    busiest = max(sum(1 for t in started if s <= t < s + 1000) for s in started)
    print(f"rate limit {rate}/s, {jobs} jobs, {workers} workers: first to last start {took:.2f} s, ideal "
          f"{ideal:.2f} s ({took / ideal:.3f}x); busiest second {busiest} starts (limit {rate})")
    return {"jobs": jobs, "rate": rate, "workers": workers, "seconds": round(took, 3), "ideal_seconds": ideal,
            "vs_ideal": round(took / ideal, 3), "busiest_second": busiest}


def priority(redis_url: str, client: Redis) -> dict[str, Any]:
    run = Run(redis_url, client, {"concurrency": 2, "jobs": {"bulk": {"priority": 5}, "urgent": {"priority": 1}}})
    try:
        bulk = run.queue.add_bulk([{"name": "bulk"} for _ in range(200)])
        urgent = set(run.queue.add_bulk([{"name": "urgent"} for _ in range(20)]))
        run.consume(2, 220)
    finally:
        run.close()
    order = [job_id for job_id, _ in run.started]
    positions = sorted(order.index(job_id) + 1 for job_id in urgent)
    sixtieth = [i + 1 for i, job_id in enumerate(order) if job_id in set(bulk)][59]
    print(f"priority: 200 priority-5 then 20 priority-1 jobs, 2 workers: urgent jobs started at positions "
          f"{positions[0]}..{positions[-1]}; the 60th priority-5 job at {sixtieth}")
    return {"urgent_positions": positions, "sixtieth_bulk_position": sixtieth}


def cost(redis_url: str, client: Redis, meter: Meter, jobs: int, repeats: int) -> dict[str, Any]:
    configs: dict[str, dict[str, Any]] = {
        "plain": {},
        "limit": {"limiter": {"max": 1000, "duration": 10}},
        "limit+priority": {"limiter": {"max": 1000, "duration": 10}, "jobs": {"bench": {"priority": 5}}},
    }
    figures: dict[str, list[tuple[float, float, float]]] = {label: [] for label in configs}
    for _ in range(repeats):
        for label, config in configs.items():  # interleaved, so that a busy moment does not favour one
            run = Run(redis_url, client, config)
            try:
                meter.settle()
                before = meter.snapshot()
                started = time.perf_counter()
                for start in range(0, jobs, 1000):
                    run.queue.add_bulk(job_specs(min(1000, jobs - start), start))
                    for batch in batches(run.sqs.take_up_to(1000)):
                        run.worker().handle(sqs_event(batch, run.sqs.arn(QUEUE), run.sqs.region), None)
                measure = meter.difference(before, meter.snapshot(), jobs, time.perf_counter() - started)
            finally:
                run.close()
            flow = sum(c for name, (c, _) in measure.per_command.items() if name in FLOW_COMMANDS) / jobs
            figures[label].append((measure.commands_per_job, measure.cpu_per_job, flow))
    plain_commands = statistics.median(f[0] for f in figures["plain"])
    plain_cpu = statistics.median(f[1] for f in figures["plain"])
    result: dict[str, Any] = {}
    print(f"Redis cost per job lifecycle ({jobs} jobs, median of {repeats}; ratios against plain in this run):")
    for label, rows in figures.items():
        commands, cpu = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
        flow = statistics.median(r[2] for r in rows)
        print(f"  {label:<16}{commands:7.2f} commands ({commands / plain_commands:.3f}x)  {cpu:7.1f} us CPU "
              f"({cpu / plain_cpu:.3f}x)  flow-check commands {flow:.2f}/job")
        result[label] = {"commands_per_job": round(commands, 3), "cpu_us_per_job": round(cpu, 2),
                         "commands_ratio": round(commands / plain_commands, 3), "cpu_ratio": round(cpu / plain_cpu, 3),
                         "flow_commands_per_job": round(flow, 3)}
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=100, help="rate-limited jobs (default 100)")
    parser.add_argument("--rate", type=int, default=10, help="the limit, jobs per second (default 10)")
    parser.add_argument("--workers", type=int, default=4, help="worker threads of the rate-limited run")
    parser.add_argument("--cost-jobs", type=int, default=5000, help="jobs per cost measurement (default 5000)")
    parser.add_argument("--repeats", type=int, default=3, help="cost measurements per configuration")
    args = parser.parse_args(argv)
    logger.setLevel(logging.WARNING)  # one line per job would be the benchmark's main cost
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    client = Redis.from_url(redis_url, decode_responses=True)
    summary = {
        "rate_limit": rate_limited(redis_url, client, args.jobs, args.rate, args.workers),
        "priority": priority(redis_url, client),
        "cost": cost(redis_url, client, Meter.connect(redis_url, quiet_wait_s=10), args.cost_jobs, args.repeats),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
