"""The worker keeps its word at every seam (issue 11): attempts are real runs, finished jobs stay finished, only
jobs that really failed their attempts are dead-lettered. Each test injects a fault between two steps of the
worker (a Redis error, a process killed, an SQS send refused, a duplicate delivery, a deadline) and checks the
contract with a real Redis and moto's server."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError
from redis.exceptions import ConnectionError as RedisConnectionError

from jobqueue import Job, Queue, processor
from jobqueue.catalog import Backoff, QueueConfig
from jobqueue.connection import redis_for
from jobqueue.errors import InvalidJobError
from jobqueue.job import JobMessage
from jobqueue.local.runner import LocalContext
from jobqueue.local.services import EmbeddedRedisCluster
from jobqueue.scripts import Scripts
from jobqueue.settings import get_settings
from jobqueue.worker import Worker
from tests.conftest import Namespace
from tests.support.dead_letters import dlq_records
from tests.support.delivery import Killed, deliver, receive, runs
from tests.support.functions import LocalFunctions, messages_in, sqs_record
from workloads.stores import LeadStore

QUEUE = "lead-processing"
DLQ = "lead-processing-dlq"


class FlakyRedisScripts(Scripts):
    """Scripts whose calls named in `fail` raise a connection error `times` times before reaching Redis."""

    def __init__(self, real: Scripts, fail: str, times: int) -> None:
        super().__init__(real.client, real.keys, real.max_len_events)
        self.fail, self.times = fail, times

    def _run(self, name: str, keys: Any, args: Any) -> Any:
        if name.startswith(self.fail) and self.times > 0:
            self.times -= 1
            raise RedisConnectionError("Connection reset by peer")
        return super()._run(name, keys, args)


class KillingScripts(Scripts):
    """Scripts that kill the process just before (or just after) the `nth` moveToFinished call."""

    def __init__(self, real: Scripts, nth: int, *, after: bool = False) -> None:
        super().__init__(real.client, real.keys, real.max_len_events)
        self.nth, self.after, self.calls = nth, after, 0

    def _run(self, name: str, keys: Any, args: Any) -> Any:
        if name.startswith("moveToFinished"):
            self.calls += 1
            if self.calls == self.nth and not self.after:
                raise Killed
            answer = super()._run(name, keys, args)
            if self.calls == self.nth:
                raise Killed
            return answer
        return super()._run(name, keys, args)


def worker_with(ns: Namespace, scripts: Callable[[Scripts], Scripts] | None = None, sqs: Any = None) -> Worker:
    worker = Worker(QUEUE, sqs=sqs or ns.sqs)
    if scripts:
        worker.scripts = scripts(worker.scripts)
    return worker


# -- 1. attempts are real runs: infrastructure failures spend none --------------------------------------------

def test_a_redis_error_at_the_claim_defers_the_batch_without_spending_an_attempt(ns: Namespace) -> None:
    queue = Queue(QUEUE)
    ids = queue.add_bulk([{"name": "process-lead", "data": {"leadId": i}, "opts": {"attempts": 1}} for i in range(3)])
    records = receive(ns)
    worker = worker_with(ns, lambda s: FlakyRedisScripts(s, "moveToActive", times=1))
    assert deliver(ns, worker, records) == [], "copies sent: the originals go"
    assert all(runs(i) == [] for i in ids) and all(queue.get_state(i) == "waiting" for i in ids)
    copies: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while len(copies) < 3 and time.monotonic() < deadline:  # the copies wait INFRA_DEFER_SECONDS
        copies += receive(ns)
    assert {r["attributes"]["ApproximateReceiveCount"] for r in copies} == {"1"}, "a copy counts no receive"
    assert deliver(ns, Worker(QUEUE), copies) == []
    for job_id in ids:
        job = queue.get_job(job_id)
        assert job is not None and (job.state, job.attemptsMade, runs(job_id)) == ("completed", 1, [1])
    assert messages_in(ns, DLQ) == 0


def test_a_redis_blip_between_two_jobs_is_retried_and_spends_nothing(ns: Namespace) -> None:
    queue = Queue(QUEUE)
    ids = queue.add_bulk([{"name": "process-lead", "data": {"leadId": i}, "opts": {"attempts": 1}} for i in range(3)])
    worker = worker_with(ns, lambda s: FlakyRedisScripts(s, "moveToFinished", times=2))
    assert deliver(ns, worker, receive(ns)) == []
    assert [runs(i) for i in ids] == [[1], [1], [1]]
    assert all(queue.get_job(i).attemptsMade == 1 for i in ids)  # type: ignore[union-attr]


def test_a_redis_cluster_down_postpones_the_batch_as_a_redis_outage_does(
        ns: Namespace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every node of a Redis Cluster gone (redis-py raises RedisClusterException, no RedisError, there): a warm
    worker postpones its batch as for a plain Redis outage, with no exception out of the handler and no message
    lost or dead-lettered."""
    cluster = EmbeddedRedisCluster(tmp_path).start()
    try:
        monkeypatch.setenv("REDIS_URL", cluster.url)
        monkeypatch.setenv("JOBQUEUE_REDIS_CLUSTER", "1")
        get_settings.cache_clear()
        Queue(QUEUE).add_bulk([{"name": "process-lead", "data": {"leadId": i}} for i in range(3)])
        worker = Worker(QUEUE, sqs=ns.sqs)  # warm: its client found the cluster
        records = receive(ns)
    finally:
        cluster.stop()
    assert len(records) == 3
    assert deliver(ns, worker, records) == [], "copies sent: the originals go"
    copies: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while len(copies) < 3 and time.monotonic() < deadline:  # the copies wait INFRA_DEFER_SECONDS
        copies += receive(ns)
    assert sorted(r["body"] for r in copies) == sorted(r["body"] for r in records)
    assert messages_in(ns, DLQ) == 0
    get_settings.cache_clear()


