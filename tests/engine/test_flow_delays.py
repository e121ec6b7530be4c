"""Delays of any length: delayed in Redis until due, started on time, never an attempt (acceptance 4)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from jobqueue import Queue
from jobqueue.local.runner import poll_once
from jobqueue.worker import Worker
from tests.conftest import Namespace
from tests.support.flow import Consumers, dlq_depth, flow_namespace, worker_function
from tests.support.flow_processors import spans, starts

QUEUE = "flow-delayed"


def test_a_five_second_delay_in_real_time(ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    ns = flow_namespace(ns, monkeypatch)
    producer = Queue(QUEUE)
    job_id = producer.add("remind", delay=5000)
    added = producer.get_job(job_id).timestamp  # type: ignore[union-attr]
    consumers = Consumers(ns, QUEUE, per_lane=1)
    consumers.run_until(lambda: time.time() * 1000 >= added + 3000, timeout=30)
    assert starts(QUEUE) == [] and producer.get_job_counts()["delayed"] == 1
    assert producer.get_state(job_id) == "delayed"
    consumers.run_until(lambda: bool(spans(QUEUE)), timeout=30)
    late_ms = spans(QUEUE)[0]["start"] * 1000 - (added + 5000)
    print(f"5 s delay: started {late_ms:.0f} ms after due")
    assert 0 <= late_ms < 5000, "never early, and within a few seconds"
    assert producer.get_job(job_id).attemptsMade == 1  # type: ignore[union-attr]


class _JumpingSQS:
    """The SQS client of the producer and the worker, recording every DelaySeconds and sending it as 0: the test
    then moves the worker's clock forward by what SQS would have waited."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.delays: list[int] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        self.delays += [int(e.get("DelaySeconds", 0)) for e in Entries]
        return self.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=[{**e, "DelaySeconds": 0} for e in Entries])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sqs, name)


@pytest.mark.parametrize("delay_s", [20 * 60, 2 * 24 * 3600], ids=["20min", "2days"])
def test_long_delays_hop_through_sqs_with_an_injected_clock(ns: Namespace, monkeypatch: pytest.MonkeyPatch,
                                                            delay_s: int) -> None:
    ns = flow_namespace(ns, monkeypatch)
    sqs = _JumpingSQS(ns.sqs)
    producer = Queue(QUEUE, sqs=sqs)
    job_id = producer.add("remind", {"kind": "daily-digest"}, delay=delay_s * 1000)
    due_ms = producer.get_job(job_id).timestamp + delay_s * 1000  # type: ignore[union-attr]
    now = due_ms / 1000 - delay_s
    runner = worker_function(QUEUE)
    runner.module.__dict__["worker"] = Worker(QUEUE, sqs=sqs, clock=lambda: now)  # the handler's worker
    hops = 0
    while not starts(QUEUE):
        assert producer.get_state(job_id) == "delayed" and producer.get_job_counts()["delayed"] == 1
        assert sqs.delays, "a copy of the job is always on its way"
        now += sqs.delays.pop(0)  # SQS's DelaySeconds elapse
        hops += 1
        while not poll_once(ns.sqs, ns.queue_urls[QUEUE], runner, wait_seconds=1):
            pass
    print(f"{delay_s} s delay: {hops} SQS hops, started {now * 1000 - due_ms:.0f} ms after due")
    assert hops == -(-delay_s // 900), "hops of at most 900 s, SQS's longest DelaySeconds"
    assert 0 <= now * 1000 - due_ms < 60_000, "never early, and within the minute"
    job = producer.get_job(job_id)
    assert job is not None and (job.state, job.attemptsMade) == ("completed", 1)
    assert dlq_depth(ns, QUEUE) == 0
