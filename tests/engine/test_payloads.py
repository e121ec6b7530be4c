"""Issue 16, point 2: job data beyond the SQS limit travels by claim check through S3 (jobqueue.payloads).

A producer puts the data in the payload bucket before it records the job; the message and the job hash carry a
placeholder; the worker reads the object when it starts the job. Each seam of the add gets a fault (S3 refuses the
put, Redis fails or loses its reply after the put, SQS refuses the send, the same jobId is added again); every path
that deletes a job (remove, clean, retention, dead-letter removal and expiry) leaves its object to the sweeper,
which deletes it once nothing names it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from jobqueue import (
    EnqueueError,
    FlowProducer,
    InvalidJobError,
    Job,
    PayloadTooLargeError,
    Queue,
    UnrecoverableError,
    processor,
)
from jobqueue.admin import QueueAdmin
from jobqueue.connection import aws_client
from jobqueue.errors import JobQueueError
from jobqueue.payloads import PayloadStore, claim_of
from jobqueue.settings import get_settings
from jobqueue.sweeper import sweep_payload_objects
from tests.conftest import Namespace
from tests.support.bullmq_py import read_state, read_state_node
from tests.support.delivery import Killed
from tests.support.faults import Fault, FaultySqs, attempt, inject, sqs_down
from tests.support.functions import LocalFunctions, messages_in

QUEUE, DLQ, NAME = "data-processing", "dead-letter", "payload-check"
RETRYING = "lead-enrichment"  # a queue whose catalog allows 3 attempts
BIG = 300 * 1024  # over the 240 KiB threshold: claim-checked


@processor(QUEUE, NAME)
@processor(RETRYING, NAME)
def payload_check(job: Job) -> dict[str, Any]:
    """What the processor received: the data's digest and size, or an unrecoverable failure when asked."""
    if job.data.get("die"):
        raise UnrecoverableError("asked to die")
    body = json.dumps(job.data, separators=(",", ":")).encode()
    return {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}