def test_redeliveries_that_never_reached_the_processor_spend_no_attempt(ns: Namespace) -> None:
    queue = Queue(QUEUE)
    job_id = queue.add("process-lead", {"leadId": 1, "behavior": "flaky", "failures": 1})
    [record] = receive(ns)
    # SQS counted four receives (invocations that failed before the processor): Redis counted no attempt.
    assert Worker(QUEUE).handle({"Records": [{**record, "attributes": {"ApproximateReceiveCount": "4"}}]}) == {
        "batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert runs(job_id) == [1], "the first run is attempt 1, whatever the receive count"
    assert queue.get_job(job_id).attemptsMade == 1  # type: ignore[union-attr]


# -- 2. an invocation killed at any point of a batch ---------------------------------------------------------

@pytest.mark.parametrize(("nth", "after"), [(1, False), (2, False), (3, False), (4, False), (4, True)],
                         ids=["before-first-start", "first-job-returned", "second-job-returned",
                              "last-job-returned", "all-committed-before-the-sqs-side"])
def test_an_invocation_killed_mid_batch_keeps_what_finished(ns: Namespace, nth: int, after: bool) -> None:
    """moveToFinished call c commits job c-1 and starts job c (call 4 commits the last): the process dies just
    before (or just after) call `nth`."""
    queue = Queue(QUEUE)
    ids = queue.add_bulk([{"name": "process-lead", "data": {"leadId": 700 + i}} for i in range(3)])
    records = receive(ns)
    with pytest.raises(Killed):
        worker_with(ns, lambda s: KillingScripts(s, nth, after=after)).handle({"Records": records})
    committed = nth - 1 if after else max(0, nth - 2)
    ran = nth if after else nth - 1
    for position, job_id in enumerate(ids, start=1):
        assert queue.get_state(job_id) == ("completed" if position <= committed else "active"), position
        assert runs(job_id) == ([1] if position <= ran else []), position
    time.sleep(1.2)  # the leases (the test catalog's 1 s function timeout) expire; SQS delivers the batch again
    redelivered = [{**r, "attributes": {"ApproximateReceiveCount": "2"}} for r in records]
    assert deliver(ns, Worker(QUEUE), redelivered) == []
    for position, job_id in enumerate(ids, start=1):
        job = queue.get_job(job_id)
        assert job is not None and job.state == "completed"
        if position <= committed:
            assert runs(job_id) == [1], "a committed job never runs again"
        elif position <= ran:
            assert runs(job_id) == [1, 2], "it ran and was cut before its commit: a stall, counted"
        else:
            assert runs(job_id) == [1], "it never started: no attempt spent"
        assert job.attemptsMade == len(runs(job_id)), "attempts equal real runs"
    assert messages_in(ns, DLQ) == 0 and dlq_records(ns, DLQ) == []


def test_a_job_whose_last_attempt_stalled_is_dead_lettered_with_its_runs(ns: Namespace) -> None:
    queue = Queue(QUEUE)
    job_id = queue.add("process-lead", {"leadId": 9}, attempts=1)
    records = receive(ns)
    with pytest.raises(Killed):
        worker_with(ns, lambda s: KillingScripts(s, 2)).handle({"Records": records})  # ran, never committed
    time.sleep(1.2)
    assert deliver(ns, Worker(QUEUE), [{**r, "attributes": {"ApproximateReceiveCount": "2"}} for r in records]) == []
    LocalFunctions(ns, [], [DLQ]).pump(lambda: bool(dlq_records(ns, DLQ)), 20)
    job = queue.get_job(job_id)
    assert job is not None and (job.state, job.attemptsMade, runs(job_id)) == ("failed", 1, [1])
    [record] = dlq_records(ns, DLQ)
    assert record["attemptsMade"] == 1 and "did not finish" in str(record["error"])


# -- 3. finished is final ------------------------------------------------------------------------------------

def test_a_duplicate_of_a_job_removed_by_retention_is_dropped_not_run(ns: Namespace) -> None:
    queue = Queue(QUEUE)
    job_id = queue.add("process-lead", {"leadId": 3}, removeOnComplete=True)
    records = receive(ns)
    assert deliver(ns, Worker(QUEUE), records) == []
    assert queue.get_job(job_id) is None, "removeOnComplete deleted it"
    duplicate = [{**records[0], "attributes": {"ApproximateReceiveCount": "1"}}]
    assert Worker(QUEUE).handle({"Records": duplicate}) == {"batchItemFailures": []}
    assert runs(job_id) == [1] and queue.get_job(job_id) is None, "not restored, not run"
    keys = ns.settings.queue_keys(QUEUE)
    assert ns.redis.zcard(keys.removed) == 1, "one bounded tombstone (pruned after the SQS retention)"


def test_a_duplicate_of_a_completed_job_is_dropped(ns: Namespace) -> None:
    queue = Queue(QUEUE)
    job_id = queue.add("process-lead", {"leadId": 4})
    records = receive(ns)
    assert deliver(ns, Worker(QUEUE), records) == []
    for _ in range(3):
        assert Worker(QUEUE).handle({"Records": records}) == {"batchItemFailures": []}
    assert runs(job_id) == [1] and messages_in(ns, QUEUE) == 0


@processor(QUEUE, "erase-next")
def erase_next(job: Job) -> None:
    """Removes the batch's next job behind the worker's back (its hash gone, a tombstone left), as a rollback
    racing a worker once did: the worker has claimed it and is about to start it."""
    settings, client = get_settings(), redis_for(get_settings())
    keys = settings.queue_keys(QUEUE)
    following = job.data["next"]
    client.delete(keys.job(following))
    client.zadd(keys.removed, {f"{following}:{job.data['timestamp']}": int(time.time() * 1000)})


def test_a_claimed_job_removed_before_it_starts_is_dropped_not_run(ns: Namespace) -> None:
    queue = Queue(QUEUE)
    victim = queue.add("process-lead", {"leadId": 5}, jobId="victim")
    timestamp = int(cast("str", ns.redis.hget(ns.settings.queue_keys(QUEUE).job(victim), "timestamp")))
    eraser = queue.add("erase-next", {"next": victim, "timestamp": timestamp})
    records = receive(ns)
    records.sort(key=lambda r: 0 if JobMessage.model_validate_json(r["body"]).id == eraser else 1)
    assert deliver(ns, Worker(QUEUE), records) == []
    assert runs(victim) == [] and messages_in(ns, QUEUE) == 0, "dropped: never run with an attempt of -1"
    assert queue.get_job(victim) is None and queue.get_job(eraser).attemptsMade == 1  # type: ignore[union-attr]


# -- 4. never before its time ----------------------------------------------------------------------------------

def test_a_delayed_job_delivered_again_and_again_never_starts_early(ns: Namespace) -> None:
    queue = Queue(QUEUE)
    job_id = queue.add("process-lead", {"leadId": 5}, delay=3_600_000)
    job = queue.get_job(job_id)
    assert job is not None
    body = JobMessage(queue=QUEUE, id=job_id, name=job.name, data=job.data, opts=job.opts,
                      timestamp=job.timestamp).body()
    for receive_count in (1, 2, 7):
        assert Worker(QUEUE).handle({"Records": [sqs_record(body, receive_count)]}) == {"batchItemFailures": []}
    assert runs(job_id) == [] and queue.get_state(job_id) == "delayed"


def test_a_duplicate_during_a_retry_backoff_waits_for_the_backoff(ns: Namespace) -> None:
    queue = Queue(QUEUE)
    job_id = queue.add("process-lead", {"leadId": 6, "behavior": "flaky", "failures": 1},
                       backoff={"type": "fixed", "delay": 60_000})
    records = receive(ns)
    assert Worker(QUEUE).handle({"Records": records})["batchItemFailures"]  # attempt 1 failed: retry in 60 s
    duplicate = [{**records[0], "messageId": "dup", "attributes": {"ApproximateReceiveCount": "1"}}]
    assert Worker(QUEUE).handle({"Records": duplicate}) == {"batchItemFailures": []}, "deferred until due"
    assert runs(job_id) == [1] and queue.get_state(job_id) == "delayed"


# -- 5. unrecoverable and exhausted jobs leave once, even when the DLQ send fails -----------------------------

class DlqDownSqs:
    """SQS whose sends to the dead-letter queue fail; the rest is the real client."""

    def __init__(self, real: Any, dlq_url: str) -> None:
        self.real, self.dlq_url = real, dlq_url

    def send_message_batch(self, QueueUrl: str, **kwargs: Any) -> Any:
        if QueueUrl == self.dlq_url:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendMessageBatch")
        return self.real.send_message_batch(QueueUrl=QueueUrl, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_an_unrecoverable_job_whose_dead_letter_send_fails_never_runs_again(ns: Namespace) -> None:
    queue = Queue(QUEUE)
    job_id = queue.add("process-lead", {"leadId": 7, "behavior": "unrecoverable"})
    records = receive(ns)
    broken = worker_with(ns, sqs=DlqDownSqs(ns.sqs, ns.queue_urls[DLQ]))
    assert broken.handle({"Records": records}) == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
    assert queue.get_state(job_id) == "failed" and messages_in(ns, DLQ) == 0
    # The redelivery pays the dead letter it owes, without running the job.
    again = [{**records[0], "attributes": {"ApproximateReceiveCount": "2"}}]
    assert deliver(ns, Worker(QUEUE), again) == []
    LocalFunctions(ns, [], [DLQ]).pump(lambda: bool(dlq_records(ns, DLQ)), 10)
    assert runs(job_id) == [1]
    [record] = dlq_records(ns, DLQ)
    assert (record["attemptsMade"], record["error"]) == (1, "lead has no address")
    assert ns.redis.hget(ns.settings.queue_keys(QUEUE).job(job_id), "dlp") is None, "paid"


def test_a_stray_dead_letter_of_a_completed_job_gets_no_record_and_no_hook(ns: Namespace) -> None:
    status = LeadStore()
    status.put({"leadId": "8"})
    queue = Queue(QUEUE)
    job_id = queue.add("process-lead", {"leadId": 8})
    records = receive(ns)
    assert deliver(ns, Worker(QUEUE), records) == []
    ns.sqs.send_message(QueueUrl=ns.queue_urls[DLQ], MessageBody=records[0]["body"])  # e.g. a redrive's copy
    LocalFunctions(ns, [], [DLQ]).pump(lambda: messages_in(ns, DLQ) == 0, 10)
    assert dlq_records(ns, DLQ) == [] and queue.get_state(job_id) == "completed"
    assert (status.get("8") or {}).get("status") != "PERMANENTLY_FAILED"


# -- 2b. time: the invocation's and the job's ------------------------------------------------------------------

@processor(QUEUE, "overrun")
def overrun(job: Job) -> str:
    time.sleep(float(job.data["seconds"]))
    return "done"


def test_a_job_past_its_ttl_fails_that_attempt_and_the_batch_goes_on(ns: Namespace) -> None:
    queue = Queue(QUEUE)
    slow = queue.add("overrun", {"seconds": 5}, ttl=200, attempts=2)
    quick = queue.add("process-lead", {"leadId": 10})
    records = receive(ns)
    answer = Worker(QUEUE).handle({"Records": records})
    assert len(answer["batchItemFailures"]) == 1, "the overrun job retries; the other one completed"
    job = queue.get_job(slow)
    assert job is not None and job.state == "delayed" and "ttl of 200 ms" in (job.failedReason or "")
    assert queue.get_state(quick) == "completed"


class ShortOnTime(LocalContext):
    """An invocation with 1.5 s left: time for a job of 500 ms (the test catalog's default ttl), not two."""

    ends: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return int((self.ends - time.monotonic()) * 1000)


def test_no_job_starts_that_cannot_finish_in_the_time_left(ns: Namespace) -> None:
    queue = Queue(QUEUE)
    ids = queue.add_bulk([{"name": "process-lead", "data": {"leadId": i, "behavior": "sleep", "seconds": 0.45}}
                          for i in range(4)])
    context = ShortOnTime("worker")
    context.ends = time.monotonic() + 1.5
    assert deliver(ns, Worker(QUEUE), receive(ns), cast("Any", context)) == [], "the others went back as copies"
    started = [i for i in ids if runs(i)]
    assert 1 <= len(started) < 4
    assert all(queue.get_state(i) == "completed" for i in started)
    assert all(queue.get_state(i) in ("waiting", "delayed") for i in ids if i not in started), "no attempt spent"
    LocalFunctions(ns, [QUEUE]).pump(lambda: all(queue.get_state(i) == "completed" for i in ids), 30)
    assert all(runs(i) == [1] for i in ids)


# -- 6. options the deployment cannot honour are refused where they are given ---------------------------------

def test_more_attempts_than_the_queue_allows_are_refused_naming_the_limit(ns: Namespace) -> None:
    with pytest.raises(InvalidJobError, match="attempts 10 exceeds the queue's limit of 5"):
        Queue(QUEUE).add("process-lead", {"leadId": 1}, attempts=10)
    assert messages_in(ns, QUEUE) == 0


def test_a_retry_plan_beyond_what_sqs_can_carry_is_refused(ns: Namespace) -> None:
    with pytest.raises(InvalidJobError, match="SQS allows at most 12 h between attempts"):
        Queue(QUEUE).add("process-lead", {}, attempts=3, backoff={"type": "exponential", "delay": 12 * 3_600_000})
    with pytest.raises(ValueError, match="work queues keep a message 96 h"):
        QueueConfig(name="nightly", attempts=10, backoff=Backoff(type="fixed", delay=12 * 3_600_000))
    with pytest.raises(InvalidJobError, match="ttl 1000 ms must be shorter than the worker's timeout"):
        Queue(QUEUE).add("process-lead", {}, ttl=1000)
