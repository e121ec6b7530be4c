"""The worker makes its SQS client when a batch first needs one (a cold start whose jobs all complete makes none),
and a client that cannot be made then is a seam like any other: no job lost, none run again, one dead letter."""

from __future__ import annotations

import time
from typing import Any

import pytest

import jobqueue.worker as worker_module
from jobqueue import Queue
from jobqueue.worker import Worker
from tests.conftest import Namespace
from tests.support.delivery import deliver, receive, runs
from tests.support.functions import messages_in

QUEUE = "lead-processing"
DLQ = "lead-processing-dlq"


def no_client(service: str) -> Any:
    raise RuntimeError(f"no {service} client can be made")


def test_a_batch_whose_jobs_complete_makes_no_sqs_client(ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = Queue(QUEUE)
    ids = queue.add_bulk([{"name": "process-lead", "data": {"leadId": i}} for i in range(3)])
    monkeypatch.setattr(worker_module, "aws_client", no_client)
    assert deliver(ns, Worker(QUEUE), receive(ns)) == []
    assert [(queue.get_state(i), runs(i)) for i in ids] == [("completed", [1])] * 3


def test_a_client_that_cannot_be_made_for_a_dead_letter_loses_nothing_and_runs_nothing_twice(
    ns: Namespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = Queue(QUEUE)
    done = queue.add("process-lead", {"leadId": 1})
    dead = queue.add("process-lead", {"leadId": 2, "behavior": "unrecoverable"})
    records = receive(ns)
    with monkeypatch.context() as patch:
        patch.setattr(worker_module, "aws_client", no_client)
        with pytest.raises(RuntimeError, match="no sqs client"):
            Worker(QUEUE).handle({"Records": records})  # the event source leaves the whole batch in SQS
    assert (queue.get_state(done), queue.get_state(dead)) == ("completed", "failed")
    assert messages_in(ns, DLQ) == 0
    redelivered: list[dict[str, Any]] = []
    deadline = time.monotonic() + 40
    for record in records:  # what the visibility timeout would do, sooner
        ns.sqs.change_message_visibility(QueueUrl=ns.queue_urls[QUEUE], ReceiptHandle=record["receiptHandle"],
                                         VisibilityTimeout=0)
    while len(redelivered) < 2 and time.monotonic() < deadline:
        redelivered += receive(ns)
    assert deliver(ns, Worker(QUEUE), redelivered) == []
    assert (runs(done), runs(dead)) == ([1], [1]), "each job ran once"
    assert [queue.get_job(i).attemptsMade for i in (done, dead)] == [1, 1]  # type: ignore[union-attr]
    assert messages_in(ns, DLQ) == 1, "the dead letter owed is paid once"