def blob(size: int, seed: str = "x") -> dict[str, Any]:
    text = hashlib.sha256(seed.encode()).hexdigest()
    return {"blob": (text * (size // len(text) + 1))[:size]}


def digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, separators=(",", ":")).encode()).hexdigest()


@pytest.fixture
def pns(ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> Iterator[Namespace]:
    """The test's namespace with a payload bucket of its own (created through the S3 API, as dev does)."""
    bucket = f"{ns.settings.sqs_name_prefix}payloads".lower()
    s3 = aws_client("s3")
    s3.create_bucket(Bucket=bucket)
    monkeypatch.setenv("JOBQUEUE_PAYLOAD_BUCKET", bucket)
    ns.env["JOBQUEUE_PAYLOAD_BUCKET"] = bucket
    get_settings.cache_clear()
    ns.settings = get_settings()
    yield ns
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)


def objects(ns: Namespace) -> list[str]:
    response = aws_client("s3").list_objects_v2(Bucket=ns.settings.payload_bucket)
    return [o["Key"] for o in response.get("Contents", [])]


def job_hash(ns: Namespace, job_id: str, queue: str = QUEUE) -> dict[str, str]:
    return ns.redis.hgetall(ns.settings.queue_keys(queue).job(job_id))  # type: ignore[return-value]


def run(ns: Namespace, until: Any = None, dead_letters: bool = False, queue: str = QUEUE) -> None:
    LocalFunctions(ns, [queue], [DLQ] if dead_letters else None).pump(
        until or (lambda: messages_in(ns, queue) == 0 and (not dead_letters or messages_in(ns, DLQ) == 0)),
        timeout=60)


def sweep(ns: Namespace) -> int:
    return sweep_payload_objects(redis=ns.redis)


class FaultyS3:
    """An S3 client whose `method` suffers `fault`; every other call goes through."""

    def __init__(self, method: str, fault: Fault) -> None:
        self.real = aws_client("s3")
        setattr(self, method, fault.around(getattr(self.real, method)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def s3_down() -> Exception:
    error: Exception = ClientError({"Error": {"Code": "SlowDown", "Message": "injected"}}, "PutObject")
    return error


# -- the happy path ----------------------------------------------------------------------------------------

def test_a_12_mb_job_reaches_its_processor_whole_while_redis_and_sqs_hold_a_placeholder(pns: Namespace) -> None:
    data = blob(12 * 1024 * 1024)
    job_id = Queue(QUEUE).add(NAME, data, jobId="big-1")
    held = json.loads(job_hash(pns, job_id)["data"])
    claim = claim_of(held)
    assert claim is not None and claim.size > 12 * 1024 * 1024, held
    assert claim.key.startswith(f"payloads/{QUEUE}/big-1/") and objects(pns) == [claim.key]
    body = pns.sqs.receive_message(QueueUrl=pns.queue_urls[QUEUE], VisibilityTimeout=0)["Messages"][0]["Body"]
    assert len(body) < 2048 and json.loads(body)["data"] == held, "the message carries the placeholder"
    run(pns)
    done = Queue(QUEUE).get_job(job_id)
    assert done is not None and done.state == "completed"
    assert done.returnvalue == {"sha256": digest(data), "bytes": claim.size}, "the processor got the exact bytes"
    assert done.data == held, "job status shows the placeholder: where the data is"


def test_small_data_stays_inline_and_placeholders_cannot_be_forged(pns: Namespace) -> None:
    job_id = Queue(QUEUE).add(NAME, blob(1000))
    assert json.loads(job_hash(pns, job_id)["data"]) == blob(1000) and objects(pns) == []
    forged = {"jobqueuePayload": f"s3://{pns.settings.payload_bucket}/payloads/x/y/z", "bytes": 1, "sha256": "a"}
    with pytest.raises(InvalidJobError, match="payload placeholder"):
        Queue(QUEUE).add(NAME, forged)


def test_data_beyond_the_bucket_limit_is_refused_before_anything_is_written(
        pns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBQUEUE_MAX_DATA_BYTES", str(BIG))
    get_settings.cache_clear()
    with pytest.raises(PayloadTooLargeError, match="JOBQUEUE_MAX_DATA_BYTES"):
        Queue(QUEUE).add(NAME, blob(BIG + 10))
    assert objects(pns) == [] and messages_in(pns, QUEUE) == 0


# -- faults in the add -------------------------------------------------------------------------------------

def test_a_flow_refuses_data_over_the_threshold_with_nothing_written(pns: Namespace) -> None:
    """A flow's jobs carry their data in their messages: large data is refused by name, never sent to fail."""
    flow = {"name": "parent", "queueName": QUEUE, "children": [{"name": "child", "queueName": QUEUE,
                                                                 "data": blob(300_000)}]}
    with pytest.raises(PayloadTooLargeError, match="over the payload threshold"):
        FlowProducer().add(flow)
    assert list(pns.redis.scan_iter(match=f"{pns.settings.prefix}:*")) == []
    assert objects(pns) == []


def assert_no_job(ns: Namespace, job_id: str) -> None:
    keys = ns.settings.queue_keys(QUEUE)
    assert job_hash(ns, job_id) == {}
    assert ns.redis.llen(keys.wait) == 0 and ns.redis.zcard(keys.unsent) == 0 and messages_in(ns, QUEUE) == 0


def test_an_s3_put_failure_leaves_no_job_no_mark_and_no_object(pns: Namespace) -> None:
    queue = Queue(QUEUE, s3=FaultyS3("put_object", Fault("error", s3_down)))
    outcome, error = attempt(lambda: queue.add_bulk([{"name": NAME, "data": blob(BIG), "opts": {"jobId": "p-1"}}]))
    assert outcome == "error" and isinstance(error, EnqueueError) and not error.rejections[0].may_run, error
    assert "could not store the job's data" in str(error)
    assert_no_job(pns, "p-1")
    assert objects(pns) == []


def test_a_failed_put_midway_hands_the_objects_already_put_to_the_sweeper(pns: Namespace) -> None:
    queue = Queue(QUEUE, s3=FaultyS3("put_object", Fault("error", s3_down, skip=1)))
    jobs = [{"name": NAME, "data": blob(BIG, str(i)), "opts": {"jobId": f"m-{i}"}} for i in range(2)]
    assert attempt(lambda: queue.add_bulk(jobs))[0] == "error"
    assert len(objects(pns)) == 1
    assert sweep(pns) == 1 and objects(pns) == []
    assert_no_job(pns, "m-0")


@pytest.mark.parametrize("kind", ["error", "lost-reply"])
def test_a_redis_failure_after_the_put_leaves_either_no_job_and_no_object_or_the_job_whole(
        pns: Namespace, kind: str) -> None:
    queue = Queue(QUEUE)
    inject(queue.scripts, "add_jobs", Fault(kind))  # type: ignore[arg-type]
    data = blob(BIG)
    outcome, error = attempt(lambda: queue.add_bulk([{"name": NAME, "data": data, "opts": {"jobId": "r-1"}}]))
    assert outcome == "error" and isinstance(error, EnqueueError)
    sweep(pns)
    if kind == "error":  # nothing was recorded: the object went with the sweep
        assert_no_job(pns, "r-1")
        assert objects(pns) == []
        return
    # Recorded after all (the reply was lost): the job keeps its object and runs with its data.
    assert len(objects(pns)) == 1
    Queue(QUEUE).resend_unsent(older_than_ms=0)
    run(pns)
    done = Queue(QUEUE).get_job("r-1")
    assert done is not None and done.returnvalue["sha256"] == digest(data)


def test_an_sqs_refusal_rolls_the_job_back_and_the_sweeper_deletes_its_object(pns: Namespace) -> None:
    queue = Queue(QUEUE, sqs=FaultySqs(pns.sqs, Fault("error", sqs_down)))
    outcome, error = attempt(lambda: queue.add_bulk([{"name": NAME, "data": blob(BIG), "opts": {"jobId": "s-1"}}]))
    assert outcome == "error" and not error.rejections[0].may_run
    assert_no_job(pns, "s-1")
    assert len(objects(pns)) == 1, "the rollback left the object to the sweeper"
    assert sweep(pns) == 1 and objects(pns) == []


def test_a_retried_add_of_the_same_job_id_keeps_one_object_the_job_points_at(pns: Namespace) -> None:
    data = blob(BIG)
    job = {"name": NAME, "data": data, "opts": {"jobId": "same-1"}}
    assert Queue(QUEUE).add_bulk([job]) == ["same-1"]
    first = claim_of(json.loads(job_hash(pns, "same-1")["data"]))
    assert Queue(QUEUE).add_bulk([job]) == ["same-1"]
    assert claim_of(json.loads(job_hash(pns, "same-1")["data"])) == first, "the job still points at its object"
    assert sweep(pns) == 1, "the retry's own object is deleted"
    assert first is not None and objects(pns) == [first.key]
    run(pns)
    done = Queue(QUEUE).get_job("same-1")
    assert done is not None and done.returnvalue["sha256"] == digest(data) and done.attemptsMade == 1


# -- the worker ----------------------------------------------------------------------------------------------

def test_a_missing_object_fails_the_job_at_once_with_a_clear_reason(pns: Namespace) -> None:
    job_id = Queue(RETRYING).add(NAME, blob(BIG), jobId="gone-1", attempts=3)
    claim = claim_of(json.loads(job_hash(pns, job_id, RETRYING)["data"]))
    assert claim is not None
    aws_client("s3").delete_object(Bucket=claim.bucket, Key=claim.key)
    run(pns, queue=RETRYING)
    failed = Queue(RETRYING).get_job(job_id)
    assert failed is not None and failed.state == "failed" and failed.attemptsMade == 1, "no retry burnt"
    assert failed.failedReason == f"payload object {claim.url} is missing"


def test_a_transient_s3_error_fails_the_attempt_and_the_retry_runs(pns: Namespace, monkeypatch: Any) -> None:
    fault = Fault("error", s3_down)
    faulty = FaultyS3("get_object", fault)
    monkeypatch.setattr(PayloadStore, "s3", property(lambda self: faulty))
    data = blob(BIG)
    job_id = Queue(RETRYING).add(NAME, data, jobId="flaky-1", attempts=2, backoff={"type": "fixed", "delay": 1})
    run(pns, queue=RETRYING,
        until=lambda: (j := Queue(RETRYING).get_job(job_id)) is not None and j.state == "completed")
    done = Queue(RETRYING).get_job(job_id)
    assert done is not None and done.attemptsMade == 2 and done.returnvalue["sha256"] == digest(data)
    assert fault.calls == 2


# -- removal deletes the object ----------------------------------------------------------------------------

def add_big(ns: Namespace, job_id: str, **opts: Any) -> str:
    Queue(QUEUE).add(NAME, blob(BIG, job_id), jobId=job_id, **opts)
    claim = claim_of(json.loads(job_hash(ns, job_id)["data"]))
    assert claim is not None
    return claim.key


def test_removing_a_job_deletes_its_object(pns: Namespace) -> None:
    key = add_big(pns, "rm-1")
    assert QueueAdmin(QUEUE).remove("rm-1")
    assert objects(pns) == [key] and sweep(pns) == 1 and objects(pns) == []


def test_cleaning_and_retention_delete_their_objects(pns: Namespace) -> None:
    add_big(pns, "trim-1", removeOnComplete=True)  # BullMQ's `true`: keep no completed job
    run(pns)
    kept = add_big(pns, "keep-1")
    run(pns)
    assert sweep(pns) == 1 and objects(pns) == [kept], "retention removed trim-1, the sweeper its object"
    assert QueueAdmin(QUEUE).clean(0, state="completed") == ["keep-1"]
    assert sweep(pns) == 1 and objects(pns) == []


def test_a_dead_job_keeps_its_object_until_its_record_and_its_hash_are_both_gone(pns: Namespace) -> None:
    key = add_big(pns, "dead-1", attempts=1)
    Queue(QUEUE).add(NAME, {"die": True, **blob(BIG, "d2")}, jobId="dead-2", attempts=1)
    run(pns, dead_letters=True)
    admin = QueueAdmin(QUEUE)
    assert {r.originalJobId for r in admin.dead_letters()} == {"dead-2"}
    assert admin.remove_dead_letter(f"{QUEUE}-dead-2")
    assert sweep(pns) == 0 and len(objects(pns)) == 2, "the failed job's hash still names its object"
    assert admin.remove("dead-2")
    assert sweep(pns) == 1 and objects(pns) == [key]


def test_a_dead_letter_record_that_expires_leaves_its_object_to_the_sweeper(
        pns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    Queue(QUEUE).add(NAME, {"die": True, **blob(BIG)}, jobId="old-1", attempts=1)
    run(pns, dead_letters=True)
    assert QueueAdmin(QUEUE).remove("old-1")
    assert sweep(pns) == 0, "the record still names it"
    keys = pns.settings.queue_keys(DLQ)
    pns.redis.hset(keys.job(f"{QUEUE}-old-1"), "timestamp", 1)  # recorded long ago: the next record expires it
    Queue(QUEUE).add(NAME, {"die": True}, jobId="old-2", attempts=1)
    run(pns, dead_letters=True)
    assert not pns.redis.exists(keys.job(f"{QUEUE}-old-1"))
    assert sweep(pns) == 1 and objects(pns) == []


def test_bullmq_clients_read_the_placeholder_as_the_jobs_data(pns: Namespace) -> None:
    job_id = Queue(QUEUE).add(NAME, blob(BIG), jobId="seen-1")
    placeholder = json.loads(job_hash(pns, job_id)["data"])
    ids = {QUEUE: [job_id]}
    for reader in (read_state_node, read_state):
        seen = reader(pns.settings.redis_url, pns.settings.prefix, ids,
                      cluster=pns.settings.redis_cluster)[QUEUE]["jobs"][job_id]
        assert seen["data"] == placeholder and seen["name"] == NAME, reader.__name__
        assert set(seen["data"]) == {"jobqueuePayload", "bytes", "sha256"}


@pytest.mark.parametrize("kind", ["error", "kill-after"])
def test_a_sweep_cut_at_its_delete_leaves_the_list_for_the_next_sweep(pns: Namespace, kind: str) -> None:
    add_big(pns, "cut-1")
    assert QueueAdmin(QUEUE).remove("cut-1")
    gone = pns.settings.queue_keys(QUEUE).payloads_gone
    faulty = FaultyS3("delete_objects", Fault(kind, s3_down))  # type: ignore[arg-type]
    try:
        assert sweep_payload_objects(redis=pns.redis, s3=faulty) == 0
    except (Killed, JobQueueError):
        assert kind == "kill-after"
    assert pns.redis.llen(gone) == 1, "nothing trimmed before S3 confirmed"
    assert sweep(pns) == 1 and pns.redis.llen(gone) == 0 and objects(pns) == []
