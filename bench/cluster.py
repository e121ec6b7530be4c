"""Where one Redis shard stops and how far shards take jobqueue (issue 13, point 5): ``make bench-cluster``.

Run from the repository root: ``.venv/bin/python -m bench.cluster`` (``--help`` for the flags). It starts its own
Redis Cluster of three masters and a plain redis-server (`jobqueue.local.services`), runs `bench.lifecycle`'s
workload (the real producer and worker, SQS stubbed out, add then consume every job) and prints figures, the
last line one JSON object. A report, not a test: the exit status is 0 whatever the figures.

- **plain**: one queue on the plain Redis: Redis CPU (user + sys) per job, the reference.
- **one queue on a shard**: the same on the cluster, measured on the shard its hash tag `{queue}` maps to.
  A Redis shard runs commands on one core, so it stops at ``1e6 / CPU per job`` jobs per second: the most one
  queue can do whatever the number of shards (its keys, and so its scripts, stay on one slot).
- **queues in parallel**: ``--queues`` queues, named so their hash tags spread over the shards, each driven by
  its own process at once: the CPU each shard spent, the jobs per second all of them reached together, and the
  cluster's ceiling (every shard busy: the shards' ceilings added up). On a small machine the client processes,
  not Redis, limit the measured rate: the ceilings are what the Redis side allows.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from redis.cluster import RedisCluster

from bench.lifecycle import JobqueueBench, Measure, Meter, Scenario, delete_keys
from jobqueue.connection import redis_client
from jobqueue.keys import QueueKeys
from jobqueue.local.services import EmbeddedRedis, EmbeddedRedisCluster

if TYPE_CHECKING:
    from multiprocessing import Queue
    from multiprocessing.synchronize import Barrier

__all__ = ["main"]

WINDOW = 1000


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per queue and workload (20000)")
    parser.add_argument("--queues", type=int, default=6, help="queues driven at once, over 3 shards (6)")
    return parser.parse_args(argv)


def spread_queues(cluster: RedisCluster, count: int) -> list[tuple[str, str]]:
    """`count` queue names (with the node their keys live on) taken in turn from every shard, so the hash tags
    spread evenly, as a catalog of many queues does on average."""
    shards = len(cluster.get_primaries())  # type: ignore[no-untyped-call]
    each = -(-count // shards)
    by_node: dict[str, list[str]] = {}
    n = 0
    while len(by_node) < shards or min(len(names) for names in by_node.values()) < each:
        name = f"q{n}"
        node = cluster.get_node_from_key(QueueKeys("bench", name, cluster=True).wait)  # type: ignore[no-untyped-call]
        by_node.setdefault(node.name, []).append(name)
        n += 1
    picked = [(name, node) for turn in zip(*by_node.values(), strict=False)
              for name, node in zip(turn, by_node, strict=True)]
    return picked[:count]


@dataclass(frozen=True)
class Drive:
    """One queue's workload: `jobs` jobs of `queue` under `prefix` on the cluster at `url`, its shard at `node_url`."""

    url: str
    queue: str
    node_url: str
    jobs: int
    prefix: str


def _drive(drive: Drive, start: Barrier, rates: Queue[float]) -> None:
    """`drive` in a process of its own, started with the others (`start`); puts its jobs per second in `rates`."""
    logging.getLogger("jobqueue").setLevel(logging.WARNING)
    bench, meter = JobqueueBench(drive.url, drive.queue, cluster=True), Meter.connect(drive.node_url, quiet_wait_s=0)
    start.wait()
    scenario = Scenario(drive.queue, 0, drive.jobs, WINDOW, "sqs")
    rates.put(bench.run(scenario, drive.prefix, meter).jobs_per_s)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("jobqueue").setLevel(logging.WARNING)
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as directory:
        plain, cluster = EmbeddedRedis().start(), EmbeddedRedisCluster(Path(directory)).start()
        try:
            summary = measure_all(args, plain, cluster, run_id)
        finally:
            cluster.stop()
            plain.stop()
    print(json.dumps(summary, sort_keys=True))
    return 0


