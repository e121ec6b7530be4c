"""Deferrals by pause, priority, rate limit or concurrency never count an attempt and never dead-letter a job.

Every flow queue allows one attempt, so its redrive policy moves a message to the DLQ on its second receive:
a deferral that let SQS redeliver the same message, or that counted an attempt, would kill the job.
"""

from __future__ import annotations

import pytest

from jobqueue import Queue
from jobqueue.admin import QueueAdmin
from tests.conftest import Namespace
from tests.support.flow import Consumers, dlq_depth, flow_namespace
from tests.support.flow_processors import starts

QUEUE = "flow-serial"  # concurrency 1: its jobs also wait for the slot


def test_jobs_deferred_while_paused_run_once_resumed_with_their_one_attempt(ns: Namespace,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    ns = flow_namespace(ns, monkeypatch)
    admin, producer = QueueAdmin(QUEUE), Queue(QUEUE)
    admin.pause()
    ids = producer.add_bulk([{"name": "step", "data": {"seconds": 0.05}} for _ in range(6)])
    consumers = Consumers(ns, QUEUE, per_lane=3)
    consumers.run_until(lambda: ns.sqs.get_queue_attributes(
        QueueUrl=ns.queue_urls[QUEUE], AttributeNames=["ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "6", timeout=30)  # every delivery re-sent, delayed
    assert starts(QUEUE) == [] and producer.get_job_counts()["waiting"] == len(ids)
    admin.resume()
    consumers.run_until(lambda: producer.get_job_counts()["completed"] == len(ids), timeout=60)
    assert sorted(starts(QUEUE)) == sorted(ids)
    assert {producer.get_job(j).attemptsMade for j in ids} == {1}  # type: ignore[union-attr]
    assert dlq_depth(ns, QUEUE) == 0
