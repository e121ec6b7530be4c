"""`make bench-groups`: how long a quiet tenant's jobs wait, alone and behind another tenant's flood.

The engine runs against the embedded moto server (its SQS emulates fair queues, `jobqueue.local.moto_sqs`; or
AWS_ENDPOINT_URL) and the Redis at REDIS_URL (default redis://127.0.0.1:6379/0), under prefixes of its own that
it deletes at the end. `--workers` threads are the queue's worker instances (its concurrency), each a `Worker`
polling the queue 10 messages at a time as an event source mapping does. The queue allows `--group-concurrency`
running jobs per group; each job sleeps `--job-ms`.

Two runs in the same process, on fresh queues:
- **alone**: tenant B adds `--quiet` jobs; the wait of each (its start minus its add) until all have run;
- **flood**: tenant A adds `--flood` jobs, then tenant B its `--quiet` jobs right after; the same waits, and how
  many of A's jobs had run when B's last one started.
Printed: B's p50/p95 waits in both, their ratio (flood / alone), and A's progress. The last line is one JSON
object. A report, not a test: nothing here fails on a figure.

    $ .venv/bin/python -m bench.groups --flood 5000 --quiet 50
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from redis import Redis

from jobqueue.catalog import build_catalog
from jobqueue.connection import aws_client
from jobqueue.job import Job
from jobqueue.local.runner import failed_ids, settle, sqs_event
from jobqueue.local.topology import create_topology
from jobqueue.queue import Queue
from jobqueue.registry import Registry
from jobqueue.settings import Settings
from jobqueue.worker import Worker, logger

QUEUE = "bench-groups"


class Run:
    """One fresh queue (SQS and Redis prefixes of its own), its workers, and when each job started."""

    def __init__(self, args: argparse.Namespace, redis_url: str) -> None:
        tag = uuid.uuid4().hex[:8]
        self.settings = Settings.model_validate({"prefix": f"bench-groups-{tag}", "redis_url": redis_url,
                                                 "sqs_name_prefix": f"bg{tag}-"})
        self.catalog = build_catalog({QUEUE: {"concurrency": args.workers, "timeout": 60,
                                              "group_concurrency": args.group_concurrency}}, {})
        self.redis = Redis.from_url(redis_url, decode_responses=True)
        self.sqs = aws_client("sqs")
        self.urls = create_topology(self.sqs, self.catalog, self.settings.sqs_name_prefix)
        self.job_s = args.job_ms / 1000
        self.waits: dict[str, list[float]] = {}
        self.lock = threading.Lock()
        registry = Registry()
        registry.processor(QUEUE)(self._work)
        self.workers = [Worker(QUEUE, catalog=self.catalog, settings=self.settings, redis=self.redis, sqs=self.sqs,
                               processors=registry) for _ in range(args.workers)]
        self.producer = Queue(QUEUE, catalog=self.catalog, settings=self.settings, redis=self.redis, sqs=self.sqs)

    def _work(self, job: Job) -> None:
        wait = time.time() - job.timestamp / 1000
        with self.lock:
            self.waits.setdefault(job.opts.group_id, []).append(wait)
        time.sleep(self.job_s)

    def ran(self, group: str) -> int:
        with self.lock:
            return len(self.waits.get(group, []))

    def add(self, group: str, count: int) -> None:
        for start in range(0, count, 500):
            self.producer.add_bulk([{"name": "work", "opts": {"group": {"id": group}}}
                                    for _ in range(start, min(count, start + 500))])

    def run_until(self, group: str, count: int, timeout: float) -> None:
        """Poll from every worker until `count` jobs of `group` have started."""
        stop = threading.Event()
        url = self.urls[QUEUE]

        def poll(worker: Worker) -> None:
            while not stop.is_set():
                messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                                    MessageSystemAttributeNames=["All"]).get("Messages", [])
                if messages:
                    answer = worker.handle(sqs_event(messages, "arn:aws:sqs:us-east-1:000000000000:bench", "us-east-1"))
                    settle(self.sqs, url, messages, failed_ids(messages, answer))

        threads = [threading.Thread(target=poll, args=(w,), daemon=True) for w in self.workers]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout
        while self.ran(group) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        for thread in threads:
            thread.join(30)
        if self.ran(group) < count:
            raise SystemExit(f"only {self.ran(group)} of {count} jobs of {group} ran within {timeout} s")

    def close(self) -> None:
        for url in self.urls.values():
            self.sqs.delete_queue(QueueUrl=url)
        keys = list(self.redis.scan_iter(f"{self.settings.prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            self.redis.delete(*keys[start:start + 500])


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def scenario(args: argparse.Namespace, redis_url: str, flood: int) -> dict[str, Any]:
    run = Run(args, redis_url)
    try:
        if flood:
            run.add("tenant-a", flood)
        run.add("tenant-b", args.quiet)
        began = time.monotonic()
        run.run_until("tenant-b", args.quiet, args.timeout)
        waits = run.waits["tenant-b"]
        return {"b_p50_wait_s": round(p(waits, 50), 3), "b_p95_wait_s": round(p(waits, 95), 3),
                "b_done_s": round(time.monotonic() - began, 2), "a_ran_when_b_done": run.ran("tenant-a")}
    finally:
        run.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flood", type=int, default=5000, help="tenant A's jobs")
    parser.add_argument("--quiet", type=int, default=50, help="tenant B's jobs")
    parser.add_argument("--workers", type=int, default=4, help="worker instances (the queue's concurrency)")
    parser.add_argument("--group-concurrency", type=int, default=2, help="running jobs per group")
    parser.add_argument("--job-ms", type=int, default=20, help="how long each job runs")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a run may take")
    args = parser.parse_args(argv)
    logger.setLevel(logging.WARNING)  # a line per job would dominate the figure
    moto = None
    if not os.environ.get("AWS_ENDPOINT_URL"):
        from jobqueue.local.services import EmbeddedMoto

        moto = EmbeddedMoto().start()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        alone = scenario(args, redis_url, 0)
        print(f"tenant B alone: {args.quiet} jobs, p95 wait {alone['b_p95_wait_s']} s", flush=True)
        flooded = scenario(args, redis_url, args.flood)
        print(f"tenant B after tenant A's {args.flood}: p95 wait {flooded['b_p95_wait_s']} s; tenant A had run "
              f"{flooded['a_ran_when_b_done']} of {args.flood}", flush=True)
    finally:
        if moto is not None:
            moto.stop()
    print(json.dumps({
        "benchmark": "groups", "flood": args.flood, "quiet": args.quiet, "workers": args.workers,
        "group_concurrency": args.group_concurrency, "job_ms": args.job_ms, "alone": alone, "flood_run": flooded,
        "b_p95_ratio_flood_to_alone": round(flooded["b_p95_wait_s"] / max(alone["b_p95_wait_s"], 1e-3), 2),
        "a_share_waiting_when_b_done": round(1 - flooded["a_ran_when_b_done"] / args.flood, 3),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
