"""Deduplication: one jobId runs once, however often it is added or its message delivered (acceptance 6)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from jobqueue import Queue
from jobqueue.flow import gates_for
from jobqueue.scripts import ClaimCode, Delivery
from jobqueue.worker import Worker
from tests.conftest import Namespace
from tests.support.flow import Consumers, dlq_depth, flow_namespace
from tests.support.flow_processors import starts

QUEUE = "flow-dedupe"


def test_the_same_job_id_added_five_times_concurrently_runs_once(ns: Namespace,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ns = flow_namespace(ns, monkeypatch)
    barrier = threading.Barrier(5)

    def add(_: int) -> str:
        producer = Queue(QUEUE)  # each caller its own client, like five API instances
        barrier.wait()
        return producer.add("sync", {"n": 1}, jobId="order-42")

    with ThreadPoolExecutor(5) as pool:
        assert set(pool.map(add, range(5))) == {"order-42"}
    producer = Queue(QUEUE)
    Consumers(ns, QUEUE, per_lane=2).run_until(lambda: producer.get_job_counts()["completed"] == 1, timeout=60)
    assert starts(QUEUE) == ["order-42"]
    attributes = ns.sqs.get_queue_attributes(QueueUrl=ns.queue_urls[QUEUE], AttributeNames=["All"])["Attributes"]
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == (
        "0", "0"), "one message was sent, and it is gone"


def _delivery(ns: Namespace, wait: int = 1) -> dict[str, Any]:
    message = ns.sqs.receive_message(QueueUrl=ns.queue_urls[QUEUE], WaitTimeSeconds=wait,
                                     MessageSystemAttributeNames=["All"])["Messages"][0]
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
            "attributes": {"ApproximateReceiveCount": "1"}, "eventSource": "aws:sqs"}


def test_a_message_delivered_twice_runs_its_processor_once(ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    ns = flow_namespace(ns, monkeypatch)
    producer = Queue(QUEUE)
    job_id = producer.add("sync", {"seconds": 1})
    record = _delivery(ns)
    event = {"Records": [record]}

    # Two deliveries at once, each in its own worker instance: the second finds the job leased and does not run it;
    # it re-sends the message to come back after the lease (deleting nothing the first delivery may still need).
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: Worker(QUEUE).handle(event), range(2)))
    assert answers == [{"batchItemFailures": []}] * 2
    assert starts(QUEUE) == [job_id]
    # That copy finds the job finished and is dropped without running it; so is any later delivery.
    copy = _delivery(ns, wait=5)
    assert copy["messageId"] != record["messageId"]
    for again in (copy, record):
        assert Worker(QUEUE).handle({"Records": [again]}) == {"batchItemFailures": []}
    assert starts(QUEUE) == [job_id]
    job = producer.get_job(job_id)
    assert job is not None and (job.state, job.attemptsMade) == ("completed", 1)
    assert dlq_depth(ns, QUEUE) == 0


def test_a_stalled_job_is_still_run_again_once_its_lease_has_expired(ns: Namespace,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that died leaves its job active; after the lease (the function timeout) a delivery takes it over."""
    ns = flow_namespace(ns, monkeypatch)
    producer = Queue(QUEUE)
    job_id = producer.add("sync", attempts=2)  # the stalled delivery counts as an attempt
    record = _delivery(ns)
    worker = Worker(QUEUE)
    # The first delivery's worker started the job and died before finishing it.
    gates = gates_for(worker.config, 1, None, 0)
    timestamp = producer.get_job(job_id).timestamp  # type: ignore[union-attr]
    claims = worker.scripts.move_to_active([Delivery(job_id, timestamp, "wait", 0, 2)], gates, worker.now_ms())
    assert claims.codes == [ClaimCode.CLAIMED]
    assert worker.scripts.move_to_finished([], worker.now_ms(), start=job_id).attempt == 1
    # SQS delivers the message again (its second receive) within the lease: a duplicate, deferred, not run.
    again = {**record, "attributes": {"ApproximateReceiveCount": "2"}}
    assert Worker(QUEUE).handle({"Records": [again]}) == {"batchItemFailures": []}
    assert starts(QUEUE) == []
    # Its copy comes back after the lease, finds the job stalled and runs it, as the second attempt.
    Consumers(ns, QUEUE, per_lane=1).run_until(lambda: producer.get_job_counts()["completed"] == 1, timeout=60)
    assert starts(QUEUE) == [job_id]
    events = ns.redis.xrange(ns.settings.queue_keys(QUEUE).events)
    assert [fields["jobId"] for _, fields in events or [] if fields and fields["event"] == "stalled"] == [job_id]
    assert producer.get_job(job_id).attemptsMade == 2  # type: ignore[union-attr]
