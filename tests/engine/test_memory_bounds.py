"""Every key family the engine writes stays within its stated bound (README "Redis layout"), after many ticks and
jobs on a simulated clock (`bench.memory`'s simulation, at a small scale: the same scripts, no SQS)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis

from bench.memory import DAY_MS, Simulation, family_of, measure
from jobqueue.catalog import (
    DEFAULT_KEEP_LOGS,
    DEFAULT_REMOVE_ON_COMPLETE,
    DEFAULT_REMOVE_ON_FAIL,
    Catalog,
    Retention,
    build_catalog,
)
from jobqueue.job import Job, resolve_options
from jobqueue.keys import KEEP_TICKS, REMOVED_TTL_MS, QueueKeys, repeat_ticks_key
from jobqueue.scripts import NewJob, Scripts
from tests.conftest import REDIS_URL, delete_prefix

MAX_EVENTS = 50
STREAM_NODE = 100  # XTRIM MAXLEN ~ keeps whole stream nodes: up to one node (stream-node-max-entries) beyond


@pytest.fixture
def redis_prefix() -> Iterator[tuple[Redis, str]]:
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    yield client, prefix
    delete_prefix(client, prefix)


def small_catalog() -> Catalog:
    """A cron queue and a work queue with small bounds, so that a few simulated days reach all of them."""
    return build_catalog(
        {"ticking": {"cron": [{"name": "tick", "pattern": "*/10 * * * *"}],
                     "remove_on_complete": {"count": 20, "age": 86_400}},
         "work": {"attempts": 3, "backoff": {"type": "fixed", "delay": 60_000}, "concurrency": 2,
                  "limiter": {"max": 3, "duration": 1000}, "remove_on_complete": {"count": 30, "age": 86_400},
                  "remove_on_fail": {"count": 10, "age": 2 * 86_400}}},
        {"ticking-dlq": {"retention_days": 5}, "work-dlq": {"retention_days": 5}},
    )


def test_every_key_family_stays_within_its_bound_over_a_simulated_week(redis_prefix: tuple[Redis, str]) -> None:
    client, prefix = redis_prefix
    catalog = small_catalog()
    sim = Simulation(client, prefix, catalog, tick_limit=10**6, max_len_events=MAX_EVENTS)
    ticking, work = catalog.queue("ticking"), catalog.queue("work")
    start = datetime(2026, 3, 1, tzinfo=UTC)
    days, batches = 7, 0
    for minute in range(0, days * 24 * 60, 10):
        now = start + timedelta(minutes=minute)
        sim.tick(ticking, "tick", {}, now)
        if minute % 30 == 0:  # a batch of 10 jobs every half hour; every 25th batch has a job that stalls
            sim.run_batch(work, [("", "job", {}) for _ in range(10)], int(now.timestamp() * 1000),
                          stall=batches % 25 == 24)
            batches += 1
    end_ms = int((start + timedelta(days=days)).timestamp() * 1000)
    assert sim.counts["ticks"] == days * 144 and sim.counts["stalls"] > 0 and sim.counts["dead letters"] > 0

    keys = {name: QueueKeys(prefix, name) for name in ("ticking", "work", "work-dlq")}
    tick_keys, work_keys, dlq_keys = keys["ticking"], keys["work"], keys["work-dlq"]
    assert client.zcard(tick_keys.completed) == 20, "completed trimmed to the queue's count"
    assert client.zcard(work_keys.completed) == 30
    # A job failed by a stall (or by SQS redrive) joins the failed set outside the worker's finish, which trims
    # it back to the count at the next failure: the bound holds up to those.
    assert 0 < client.zcard(work_keys.failed) <= 10 + sim.counts["stalls"]
    jobs = {name: [key for key in client.scan_iter(match=f"{k.base}*") if family_of(prefix, key) == "job hash"]
            for name, k in keys.items()}
    assert len(jobs["ticking"]) == 20 + client.zcard(tick_keys.failed), "a trimmed job's hash goes with it"
    assert len(jobs["work"]) == sum(client.zcard(k) for k in (work_keys.completed, work_keys.failed,
                                                              work_keys.delayed)), "no job hash outlives its state"
    oldest_tombstone = client.zrange(work_keys.removed, 0, 0, withscores=True)
    assert oldest_tombstone and float(oldest_tombstone[0][1]) >= end_ms - DAY_MS - REMOVED_TTL_MS
    assert client.zcard(tick_keys.removed) <= 144 * 5 + 144, "tombstones: the removals of the last 5 days"

    assert client.zcard(work_keys.leases) == 0, "the stalled jobs' leases were pruned by the next claims"
    assert client.zcard(work_keys.slots) <= work.concurrency
    assert client.llen(work_keys.limiter) <= 3
    assert client.zcard(work_keys.unsent) == 0 and client.llen(work_keys.active) == 0
    assert set(client.hkeys(work_keys.metrics("completed"))) == {"count", "prevTS", "prevCount"}
    assert client.llen(f"{work_keys.metrics('completed')}:data") <= 7 * 24 * 60, "a week of per-minute points"
    for queue_keys in keys.values():
        assert client.xlen(queue_keys.events) <= MAX_EVENTS + STREAM_NODE

    records = [str(r) for r in client.lrange(dlq_keys.wait, 0, -1)]
    assert records, "dead letters were recorded"
    recorded = [int(client.hget(dlq_keys.job(r), "timestamp") or 0) for r in records]
    assert min(recorded) >= end_ms - 5 * DAY_MS - DAY_MS, "records older than the DLQ's retention are dropped"
    assert len(jobs["work-dlq"]) == len(records)

    families = measure(client, prefix)
    assert set(families) <= {"job hash", ":id", ":meta", ":events", ":wait", ":active", ":delayed", ":prioritized",
                             ":pc", ":completed", ":failed", ":limiter", ":leases", ":slots", ":unsent", ":removed",
                             ":metrics:completed", ":metrics:failed", ":metrics:completed:data",
                             ":metrics:failed:data", ":records:<queue>", "~jobqueue:repeat"}


def test_a_limited_schedule_keeps_only_its_newest_ticks(redis_prefix: tuple[Redis, str]) -> None:
    client, prefix = redis_prefix
    scripts = Scripts(client, QueueKeys(prefix, "ticking"))
    ticks = [f"repeat-every-{n:05d}" for n in range(KEEP_TICKS + 100)]
    numbers = [scripts.number_tick("every", tick, 10**6) for tick in ticks]
    assert numbers == list(range(1, len(ticks) + 1))
    key = repeat_ticks_key(prefix, "ticking", "every")
    assert client.zcard(key) == KEEP_TICKS
    assert scripts.number_tick("every", ticks[-2], 10**6) == len(ticks) - 1, "a tick fired again keeps its number"

    numbers = [scripts.number_tick("thrice", f"t{n}", 3) for n in range(6)]
    assert numbers == [1, 2, 3, 4, 4, 4], "ticks past the limit are refused and not recorded"
    assert client.zcard(repeat_ticks_key(prefix, "ticking", "thrice")) == 3
    assert scripts.number_tick("thrice", "t1", 3) == 2


def test_a_job_log_keeps_its_newest_lines(redis_prefix: tuple[Redis, str]) -> None:
    client, prefix = redis_prefix
    config = build_catalog({"logging": {"keep_logs": 5}}, {}).queue("logging")
    scripts = Scripts(client, QueueKeys(prefix, "logging"))
    opts = resolve_options(config, "job", {})
    [(job_id, _)] = scripts.add_jobs([NewJob("", "job", "{}", opts.to_bullmq_json(), 0, 0)], 1)
    job = Job(id=job_id, name="job", data={}, opts=opts, queue="logging", timestamp=1, attempt=1,
              _scripts=scripts, keep_logs=config.keep_logs)
    for n in range(12):
        job.log(f"line {n}")
    assert client.lrange(QueueKeys(prefix, "logging").logs(job_id), 0, -1) == [f"line {n}" for n in range(7, 12)]


def test_queues_get_bounded_retention_unless_their_catalog_entry_says_otherwise() -> None:
    catalog = build_catalog({"plain": {}, "keep-all": {"remove_on_complete": {}, "remove_on_fail": {}},
                             "seed": {"remove_on_complete": 10_000}}, {})
    plain = resolve_options(catalog.queue("plain"), "job", {})
    assert (plain.remove_on_complete, plain.remove_on_fail) == (DEFAULT_REMOVE_ON_COMPLETE, DEFAULT_REMOVE_ON_FAIL)
    assert DEFAULT_REMOVE_ON_COMPLETE.count and DEFAULT_REMOVE_ON_COMPLETE.age
    assert DEFAULT_REMOVE_ON_FAIL.count and DEFAULT_REMOVE_ON_FAIL.age
    assert '"removeOnComplete":{"count":1000,"age":86400}' in plain.to_bullmq_json()
    assert catalog.queue("plain").keep_logs == DEFAULT_KEEP_LOGS
    assert resolve_options(catalog.queue("keep-all"), "job", {}).remove_on_complete == Retention()
    assert resolve_options(catalog.queue("seed"), "job", {}).remove_on_complete == Retention(count=10_000)
