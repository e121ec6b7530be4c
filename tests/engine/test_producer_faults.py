"""Issue 12, points 1-2: the producer failed or killed between any two of its steps.

The producer's steps: record the jobs in Redis (addJobs, each marked unsent), send them to SQS, clear the marks;
when SQS refused some, roll those back (removeJobs). At each seam a fault is injected (an error before the call,
a reply lost after the call did its work, the process killed before or after it), then the caller either retries
the same call (same `jobId`) or does nothing and only the sweeper runs. Whatever happened, every job runs at most
once, exactly once when the caller was told it was accepted or retried, never when it was told it was not, and
none is left without a message.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from jobqueue import EnqueueError, Queue
from jobqueue.scripts import Delivery, Gates
from tests.conftest import Namespace
from tests.support.delivery import Killed, receive, runs
from tests.support.faults import KINDS, Fault, FaultySqs, Kind, SlowSqs, attempt, inject, sequential, sqs_down
from tests.support.functions import LocalFunctions, messages_in
from tests.support.processors import trace_key

QUEUE = "lead-processing"
REDIS_SEAMS = ("add_jobs", "confirm_sent", "remove_unsent_jobs")


def faulty_queue(ns: Namespace, seam: str, kind: Kind) -> Queue:
    """A producer whose `seam` suffers `kind` once; the rollback seam is reached only when SQS refuses."""
    if seam == "send":
        return Queue(QUEUE, sqs=FaultySqs(ns.sqs, Fault(kind, sqs_down)))
    queue = Queue(QUEUE, sqs=FaultySqs(ns.sqs, Fault("error", sqs_down)) if seam == "remove_unsent_jobs" else None)
    inject(queue.scripts, seam, Fault(kind))
    return queue


def deliver_all(ns: Namespace, queue: str = QUEUE) -> None:
    """The worker takes every message of the queue."""
    LocalFunctions(ns, [queue]).pump(lambda: messages_in(ns, queue) == 0, timeout=30)


def settle(ns: Namespace) -> None:
    """Everything that runs without the caller: the worker, then the sweeper (its grace period passed) and the
    worker again for what it sent."""
    deliver_all(ns)
    Queue(QUEUE).resend_unsent(older_than_ms=0)
    deliver_all(ns)


def assert_nothing_stuck(ns: Namespace) -> None:
    keys = ns.settings.queue_keys(QUEUE)
    pipe = ns.redis.pipeline()
    for key in (keys.wait, keys.unsent):
        pipe.llen(key) if key == keys.wait else pipe.zcard(key)
    pipe.zcard(keys.delayed)
    pipe.zcard(keys.prioritized)
    assert pipe.execute() == [0, 0, 0, 0], "no job waits, and none is marked unsent, once all was delivered"
    assert messages_in(ns, QUEUE) == 0


def all_runs(ns: Namespace) -> int:
    return sum(int(ns.redis.llen(key)) for key in ns.redis.scan_iter(match=trace_key("*")))


SEAMS = [(seam, kind) for seam in ("add_jobs", "send", "confirm_sent", "remove_unsent_jobs") for kind in KINDS]


@pytest.mark.parametrize(("seam", "kind"), SEAMS)
def test_a_retried_add_runs_its_job_exactly_once(ns: Namespace, seam: str, kind: Kind) -> None:
    queue = faulty_queue(ns, seam, kind)
    job = {"name": "process-lead", "data": {"leadId": 7}, "opts": {"jobId": "lead-7"}}
    first, _ = attempt(lambda: queue.add_bulk([job]))
    time.sleep(0.002)  # the retry comes later, as a caller's does
    assert Queue(QUEUE).add_bulk([job]) == ["lead-7"], f"the retry after {first} is accepted"
    deliver_all(ns)
    assert runs("lead-7") == [1], "the retry alone made the job run"
    settle(ns)
    assert runs("lead-7") == [1], "and a copy of the sweeper's does not run it again"
    assert_nothing_stuck(ns)


@pytest.mark.parametrize(("seam", "kind"), SEAMS)
def test_an_add_left_alone_after_a_fault_runs_once_or_not_at_all_as_its_caller_was_told(
        ns: Namespace, seam: str, kind: Kind) -> None:
    queue = faulty_queue(ns, seam, kind)
    seen, answer = attempt(lambda: queue.add_bulk([{"name": "process-lead", "data": {"leadId": 8}}]))
    settle(ns)
    if seen == "accepted":
        assert all_runs(ns) == 1 and runs(answer[0]) == [1]
    elif seen == "error" and not answer.may_run:
        assert all_runs(ns) == 0, f"told nothing will run ({answer}), yet a job ran"
    else:
        assert all_runs(ns) <= 1
    assert_nothing_stuck(ns)


@pytest.mark.parametrize("kind", ["error", "lost-reply"])
def test_sqs_refusing_a_send_rolls_the_job_back_and_says_it_will_not_run(ns: Namespace, kind: Kind) -> None:
    queue = faulty_queue(ns, "send", kind)
    with pytest.raises(EnqueueError, match="SQS refused it, so it was not added") as caught:
        queue.add("process-lead", {"leadId": 9}, jobId="lead-9")
    assert not caught.value.may_run and caught.value.accepted == []
    assert [(r.job_id, r.may_run) for r in caught.value.rejections] == [("lead-9", False)]
    assert Queue(QUEUE).get_job("lead-9") is None
    settle(ns)  # a message SQS took although its reply was lost is dropped: the job was rolled back
    assert runs("lead-9") == []


def test_a_failed_rollback_says_the_job_may_run_and_the_sweeper_sends_it(ns: Namespace) -> None:
    queue = faulty_queue(ns, "remove_unsent_jobs", "error")
    with pytest.raises(EnqueueError, match="rolling it back failed") as caught:
        queue.add("process-lead", {"leadId": 10})
    assert caught.value.may_run
    job_id = caught.value.rejections[0].job_id
    assert job_id is not None
    assert Queue(QUEUE).resend_unsent() == 0, "within its grace period the job is left to its producer"
    settle(ns)
    assert runs(job_id) == [1]


def test_the_sweeper_sends_a_job_whose_producer_died_before_sqs(ns: Namespace) -> None:
    queue = faulty_queue(ns, "send", "kill")
    with pytest.raises(Killed):
        queue.add("process-lead", {"leadId": 11}, jobId="lead-11")
    assert messages_in(ns, QUEUE) == 0 and Queue(QUEUE).get_state("lead-11") == "waiting"
    assert Queue(QUEUE).resend_unsent(older_than_ms=0) == 1
    settle(ns)
    assert runs("lead-11") == [1]
    assert_nothing_stuck(ns)


# -- bulk adds: partly accepted, completed by a retry ------------------------------------------------------

def bulk(count: int, first: int = 0) -> list[dict[str, Any]]:
    return [{"name": "process-lead", "data": {"leadId": i}, "opts": {"jobId": f"lead-{i}"}}
            for i in range(first, first + count)]


def test_a_bulk_add_whose_second_send_fails_says_which_jobs_were_accepted_and_a_retry_completes_it(
        ns: Namespace) -> None:
    queue = Queue(QUEUE, sqs=FaultySqs(ns.sqs, Fault("error", sqs_down, skip=1)))
    queue.transport.send = sequential(queue.transport.send)  # type: ignore[method-assign]
    with pytest.raises(EnqueueError, match="10 of 25 jobs were not accepted") as caught:
        queue.add_bulk(bulk(25))
    exc = caught.value
    assert exc.ids == [f"lead-{i}" for i in range(10)] + [None] * 10 + [f"lead-{i}" for i in range(20, 25)]
    assert [r.index for r in exc.rejections] == list(range(10, 20)) and not exc.may_run
    assert Queue(QUEUE).add_bulk(bulk(25)) == [f"lead-{i}" for i in range(25)]
    settle(ns)
    assert [runs(f"lead-{i}") for i in range(25)] == [[1]] * 25
    assert_nothing_stuck(ns)


def test_a_bulk_add_out_of_time_accepts_what_it_sent_and_rolls_back_the_rest(ns: Namespace) -> None:
    queue = Queue(QUEUE, sqs=SlowSqs(ns.sqs, 0.3))
    jobs = bulk(120)  # 12 SQS calls of 0.3 s, 8 at a time: the last 4 would start after the deadline
    with pytest.raises(EnqueueError, match="40 of 120 jobs were not accepted") as caught:
        queue.add_bulk(jobs, deadline=time.monotonic() + 0.15)
    exc = caught.value
    accepted = exc.accepted
    assert len(accepted) == 80 and not exc.may_run
    assert {r.reason for r in exc.rejections} == {
        "SQS refused it, so it was not added: not sent: the call ran out of time"}
    keys = ns.settings.queue_keys(QUEUE)
    assert ns.redis.llen(keys.wait) == len(accepted), "what was not accepted left nothing in Redis"
    assert ns.redis.zcard(keys.unsent) == 0
    assert sorted(Queue(QUEUE).add_bulk(jobs)) == sorted(j["opts"]["jobId"] for j in jobs)
    settle(ns)
    assert all(runs(f"lead-{i}") == [1] for i in range(120))


# -- races between a rollback and what SQS did after all ----------------------------------------------------

@pytest.mark.parametrize(("behavior", "state", "expected"), [
    ("ok", "completed", [1]), ("flaky", "delayed", [1, 2]), ("sleep", "active", [1])])
def test_a_job_a_worker_took_before_its_lost_reply_came_back_is_accepted_not_rolled_back(
        ns: Namespace, behavior: str, state: str, expected: list[int]) -> None:
    """The worker got the message first: the job completed, failed once and waits for its retry, or runs."""
    def sent_taken_then_reply_lost(**kwargs: Any) -> Any:
        ns.sqs.send_message_batch(**kwargs)
        if behavior == "sleep":
            record = receive(ns)
            claims = Queue(QUEUE).scripts.move_to_active(  # claimed by a worker, its processor not started yet
                [Delivery("lead-12", json.loads(record[0]["body"])["timestamp"], "wait")], Gates("t", 30_000),
                int(time.time() * 1000))
            assert claims.codes == [0]
        else:
            LocalFunctions(ns, [QUEUE]).pump(lambda: Queue(QUEUE).get_state("lead-12") == state, timeout=10)
        raise sqs_down()

    queue = Queue(QUEUE, sqs=FaultySqs(ns.sqs, Fault("error", sqs_down)))
    queue.transport.sqs.send_message_batch = sent_taken_then_reply_lost
    job_id = queue.add("process-lead", {"leadId": 12, "behavior": behavior, "seconds": 0}, jobId="lead-12")
    assert job_id == "lead-12", "its message is in SQS: accepted"
    assert Queue(QUEUE).get_state("lead-12") == state
    assert Queue(QUEUE).add("process-lead", {"leadId": 12}, jobId="lead-12") == "lead-12"
    if behavior != "sleep":
        settle(ns)
        assert runs("lead-12") == expected
        assert_nothing_stuck(ns)


def test_a_retry_whose_resend_fails_never_rolls_back_a_job_an_earlier_add_accepted(ns: Namespace) -> None:
    first = faulty_queue(ns, "confirm_sent", "error")
    assert first.add("process-lead", {"leadId": 13}, jobId="lead-13") == "lead-13"  # accepted, mark left
    time.sleep(0.002)
    retry = faulty_queue(ns, "send", "error")
    with pytest.raises(EnqueueError, match="an earlier add of the same jobId recorded it") as caught:
        retry.add("process-lead", {"leadId": 13}, jobId="lead-13")
    assert caught.value.may_run
    settle(ns)
    assert runs("lead-13") == [1], "the first add's message ran it"
    assert_nothing_stuck(ns)


@pytest.mark.parametrize("kind", KINDS)
def test_a_sweep_cut_short_is_completed_by_the_next_one_and_the_job_runs_once(ns: Namespace, kind: Kind) -> None:
    with pytest.raises(Killed):
        faulty_queue(ns, "send", "kill").add("process-lead", {"leadId": 14}, jobId="lead-14")
    attempt(lambda: Queue(QUEUE, sqs=FaultySqs(ns.sqs, Fault(kind, sqs_down))).resend_unsent(older_than_ms=0))
    settle(ns)  # the next sweep
    assert runs("lead-14") == [1]
    assert_nothing_stuck(ns)
