"""Admin pages at a small and a large number of records: a page's Redis cost must not grow with the total.

For each size N (default 100 and 100,000) a fresh key prefix is filled through the engine's own scripts: N dead
jobs of `bench` recorded in a dead-letter queue they share with N dead jobs of `other` (so one queue's page
cannot be cheap by accident), which leaves N failed jobs in `bench`, and N waiting jobs. Then every admin read
runs `--reads` times: the dead-letter list's first and last page, the dead-letter count, the first page of
failed and waiting jobs, and the job counts. Measured like `bench.lifecycle`: Redis CPU and commands from
INFO, per read. `make bench` runs it after the lifecycle workloads and adds its figures to the JSON line;
alone, its last line is one JSON object:

    $ .venv/bin/python -m bench.admin_pages --sizes 100,100000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from redis import Redis

from bench.lifecycle import Meter, StubSqs, delete_keys, ratio
from jobqueue.admin import QueueAdmin
from jobqueue.catalog import Catalog, build_catalog
from jobqueue.deadletter import record_dead_jobs
from jobqueue.job import DeadLetter, JobMessage, JobOptions
from jobqueue.scripts import DeadRecord, Scripts
from jobqueue.settings import Settings

__all__ = ["PAGE_BUDGET", "main", "measure_pages"]

QUEUE, OTHER, DLQ = "bench", "other", "bench-dead"
PAGE = 100
PAGE_BUDGET = 1.2  # issue 13: a page at 100,000 records costs at most 1.2x the page at 100
FILL_CHUNK = 500


def _catalog() -> Catalog:
    return build_catalog({QUEUE: {"dead_letter": DLQ}, OTHER: {"dead_letter": DLQ}}, {})


def _record(queue: str, index: int, now: int) -> DeadRecord:
    message = JobMessage(queue=queue, id=f"{queue}{index}", name="job", data={"i": index}, opts=JobOptions(),
                         timestamp=now)
    letter = DeadLetter(originalJobId=message.id, queue=queue, name="job", data={"i": index}, error="boom",
                        attemptsMade=1, failedAt="2026-01-01T00:00:00Z")
    return DeadRecord(message, "boom", 1, letter.to_json())


def fill(admin: QueueAdmin, size: int) -> None:
    """`size` dead jobs of each queue in the shared dead-letter queue, and `size` waiting jobs of `bench`."""
    now = int(time.time() * 1000)
    for start in range(0, size, FILL_CHUNK):
        for queue in (QUEUE, OTHER):
            records = [_record(queue, i, now) for i in range(start, min(size, start + FILL_CHUNK))]
            record_dead_jobs(lambda name: Scripts(admin.redis, admin.settings.queue_keys(name)),
                             admin.dead_letter_scripts, records, now, keep_ms=10**12)
    for start in range(0, size, 10_000):
        admin.queue.add_bulk([{"name": "job", "data": {"i": i}} for i in range(start, min(size, start + 10_000))])


def reads(admin: QueueAdmin, size: int) -> dict[str, Callable[[], object]]:
    """Every admin read a dashboard or runbook pages with, by name."""
    last = max(0, size - PAGE)
    return {
        "dead_letters_first_page": lambda: admin.dead_letters(0, PAGE - 1),
        "dead_letters_last_page": lambda: admin.dead_letters(last, last + PAGE - 1),
        "dead_letter_count": admin.dead_letter_count,
        "failed_first_page": lambda: admin.get_jobs("failed", 0, PAGE - 1),
        "waiting_first_page": lambda: admin.get_jobs("waiting", 0, PAGE - 1),
        "job_counts": admin.queue.get_job_counts,
    }


def measure_pages(redis_url: str, meter: Meter, sizes: Sequence[int], repeats: int,
                  out: Callable[[str], None] = print) -> dict[str, Any]:
    """Per read and size: Redis CPU (us) and commands per read; and each read's growth, large over small."""
    catalog = _catalog()
    client = Redis.from_url(redis_url, decode_responses=True)
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for size in sizes:
        prefix = f"bench-pages-{uuid.uuid4().hex[:8]}"
        settings = Settings.model_validate({"prefix": prefix, "redis_url": redis_url})
        try:
            admin = QueueAdmin(QUEUE, catalog=catalog, settings=settings, redis=client, sqs=StubSqs())
            fill(admin, size)
            if admin.dead_letter_count() != size or len(admin.dead_letters(0, PAGE - 1)) != min(PAGE, size):
                raise RuntimeError(f"{size:,} records: the fill is not what the pages read")
            for name, read in reads(admin, size).items():
                meter.settle()
                before, started = meter.snapshot(), time.perf_counter()
                for _ in range(repeats):
                    read()
                m = meter.difference(before, meter.snapshot(), repeats, time.perf_counter() - started)
                figures.setdefault(name, {})[str(size)] = {"cpu_us": round(m.cpu_per_job, 1),
                                                           "commands": round(m.commands_per_job, 2)}
                out(f"  {name}, {size:,} records: {m.cpu_per_job:.1f} us, {m.commands_per_job:.2f} commands "
                    "per read")
        finally:
            delete_keys(client, f"{prefix}:*")
    small, large = str(min(sizes)), str(max(sizes))
    growth = {name: ratio(f[large]["cpu_us"], f[small]["cpu_us"]) for name, f in figures.items()}
    commands = {name: ratio(f[large]["commands"], f[small]["commands"]) for name, f in figures.items()}
    worst = max((g for g in growth.values() if g is not None), default=None)
    return {"admin_pages": figures, "admin_page_growth": growth, "admin_page_command_growth": commands,
            "admin_page_growth_worst": worst, "admin_page_budget_ok": None if worst is None else worst <= PAGE_BUDGET}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.admin_pages",
                                     description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--sizes", default="100,100000", help="record counts to compare (100,100000)")
    parser.add_argument("--reads", type=int, default=200, help="reads of each page per size (200)")
    parser.add_argument("--quiet-wait", type=float, default=60.0)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args(argv)
    try:
        sizes = sorted({int(size) for size in args.sizes.split(",")})
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, not {args.sizes!r}")
    if len(sizes) < 2 or sizes[0] < 1 or args.reads < 1:
        parser.error("--sizes needs two or more positive sizes, --reads a positive count")
    summary = measure_pages(args.redis_url, Meter.connect(args.redis_url, args.quiet_wait), sizes, args.reads)
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
