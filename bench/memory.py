"""Redis memory under the catalog's defaults: a simulated month of schedules plus many jobs (issue 15, point 4).

Run from the repository root: ``make bench-memory`` (``.venv/bin/python -m bench.memory``; ``--help`` for the
flags). It needs a Redis at REDIS_URL (default redis://127.0.0.1:6379/0), no SQS: it drives the engine's own
scripts (`jobqueue.scripts.Scripts`, the Lua the producer and the worker run) with a simulated clock, so a month
passes in minutes. Defaults: 300,000 jobs over 30 days, about 6 minutes on a busy 2-core VM; ``--jobs 1000000``
is the issue's million (about 20 minutes there; the figures level off the same way).

What runs, minute by minute of simulated time (a thread per cron queue and ``--lanes`` threads for the jobs, each
owning its queues, meeting at every report):

- every tick of every cron entry of the catalog (`catalog.toml`: scheduled-messages every minute, health-check
  every 5 minutes), each adding its job under the tick's id, as `jobqueue.schedules.fire` does;
- a run-time schedule with a limit (every 5 minutes, `--tick-limit` runs): its ticks are numbered in Redis;
- ``--jobs`` jobs spread evenly over the month, in batches of 10 (an SQS batch) over the catalog's queues without
  cron entries, with each queue's default options (so its default retention). Each batch is added, claimed
  (moveToActive) and run as the worker runs it: one moveToFinished per job, committing the previous outcome and
  starting the next. One job in 100 fails for good and its dead letter is recorded; one in 50 fails once and is
  retried after its backoff; one batch in 1,000 has a job whose invocation dies (it stalls on its last attempt,
  leaving its lease); one job in 10,000 writes 150 log lines.

Every ``--every`` simulated days it prints Redis's ``used_memory`` (the whole server's: the Redis may be shared),
the bytes of the run's own keys (``MEMORY USAGE``, job hashes and logs sampled) and the largest key families.
The last line is one JSON object: the figures at the end of the first retention window (the longest time any
key family keeps an entry: failed-job age plus the tombstones' 5 days, or a dead-letter queue's retention) and
at the end, and their ratio (``growth``); ``flat`` is true when the run's own bytes grew by at most 10 % after
that window. The keys live under their own prefix (``benchmem-<hex>``) and are deleted at the end, also on
failure; FLUSHDB is never used.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from redis import Redis

from bench.lifecycle import delete_keys
from jobqueue.catalog import Catalog, QueueConfig, load_catalog
from jobqueue.cron import next_times, parse_cron, time_zone
from jobqueue.deadletter import record_dead_jobs
from jobqueue.job import DeadLetter, JobMessage, JobOptions, resolve_options
from jobqueue.keys import REMOVED_TTL_MS, QueueKeys
from jobqueue.schedules import schedule_job_id
from jobqueue.scripts import ClaimCode, DeadRecord, Delivery, Finish, Gates, NewJob, Scripts, Step

DAY_MS = 86_400_000
MINUTE_MS = 60_000
BATCH = 10  # an SQS batch
FAIL_EVERY, RETRY_EVERY, STALL_EVERY_BATCHES, LOG_EVERY, LOG_LINES = 100, 50, 1000, 10_000, 150
SAMPLES = 200  # job hashes (and logs) measured per family and report; the rest are scaled from them
FLAT = 1.10
# Key suffixes of a queue (BullMQ's and jobqueue's); anything else under a queue is a job hash or its logs.
FAMILIES = ("id", "meta", "events", "wait", "active", "delayed", "prioritized", "pc", "completed", "failed",
            "paused", "limiter", "leases", "slots", "unsent", "removed", "metrics:completed", "metrics:failed",
            "metrics:completed:data", "metrics:failed:data")


@dataclass
class Family:
    keys: int = 0
    bytes: int = 0
    members: int = 0  # entries of the family's lists, sets and streams (0 for hashes)


@dataclass
class Report:
    day: float
    used_memory: int
    own_bytes: int
    families: dict[str, Family]

    def line(self, top: int = 6) -> str:
        largest = sorted(self.families.items(), key=lambda kv: -kv[1].bytes)[:top]
        shown = ", ".join(f"{name} {f.bytes / 1e6:.1f} MB ({f.keys} keys"
                          f"{f', {f.members} entries' if f.members else ''})" for name, f in largest)
        return (f"day {self.day:5.1f}  used_memory {self.used_memory / 1e6:7.1f} MB  own keys "
                f"{self.own_bytes / 1e6:6.1f} MB  largest: {shown}")


def family_of(prefix: str, key: str) -> str:
    """The key family a key belongs to, across queues: ':events', 'job hash', '<id>:logs', '~jobqueue:repeat'."""
    rest = key[len(prefix) + 1:]
    if rest.startswith("~jobqueue:"):
        return "~jobqueue:" + rest.split(":", 2)[1]
    suffix = rest.split(":", 1)[1] if ":" in rest else ""
    if suffix in FAMILIES:
        return ":" + suffix
    if suffix.startswith("records:"):
        return ":records:<queue>"
    return "<id>:logs" if suffix.endswith(":logs") else "job hash"


def measure(client: Redis, prefix: str) -> dict[str, Family]:
    """Keys, bytes and entries per family under `prefix` (job hashes and logs sampled)."""
    by_family: dict[str, list[str]] = defaultdict(list)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        by_family[family_of(prefix, key)].append(key)
    families: dict[str, Family] = {}
    for name, keys in by_family.items():
        sample = keys if len(keys) <= SAMPLES else random.sample(keys, SAMPLES)
        pipe = client.pipeline(transaction=False)
        for key in sample:
            pipe.memory_usage(key)
        for key in sample:
            pipe.type(key)
        answers = pipe.execute()
        sizes, types = answers[:len(sample)], answers[len(sample):]
        pipe = client.pipeline(transaction=False)
        lengths = {"zset": pipe.zcard, "list": pipe.llen, "stream": pipe.xlen}
        for key, kind in zip(sample, types, strict=True):
            if kind in lengths:
                lengths[kind](key)
        members = sum(pipe.execute())
        scale = len(keys) / len(sample)
        families[name] = Family(len(keys), int(sum(s or 0 for s in sizes) * scale), int(members * scale))
    return families


@dataclass
class _Pending:
    """A job whose first attempt failed: due again at `due` (ms)."""

    job_id: str
    name: str
    added: int
    due: int


@dataclass
class Simulation:
    """The engine's scripts on a simulated clock: every call gets the simulated time as its timestamp."""

    client: Redis
    prefix: str
    catalog: Catalog
    tick_limit: int
    max_len_events: int = 10_000
    scripts: dict[str, Scripts] = field(default_factory=dict)
    options: dict[tuple[str, str], JobOptions] = field(default_factory=dict)
    retries: dict[str, list[_Pending]] = field(default_factory=lambda: defaultdict(list))
    counts: Counter[str] = field(default_factory=Counter)

    def _scripts(self, queue: str) -> Scripts:
        if queue not in self.scripts:
            self.scripts[queue] = Scripts(self.client, QueueKeys(self.prefix, queue), self.max_len_events)
        return self.scripts[queue]

    def _options(self, config: QueueConfig, name: str) -> JobOptions:
        if (config.name, name) not in self.options:
            self.options[config.name, name] = resolve_options(config, name, {})
        return self.options[config.name, name]

    def tick(self, config: QueueConfig, name: str, data: dict[str, Any], when: datetime) -> None:
        """One Scheduler tick of a catalog cron entry: its job, added under the tick's id, and run."""
        self.counts["ticks"] += 1
        self.run_batch(config, [(schedule_job_id(name, when), name, data)], int(when.timestamp() * 1000))

    def limited_tick(self, config: QueueConfig, when: datetime) -> None:
        """A tick of a run-time schedule with a limit: numbered in Redis, run while within the limit."""
        job_id = schedule_job_id("bench-limited", when)
        if self._scripts(config.name).number_tick("bench-limited", job_id, self.tick_limit) <= self.tick_limit:
            self.run_batch(config, [(job_id, "bench-limited", {})], int(when.timestamp() * 1000))

    def run_batch(self, config: QueueConfig, jobs: list[tuple[str, str, Any]], now: int,
                  stall: bool = False) -> None:
        """Add `jobs` (custom id or "", name, data), then claim and run them with the retries now due."""
        scripts = self._scripts(config.name)
        new = []
        for custom_id, name, data in jobs:
            opts = self._options(config, name)
            new.append(NewJob(custom_id, name, json.dumps(data), opts.to_bullmq_json(), 0, opts.priority))
        added = scripts.add_jobs(new, now)
        scripts.confirm_sent([job_id for job_id, how in added if how != "exists"])
        runs = [(job_id, name, now, "prioritized" if self._options(config, name).priority else "wait")
                for (job_id, how), (_, name, _) in zip(added, jobs, strict=True) if how == "new"]
        due = [p for p in self.retries[config.name] if p.due <= now]
        self.retries[config.name] = [p for p in self.retries[config.name] if p.due > now]
        runs += [(p.job_id, p.name, p.added, "delayed") for p in due]
        if stall and runs:
            self._stall(config, scripts, runs.pop(), now)
        self._claim_and_run(config, scripts, runs, now)

    def _gates(self, config: QueueConfig, lease_ms: int = 60_000) -> Gates:
        limiter = config.effective_limiter({})
        # The limiter's window is real time (Redis's clock): a 1 ms window keeps its list at work, never waiting.
        return Gates(uuid.uuid4().hex, lease_ms, config.concurrency, limiter.max if limiter else None, 1)

    def _deliveries(self, config: QueueConfig, runs: list[tuple[str, str, int, str]]) -> list[Delivery]:
        return [Delivery(job_id, added, where, self._options(config, name).priority,
                         self._options(config, name).attempts) for job_id, name, added, where in runs]

    def _claim_and_run(self, config: QueueConfig, scripts: Scripts, runs: list[tuple[str, str, int, str]],
                       now: int) -> None:
        gates = self._gates(config)
        claims = scripts.move_to_active(self._deliveries(config, runs), gates, now + 1000)
        claimed = [run for run, code in zip(runs, claims.codes, strict=True)
                   if code in (ClaimCode.CLAIMED, ClaimCode.STALLED)]
        previous: Finish | None = None
        dead: list[tuple[str, str, int]] = []
        for job_id, name, added, _ in claimed:
            step = self._step(scripts, [previous] if previous else [], now, start=job_id, gates=gates)
            self.counts["jobs run"] += 1
            serial = self.counts["jobs run"]
            if serial % LOG_EVERY == 0:
                for line in range(LOG_LINES):
                    scripts.add_log(job_id, f"line {line}", config.keep_logs)
            opts = self._options(config, name)
            if serial % FAIL_EVERY == 0:
                previous = self._finish(job_id, "failed", step.attempt, opts.remove_on_fail, '"bench failure"')
                dead.append((job_id, name, added))
            elif serial % RETRY_EVERY == 0 and step.attempt < opts.attempts:
                backoff = MINUTE_MS if opts.backoff is None else max(opts.backoff.delay_for(step.attempt), 1000)
                previous = Finish(job_id, "retry", step.attempt, "bench retry", due_at=now + backoff)
                self.retries[config.name].append(_Pending(job_id, name, added, now + backoff))
            else:
                previous = self._finish(job_id, "completed", step.attempt, opts.remove_on_complete, '{"ok":true}')
        self._step(scripts, [previous] if previous else [], now, token=gates.token)
        self._dead_letters(config, dead, now)

    @staticmethod
    def _finish(job_id: str, outcome: str, attempt: int, keep: Any, value: str) -> Finish:
        return Finish(job_id, outcome, attempt, value, keep_count=keep.count if keep else None,
                      keep_age=keep.age if keep else None)

    @staticmethod
    def _step(scripts: Scripts, finishes: list[Finish], now: int, *, start: str = "", token: str = "",
              gates: Gates | None = None) -> Step:
        while True:
            step = scripts.move_to_finished(finishes, now, start=start, token=token, gates=gates)
            if step.attempt != Step.RATE_LIMITED:
                return step
            time.sleep(step.retry_after_ms / 1000)
            finishes = []  # committed by the refused call: only the start is asked again

    def _stall(self, config: QueueConfig, scripts: Scripts, run: tuple[str, str, int, str], now: int) -> None:
        """A job whose invocation dies mid-attempt, then redelivered after its lease (1 ms, real time) expired:
        its last attempt stalled, so it fails and owes its dead letter; the dead invocation's lease stays."""
        job_id, name, added, where = run
        gates = self._gates(config, lease_ms=1)
        attempts = 1
        scripts.move_to_active([Delivery(job_id, added, where, 0, attempts)], gates, now + 1000)
        scripts.move_to_finished([], now, start=job_id, gates=gates)
        time.sleep(0.002)
        codes = scripts.move_to_active([Delivery(job_id, added, "active", 0, attempts)], self._gates(config),
                                       now + 1000).codes
        self.counts["stalls"] += 1
        if codes == [ClaimCode.EXHAUSTED]:
            self._dead_letters(config, [(job_id, name, added)], now)

    def _dead_letters(self, config: QueueConfig, dead: list[tuple[str, str, int]], now: int) -> None:
        if not dead:
            return
        dlq = self.catalog.dead_letters[config.dead_letter]
        records = []
        for job_id, name, added in dead:
            message = JobMessage(queue=config.name, id=job_id, name=name, data={}, opts=self._options(config, name),
                                 timestamp=added)
            letter = DeadLetter(originalJobId=job_id, queue=config.name, name=name, data={}, error="bench failure",
                                attemptsMade=1, failedAt=datetime.fromtimestamp(now / 1000, UTC).isoformat())
            records.append(DeadRecord(message, "bench failure", 1, letter.to_json()))
        record_dead_jobs(self._scripts, self._scripts(dlq.name), records, now, dlq.retention_days * DAY_MS)
        self.counts["dead letters"] += len(records)


