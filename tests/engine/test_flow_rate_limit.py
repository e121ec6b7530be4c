"""The global rate limit: shared by every worker instance, exact in any window, never an attempt (acceptance 2)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

import pytest

from jobqueue import Queue
from jobqueue.job import JobMessage
from jobqueue.local.runner import LocalContext
from jobqueue.worker import Worker
from tests.conftest import Namespace
from tests.support.flow import Consumers, dlq_depth, flow_namespace
from tests.support.flow_processors import starts

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

QUEUE = "flow-limited"


def test_five_per_second_across_four_workers(ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    ns = flow_namespace(ns, monkeypatch, FLOW_RATE_PER_SECOND="5")  # the catalog says 50/s; the environment wins
    producer = Queue(QUEUE)
    ids = producer.add_bulk([{"name": "call-api"} for _ in range(100)])
    took = Consumers(ns, QUEUE, per_lane=4).run_until(
        lambda: producer.get_job_counts()["completed"] == 100, timeout=120)
    print(f"100 jobs at 5/s by 4 workers: {took:.1f} s (ideal 19 s after the first 5)")
    assert 19 <= took <= 30
    jobs = [producer.get_job(job_id) for job_id in ids]
    assert {job.attemptsMade for job in jobs if job} == {1}, "waiting for the limit never counts an attempt"
    assert dlq_depth(ns, QUEUE) == 0
    assert sorted(starts(QUEUE)) == sorted(ids)
    # Starts as the limiter saw them (processedOn is Redis's clock, the one the limiter keeps).
    started = sorted(job.processedOn for job in jobs if job and job.processedOn)
    busiest = max(sum(1 for t in started if s <= t < s + 1000) for s in started)
    assert busiest <= 5, f"{busiest} starts within one second"


def _record(message: dict[str, Any]) -> dict[str, Any]:
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
            "attributes": {"ApproximateReceiveCount": "1"}, "eventSource": "aws:sqs"}


class _TimeForOneJob(LocalContext):
    """Time for a job of 500 ms (and the commit margin) but not for a second one after a wait."""

    def get_remaining_time_in_millis(self) -> int:
        return 2600


def test_a_job_over_the_limit_with_no_time_to_wait_is_deferred_without_an_attempt(
        ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    ns = flow_namespace(ns, monkeypatch, FLOW_RATE_PER_SECOND="1")
    producer = Queue(QUEUE)
    first, second = producer.add_bulk([{"name": "call-api", "opts": {"ttl": 500}},
                                       {"name": "call-api", "opts": {"ttl": 500}}])
    url = ns.queue_urls[QUEUE]
    messages = ns.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert len(messages) == 2
    no_time = cast("LambdaContext", _TimeForOneJob("worker"))
    answer = Worker(QUEUE).handle({"Records": [_record(m) for m in messages]}, no_time)
    assert answer == {"batchItemFailures": []}  # both deliveries are done with: one ran, one was re-sent
    assert starts(QUEUE) == [first]
    assert producer.get_state(second) == "waiting" and producer.get_job_counts()["waiting"] == 1
    # The copy: the same job, no attempt counted, delayed until the limit allows one more start.
    copies = ns.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=3,
                                    MessageSystemAttributeNames=["All"])["Messages"]
    copy = JobMessage.model_validate_json(copies[0]["Body"])
    assert (copy.id, copy.attempts_offset) == (second, 0)
    assert int(copies[0]["Attributes"]["ApproximateReceiveCount"]) == 1
    Worker(QUEUE).handle({"Records": [_record(copies[0])]})
    assert starts(QUEUE) == [first, second]
    assert producer.get_job(second).attemptsMade == 1  # type: ignore[union-attr]
    limiter = ns.redis.lrange(ns.settings.queue_keys(QUEUE).limiter, 0, -1)
    assert len(limiter) == 1 and json.loads(limiter[0]) > 0  # max 1: one recent start kept
