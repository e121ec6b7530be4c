"""Groups at their seams: a group's slot is taken in the round trip that starts a job, so a lost reply, a Redis
error or an SQS refusal around it never runs a job twice, spends no attempt, and leaks no slot."""

from __future__ import annotations

import pytest

from jobqueue import Queue
from jobqueue.flow import gates_for
from jobqueue.scripts import ClaimCode, Delivery, Finish
from jobqueue.worker import Worker
from tests.conftest import Namespace
from tests.support.delivery import receive
from tests.support.faults import Fault, FaultySqs, inject, sqs_down
from tests.support.flow import dlq_depth, flow_namespace
from tests.support.group_processors import starts

QUEUE = "flow-groups-kill"  # group_concurrency 1


def _started(ns: Namespace, worker: Worker, job_id: str) -> None:
    """`job_id` claimed and started by another invocation that is still running it."""
    gates = gates_for(worker.config, 2, None, 0)
    job = Queue(QUEUE).get_job(job_id)
    assert job is not None
    claims = worker.scripts.move_to_active([Delivery(job_id, job.timestamp, "wait", 0, 2, "t")], gates,
                                           worker.now_ms())
    assert claims.codes == [ClaimCode.CLAIMED]
    assert worker.scripts.move_to_finished([], worker.now_ms(), start=job_id, start_group="t",
                                           gates=gates).attempt == 1


def test_a_delivery_refused_for_its_group_whose_copy_sqs_refuses_is_redelivered_without_an_attempt(
        ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    ns = flow_namespace(ns, monkeypatch)
    producer = Queue(QUEUE)
    running, waiting = producer.add_bulk([{"name": "work", "data": {}, "opts": {"group": {"id": "t"}}}
                                                for _ in range(2)])
    records = {r["body"]: r for r in receive(ns, QUEUE)}
    real = Worker(QUEUE)
    _started(ns, real, running)

    faulty = Worker(QUEUE, sqs=FaultySqs(ns.sqs, Fault("error", error=sqs_down)))
    record = next(r for body, r in records.items() if f'"id":"{waiting}"' in body)
    answer = faulty.handle({"Records": [record]})
    assert answer == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}  # left to SQS: redelivered
    slots = ns.settings.queue_keys(QUEUE).group_slots("t")
    assert ns.redis.zrange(slots, 0, -1) == [running]
    job = producer.get_job(waiting)
    assert job is not None and (job.state, job.attemptsMade) == ("waiting", 0)
    assert starts(QUEUE) == []

    # The running job ends: its slot is free, and the redelivery runs the waiting job once, as its first attempt.
    real.scripts.move_to_finished([Finish(running, "completed", 1, "null", group="t")], real.now_ms())
    assert ns.redis.exists(slots) == 0
    visible_again = {**record, "attributes": {"ApproximateReceiveCount": "2"}}
    assert real.handle({"Records": [visible_again]}) == {"batchItemFailures": []}
    assert [s["id"] for s in starts(QUEUE)] == [waiting]
    assert producer.get_job(waiting).attemptsMade == 1  # type: ignore[union-attr]
    assert ns.redis.exists(slots) == 0 and dlq_depth(ns, QUEUE) == 0


def test_a_start_whose_reply_is_lost_is_not_refused_by_its_own_group_slot(
        ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The start took the group's one slot and Redis's reply was lost: asked again, it is the same start."""
    ns = flow_namespace(ns, monkeypatch)
    producer = Queue(QUEUE)
    job_id = producer.add("work", {}, group={"id": "t"})
    worker = Worker(QUEUE)
    fault = inject(worker.scripts, "move_to_finished", Fault("lost-reply"))
    assert worker.handle({"Records": receive(ns, QUEUE)}) == {"batchItemFailures": []}
    assert fault.calls >= 3  # the lost start, its repeat, the commit
    assert [s["id"] for s in starts(QUEUE)] == [job_id]
    job = producer.get_job(job_id)
    assert job is not None and (job.state, job.attemptsMade) == ("completed", 1)
    assert ns.redis.exists(ns.settings.queue_keys(QUEUE).group_slots("t")) == 0
