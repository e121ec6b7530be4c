"""Priorities under contention: urgent jobs start before bulk jobs queued ahead of them (acceptance 1)."""

from __future__ import annotations

import pytest

from jobqueue import Queue
from jobqueue.flow import MAX_YIELDS
from jobqueue.job import JobMessage
from jobqueue.worker import Worker
from tests.conftest import Namespace
from tests.support.flow import Consumers, dlq_depth, flow_namespace
from tests.support.flow_processors import starts

BULK, URGENT = 200, 20


def _urgent_first(ns: Namespace, queue: str) -> None:
    """200 priority-5 jobs waiting, then 20 priority-1 jobs; two consumers per lane, concurrency 2."""
    producer = Queue(queue)
    bulk = set(producer.add_bulk([{"name": "bulk", "data": {"seconds": 0.01}} for _ in range(BULK)]))
    urgent = set(producer.add_bulk([{"name": "urgent", "data": {"seconds": 0.01}} for _ in range(URGENT)]))
    assert {producer.get_job(j).opts["priority"] for j in urgent} == {1}  # type: ignore[union-attr]
    Consumers(ns, queue, per_lane=2).run_until(lambda: len(starts(queue)) >= BULK + URGENT, timeout=240)

    order = starts(queue)
    assert len(order) == len(set(order)) == BULK + URGENT, "every job ran exactly once"
    sixtieth_bulk = [i for i, job_id in enumerate(order) if job_id in bulk][59]
    last_urgent = max(i for i, job_id in enumerate(order) if job_id in urgent)
    assert last_urgent < sixtieth_bulk, f"urgent jobs at {sorted(order.index(j) for j in urgent)}"
    # Yielding never counted an attempt (attempts = 1: a counted deferral would have exhausted the job).
    assert {producer.get_job(j).attemptsMade for j in bulk | urgent} == {1}  # type: ignore[union-attr]
    assert producer.get_job_counts()["completed"] == BULK + URGENT
    assert dlq_depth(ns, queue) == 0


def test_urgent_jobs_start_before_the_sixtieth_bulk_job_with_lanes(ns: Namespace, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    _urgent_first(flow_namespace(ns, monkeypatch), "flow-lanes")


def test_urgent_jobs_start_first_in_a_single_sqs_queue_by_yielding(ns: Namespace, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    _urgent_first(flow_namespace(ns, monkeypatch), "flow-priority")


def test_a_job_that_yielded_often_enough_runs_regardless(ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood of urgent jobs delays others but cannot starve them: after MAX_YIELDS deferrals a job runs."""
    ns = flow_namespace(ns, monkeypatch)
    producer = Queue("flow-priority")
    producer.add("urgent")  # waits in Redis; its message is taken off the queue so that it never runs
    ns.sqs.purge_queue(QueueUrl=ns.queue_urls["flow-priority"])
    bulk = producer.add("bulk")
    worker = Worker("flow-priority")
    received = ns.sqs.receive_message(QueueUrl=ns.queue_urls["flow-priority"], MessageSystemAttributeNames=["All"],
                                      WaitTimeSeconds=1)["Messages"][0]
    tired = JobMessage.model_validate_json(received["Body"]).model_copy(update={"yields": MAX_YIELDS})
    record = {"messageId": received["MessageId"], "receiptHandle": received["ReceiptHandle"], "body": tired.body(),
              "attributes": {"ApproximateReceiveCount": "1"}, "eventSource": "aws:sqs"}
    assert worker.handle({"Records": [record]}) == {"batchItemFailures": []}
    assert starts("flow-priority") == [bulk]
    assert ns.redis.zcard(ns.settings.queue_keys("flow-priority").prioritized) == 1  # the urgent one