def retention_window_days(catalog: Catalog) -> float:
    """The longest any key family keeps an entry under this catalog: a finished job's age limit plus its
    tombstone's 5 days, or a dead-letter queue's retention."""
    ages = [r.age for q in catalog.queues.values() for r in (q.remove_on_complete, q.remove_on_fail)
            if r is not None and r.age is not None]
    tombstoned = (max(ages, default=0) * 1000 + REMOVED_TTL_MS) / DAY_MS
    return max([tombstoned, *(d.retention_days for d in catalog.dead_letters.values())])


def ticks(queue: QueueConfig, start: datetime, end: datetime) -> Iterator[tuple[datetime, str, Any]]:
    """Every tick of the queue's cron entries from `start` to `end`, in time order."""
    found = [(when, n) for n, entry in enumerate(queue.cron)
             for when in _until(next_times(parse_cron(entry.pattern), time_zone(entry.tz), start), end)]
    for when, n in sorted(found):
        yield when, queue.cron[n].name, queue.cron[n].data


def _until(times: Iterator[datetime], end: datetime) -> Iterator[datetime]:
    for when in times:
        if when > end:
            return
        yield when


@dataclass
class _Month:
    """One run's plan: the catalog, its clock, where the jobs go, and the reports taken at the checkpoints."""

    client: Redis
    prefix: str
    catalog: Catalog
    jobs: int
    days: int
    every_minutes: int
    start: datetime = field(default_factory=lambda: datetime.fromtimestamp(int(time.time() // 60 * 60), UTC))
    reports: list[Report] = field(default_factory=list)
    began: float = field(default_factory=time.monotonic)

    @property
    def minutes(self) -> int:
        return self.days * 24 * 60

    def checkpoint(self, minute: int) -> bool:
        return minute > 0 and (minute % self.every_minutes == 0 or minute == self.minutes)

    def report(self) -> None:
        """The barrier's action: every lane is at the same simulated minute."""
        minute = min((len(self.reports) + 1) * self.every_minutes, self.minutes)
        families = measure(self.client, self.prefix)
        report = Report(minute / (24 * 60), int(self.client.info("memory")["used_memory"]),
                        sum(f.bytes for f in families.values()), families)
        self.reports.append(report)
        print(report.line(), f" [{time.monotonic() - self.began:.0f} s]", flush=True)

    def tick_lane(self, sim: Simulation, barrier: threading.Barrier, queue: QueueConfig, limited: bool) -> None:
        """Every tick of the queue's cron entries, minute by minute; with `limited`, also a run-time schedule with
        a limit on the queue, every 5 minutes."""
        pending = ticks(queue, self.start, self.start + timedelta(days=self.days))
        tick = next(pending, None)
        for minute in range(self.minutes + 1):
            now = self.start + timedelta(minutes=minute)
            while tick is not None and tick[0] <= now:
                sim.tick(queue, tick[1], tick[2], tick[0])
                tick = next(pending, None)
            if limited and minute % 5 == 0:
                sim.limited_tick(queue, now)
            if self.checkpoint(minute):
                barrier.wait()

    def job_lane(self, sim: Simulation, barrier: threading.Barrier, lane: int, lanes: int) -> None:
        """The batches of the work queues this lane owns (queue i of the catalog's work queues: i % lanes)."""
        work = [q for q in self.catalog.queues.values() if not q.cron]
        batches = -(-self.jobs // BATCH)
        spacing_ms = self.minutes * MINUTE_MS / max(batches, 1)
        mine = iter(b for b in range(batches) if (b % len(work)) % lanes == lane)
        batch = next(mine, None)
        for minute in range(self.minutes + 1):
            while batch is not None and batch * spacing_ms <= minute * MINUTE_MS:
                config = work[batch % len(work)]
                name = next(iter(config.jobs), None) or (config.job_types[0] if config.job_types else "bench")
                size = min(BATCH, self.jobs - batch * BATCH)
                now = int((self.start + timedelta(minutes=minute)).timestamp() * 1000)
                sim.run_batch(config, [("", name, {"n": batch * BATCH + i}) for i in range(size)], now,
                              stall=batch % STALL_EVERY_BATCHES == STALL_EVERY_BATCHES - 1)
                batch = next(mine, None)
            if self.checkpoint(minute):
                barrier.wait()


def run(client: Redis, prefix: str, *, jobs: int, days: int, every: float, tick_limit: int,
        lanes: int = 4) -> dict[str, Any]:
    """The simulated month: a thread per cron queue fires its ticks, `lanes` threads run the jobs (each its own
    queues), so that round trips overlap; all meet at every report."""
    catalog = load_catalog()
    month = _Month(client, prefix, catalog, jobs, days, max(1, round(every * 24 * 60)))
    window = retention_window_days(catalog)
    print(f"prefix {prefix}: {jobs:,} jobs and every catalog tick over {days} days; first retention window "
          f"{window:g} days", flush=True)
    cron_queues = [q for q in catalog.queues.values() if q.cron]
    sims = [Simulation(client, prefix, catalog, tick_limit) for _ in range(len(cron_queues) + lanes)]
    barrier = threading.Barrier(len(sims), action=month.report)

    def guarded(lane: Callable[[], None]) -> None:
        try:
            lane()
        except BaseException:
            barrier.abort()  # the other lanes stop at their next checkpoint instead of waiting forever
            raise

    with ThreadPoolExecutor(len(sims)) as pool:
        futures = [pool.submit(guarded, partial(month.tick_lane, sims[n], barrier, queue, n == 0))
                   for n, queue in enumerate(cron_queues)]
        futures += [pool.submit(guarded, partial(month.job_lane, sims[len(cron_queues) + n], barrier, n, lanes))
                    for n in range(lanes)]
        try:
            for future in futures:
                future.result()
        except BaseException:  # Ctrl-C or SIGTERM: the lanes stop at their next checkpoint, then keys are deleted
            barrier.abort()
            raise
    counts = sum((sim.counts for sim in sims), Counter[str]())
    reports = month.reports
    last = reports[-1]
    at_window = next((r for r in reports if r.day >= window - 1e-9), last)
    return {
        "jobs": jobs, "days": days, "ticks": counts["ticks"], "jobsRun": counts["jobs run"],
        "deadLetters": counts["dead letters"], "stalls": counts["stalls"], "windowDays": window,
        "usedMemoryAtWindow": at_window.used_memory, "usedMemoryAtEnd": last.used_memory,
        "ownBytesAtWindow": at_window.own_bytes, "ownBytesAtEnd": last.own_bytes,
        "growth": round(last.own_bytes / max(at_window.own_bytes, 1), 3),
        "usedMemoryGrowth": round(last.used_memory / max(at_window.used_memory, 1), 3),
        "windowReached": last.day >= window, "flat": last.own_bytes <= FLAT * at_window.own_bytes,
        "familiesAtEnd": {name: f.__dict__ for name, f in sorted(last.families.items(), key=lambda kv: -kv[1].bytes)},
        "seconds": round(time.monotonic() - month.began),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300_000,
                        help="jobs over the whole run (default 300,000; 1000000 for the issue's million)")
    parser.add_argument("--days", type=int, default=30, help="simulated days (default 30)")
    parser.add_argument("--every", type=float, default=1.0, help="simulated days between reports (default 1)")
    parser.add_argument("--lanes", type=int, default=4, help="threads running jobs, each its own queues (default 4)")
    parser.add_argument("--tick-limit", type=int, default=2000,
                        help="limit of the run-time schedule whose ticks are numbered (default 2000)")
    args = parser.parse_args(argv)
    if args.jobs < 0 or args.days < 1 or args.every <= 0 or args.tick_limit < 1 or args.lanes < 1:
        parser.error("--jobs must be >= 0, --days, --lanes and --tick-limit >= 1, --every > 0")
    client = Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), decode_responses=True)
    prefix = f"benchmem-{uuid.uuid4().hex[:8]}"
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a terminated run deletes its keys too
    try:
        summary = run(client, prefix, jobs=args.jobs, days=args.days, every=args.every, tick_limit=args.tick_limit,
                      lanes=args.lanes)
    finally:
        deleted = delete_keys(client, f"{prefix}:*")
        print(f"deleted {deleted} keys under {prefix}", file=sys.stderr)
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