def measure_all(args: argparse.Namespace, plain: EmbeddedRedis, cluster: EmbeddedRedisCluster,
                run_id: str) -> dict[str, Any]:
    """Every workload, printed as it ends; the figures for the JSON line."""
    jobs = args.jobs
    scenario = Scenario("one queue", 0, jobs, WINDOW, "sqs")
    reference = JobqueueBench(plain.url).run(scenario, f"{run_id}-plain", Meter.connect(plain.url, 5.0))
    print(f"plain Redis, one queue: {_line(reference)}")

    client = cast("RedisCluster", redis_client(cluster.url, True))
    node_urls = {f"127.0.0.1:{node.port}": node.url for node in cluster.nodes}
    meters = {name: Meter.connect(url, 5.0) for name, url in node_urls.items()}
    [(queue, owner)] = spread_queues(client, 1)
    one = JobqueueBench(cluster.url, queue, cluster=True).run(scenario, f"{run_id}-one", meters[owner])
    ceiling = 1e6 / one.cpu_per_job
    print(f"Redis Cluster, one queue on its shard ({owner}): {_line(one)}")
    print(f"  one shard stops at ~{ceiling:,.0f} jobs/s per queue (one core at 100 %: 1e6 us / "
          f"{one.cpu_per_job:.1f} us per job); the cluster costs {one.cpu_per_job / reference.cpu_per_job:.2f}x "
          "the plain Redis's CPU per job")

    queues = spread_queues(client, args.queues)
    print(f"{len(queues)} queues at once, one process each: " + ", ".join(f"{q} on {n}" for q, n in queues))
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(len(queues) + 1), context.Queue()
    workers = [context.Process(target=_drive, args=(Drive(cluster.url, q, node_urls[n], jobs, f"{run_id}-par"), start,
                                                    results)) for q, n in queues]
    for worker in workers:
        worker.start()
    start.wait()  # every process imported and connected: measure from here
    before = {name: meter.snapshot() for name, meter in meters.items()}
    started = time.perf_counter()
    rates = [results.get(timeout=3600) for _ in workers]
    elapsed = time.perf_counter() - started
    after = {name: meter.snapshot() for name, meter in meters.items()}
    for worker in workers:
        worker.join()
    per_shard = {name: (after[name].cpu_us - before[name].cpu_us) / 1e6 / elapsed for name in meters}
    jobs_on = {name: jobs * sum(n == name for _, n in queues) for name in meters}
    loaded = [per_shard[name] * elapsed * 1e6 / jobs_on[name] for name in meters if jobs_on[name]]
    total = jobs * len(queues) / elapsed
    for name, cores in sorted(per_shard.items()):
        print(f"  shard {name}: {jobs_on[name] // jobs} queue(s), Redis busy {cores * 100:.0f} % of its core"
              + (f", {cores * elapsed * 1e6 / jobs_on[name]:.1f} us per job" if jobs_on[name] else ""))
    print(f"  together {total:,.0f} jobs/s measured (each queue {min(rates):,.0f} to {max(rates):,.0f} jobs/s, "
          f"client-bound on this machine); the cluster's ceiling ~{ceiling * len(loaded):,.0f} jobs/s "
          f"({len(loaded)} shards x {ceiling:,.0f})")
    delete_keys(Meter.connect(plain.url).client, f"{run_id}-*")  # the cluster goes with its directory
    return {
        "jobs_per_queue": jobs,
        "plain_cpu_us_per_job": round(reference.cpu_per_job, 2),
        "shard_cpu_us_per_job": round(one.cpu_per_job, 2),
        "shard_commands_per_job": round(one.commands_per_job, 2),
        "one_queue_jobs_per_s": round(one.jobs_per_s),
        "one_shard_ceiling_jobs_per_s": round(ceiling),
        "queues": len(queues),
        "shards": len(meters),
        "parallel_jobs_per_s": round(total),
        "shard_busy_fraction": {name: round(cores, 3) for name, cores in sorted(per_shard.items())},
        "shard_cpu_us_per_job_parallel": round(max(loaded), 2),
        "cluster_ceiling_jobs_per_s": round(ceiling * len(loaded)),
    }


def _line(m: Measure) -> str:
    return (f"{m.cpu_per_job:.1f} us Redis CPU/job ({m.sys_per_job:.1f} us kernel), {m.commands_per_job:.2f} "
            f"commands/job, {m.jobs_per_s:,.0f} jobs/s with one client")


if __name__ == "__main__":
    raise SystemExit(main())
