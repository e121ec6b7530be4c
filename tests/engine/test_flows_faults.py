"""Issue 16, point 3: flows with a fault at every seam. Adding a flow is all or nothing for its caller; a child's
finish and its parent's update are two calls (one per queue), and a worker that dies between them, or is
killed mid-flow, still leaves every job of the flow run exactly once, its parent released and sent."""

from __future__ import annotations

import contextlib
import os
import signal
from typing import Any

import pytest

from jobqueue import Queue
from jobqueue.flow_parents import ParentUpdates
from jobqueue.flow_producer import FlowProducer
from jobqueue.scripts import Scripts
from jobqueue.worker import Worker
from tests.conftest import Namespace
from tests.engine.test_flows import QUEUES, drain, job, node, three_levels
from tests.support.delivery import Killed, runs
from tests.support.faults import KINDS, Fault, FaultySqs, Kind, attempt, inject, sqs_down
from tests.support.functions import LocalFunctions, messages_in, start_worker_process, wait_for


def sweep(ns: Namespace) -> None:
    """The sweeper, its grace period passed: parent updates first, then the unsent jobs of every queue."""
    ParentUpdates(catalog=ns.catalog, settings=ns.settings, redis=ns.redis, sqs=ns.sqs).sweep()
    for queue in QUEUES:
        Queue(queue).resend_unsent(older_than_ms=0)


def settle(ns: Namespace) -> None:
    """What runs without the caller, its grace periods passed: the sweeper, then the workers, a few times over."""
    for _ in range(3):
        sweep(ns)
        drain(ns)


def ids_of(flow: Any) -> list[str]:
    return [flow.id] + [i for child in flow.children for i in ids_of(child)]


def assert_nothing_stuck(ns: Namespace) -> None:
    for queue in QUEUES:
        keys = ns.settings.queue_keys(queue)
        counts = Queue(queue).get_job_counts()
        assert {s: n for s, n in counts.items() if s not in ("completed", "failed")} == dict.fromkeys(
            ("active", "delayed", "prioritized", "waiting", "waiting-children"), 0), f"{queue}: {counts}"
        assert ns.redis.zcard(keys.unsent) == 0 and ns.redis.hlen(keys.parent_updates) == 0
        assert messages_in(ns, queue) == 0


def step_runs(ns: Namespace) -> dict[str, list[int]]:
    """Every traced run, by job id."""
    prefix = f"{ns.settings.prefix}:~jobqueue:trace:"
    return {key.removeprefix(prefix): runs(key.removeprefix(prefix)) for key in ns.redis.scan_iter(match=prefix + "*")}


# -- adding: a fault at each seam ------------------------------------------------------------------------------

ADD_FAULTS: list[tuple[str, int, Kind]] = [
    *[("add_flow_jobs", 0, k) for k in ("error", "kill")],
    *[("add_flow_jobs", 2, k) for k in KINDS],
    *[("send", 0, k) for k in ("error", "lost-reply", "kill")],
    *[(seam, 0, k) for seam in ("confirm_sent", "confirm_flow_parents", "remove_flow_jobs") for k in ("error", "kill")],
]
"""Faults in the email queue's calls of an add of `three_levels`: its 1st add_flow_jobs records the deepest level,
its 3rd the root (every kind: whether the root was written decides the flow's fate); the SQS send; clearing the
marks of the sent jobs and of the parents; the rollback SQS refusing leads to (the fault on its first call). A
reply lost after the root, or after anything later, is a kill-after for what follows, which `kill` covers."""


def faulty_producer(ns: Namespace, seam: str, skip: int, kind: Kind) -> FlowProducer:
    if seam == "send":
        return FlowProducer(sqs=FaultySqs(ns.sqs, Fault(kind, sqs_down)))
    producer = FlowProducer(sqs=FaultySqs(ns.sqs, Fault("error", sqs_down)) if seam == "remove_flow_jobs" else None)
    inject(producer.queue("email").scripts, seam, Fault(kind, skip=skip))
    return producer


@pytest.mark.parametrize(("seam", "skip", "kind"), ADD_FAULTS)
def test_a_flow_add_cut_at_any_seam_runs_all_its_jobs_once_or_none_as_its_caller_was_told(
        ns: Namespace, seam: str, skip: int, kind: Kind) -> None:
    producer = faulty_producer(ns, seam, skip, kind)
    seen, answer = attempt(lambda: producer.add(three_levels()))
    settle(ns)
    ran = step_runs(ns)
    if seen == "accepted":
        assert sorted(ran) == sorted(ids_of(answer)) and all(r == [1] for r in ran.values())
    elif seen == "error" and not answer.may_run:
        assert ran == {}, f"told nothing will run ({answer}), yet jobs ran"
    else:
        assert ran == {} or (len(ran) == 5 and all(r == [1] for r in ran.values())), \
            f"all of the flow ran once, or none of it: {ran}"
    if ran:
        roots = [j for i in ran if (j := Queue("email").get_job(i)) is not None and j.parent is None]
        assert [r.state for r in roots] == ["completed"], "the flow's root ran last, once"
    assert_nothing_stuck(ns)


# -- running: the seam between a child's finish and its parent's update ---------------------------------------

def test_a_worker_dying_between_a_childs_finish_and_its_parents_update_leaves_it_to_the_sweeper(
        ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    fault = Fault("kill", times=2)
    monkeypatch.setattr(ParentUpdates, "apply", fault.around(ParentUpdates.apply))
    flow = FlowProducer().add(three_levels())
    workers = {q: Worker(q) for q in QUEUES}
    for _ in range(20):
        for queue, worker in workers.items():
            records = receive_all(ns, queue)
            with contextlib.suppress(Killed):  # died after committing: its messages would come back, dropped
                worker.handle({"Records": records})
            delete(ns, queue, records)
        if Queue("email").get_state(flow.id) == "completed":
            break
        sweep(ns)
    assert fault.calls >= 2
    assert Queue("email").get_state(flow.id) == "completed"
    assert all(r == [1] for r in step_runs(ns).values()) and len(step_runs(ns)) == 5
    settle(ns)
    assert all(r == [1] for r in step_runs(ns).values())
    assert_nothing_stuck(ns)


@pytest.mark.parametrize("kind", ["error", "lost-reply"])
def test_redis_failing_the_parents_update_leaves_it_to_the_sweeper(ns: Namespace, monkeypatch: pytest.MonkeyPatch,
                                                                   kind: Kind) -> None:
    """The second call fails (nothing done), or its reply is lost (the parent released, its message not sent)."""
    fault = Fault(kind)
    monkeypatch.setattr(Scripts, "update_parent", fault.around(Scripts.update_parent))
    flow = FlowProducer().add(node("report", "email", node("page", "lead-processing")))
    drain(ns)
    assert fault.calls == 1 and Queue("email").get_state(flow.id) == ("waiting-children" if kind == "error"
                                                                      else "waiting")
    settle(ns)
    assert Queue("email").get_state(flow.id) == "completed"
    assert runs(flow.id) == [1] and runs(flow.children[0].id) == [1]
    assert_nothing_stuck(ns)


@pytest.mark.parametrize("kind", ["error", "lost-reply"])
@pytest.mark.parametrize("skip", [0, 1])
def test_a_childs_start_or_commit_cut_still_tells_its_parent_in_the_same_run(
        ns: Namespace, monkeypatch: pytest.MonkeyPatch, kind: Kind, skip: int) -> None:
    """A child's finish reads its `parent` field only because its start answered it has one: the start (skip 0)
    or the commit (skip 1) failing or losing its reply is asked again, and the parent is still told at once."""
    fault = Fault(kind, skip=skip)
    monkeypatch.setattr(Scripts, "move_to_finished", fault.around(Scripts.move_to_finished))
    flow = FlowProducer().add(node("report", "email", node("page", "lead-processing")))
    drain(ns)
    assert fault.calls > skip + 1
    assert Queue("email").get_state(flow.id) == "completed", "told by the worker, not left to the sweeper"
    assert runs(flow.id) == [1] and runs(flow.children[0].id) == [1]
    assert_nothing_stuck(ns)


def test_a_parent_released_but_not_sent_is_sent_by_the_sweeper(ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jobqueue.flow_parents.send_jobs", Fault("kill", times=3).around(
        __import__("jobqueue.flow_parents", fromlist=["send_jobs"]).send_jobs))
    flow = FlowProducer().add(node("report", "email", node("page", "lead-processing")))
    records = receive_all(ns, "lead-processing")
    with pytest.raises(Killed):
        Worker("lead-processing").handle({"Records": records})
    delete(ns, "lead-processing", records)
    assert Queue("email").get_state(flow.id) == "waiting", "released, its message not sent"
    monkeypatch.undo()
    settle(ns)
    assert Queue("email").get_state(flow.id) == "completed"
    assert runs(flow.id) == [1] and runs(flow.children[0].id) == [1]
    assert_nothing_stuck(ns)


def test_a_worker_killed_mid_flow_still_completes_it_with_attempts_equal_to_runs(ns: Namespace) -> None:
    """SIGKILL of the worker process while a middle job runs: it stalls, runs again, and its parent runs once."""
    ns.env["JOBQUEUE_PROCESSORS"] = "tests.support.flow_jobs"
    flow = FlowProducer().add(node("report", "email",
                                   {**node("section", "lead-processing", node("page", "email")),
                                    "data": {"label": "section", "seconds": 0.8}, "opts": {"attempts": 2, "ttl": 900}}))
    section = flow.children[0]
    LocalFunctions(ns, ["email"]).pump(lambda: Queue("lead-processing").get_state(section.id) == "waiting", 15)
    process = start_worker_process(ns, "lead-processing")
    try:
        wait_for(lambda: runs(section.id) == [1], timeout=20)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    LocalFunctions(ns, QUEUES).pump(lambda: Queue("email").get_state(flow.id) == "completed", timeout=40)
    assert runs(section.id) == [1, 2], "the stalled attempt counted, the second one finished"
    assert job(ns, "lead-processing", section.id).attemptsMade == 2
    assert runs(flow.id) == [1] and runs(flow.children[0].children[0].id) == [1]
    assert_nothing_stuck(ns)


def receive_all(ns: Namespace, queue: str) -> list[dict[str, Any]]:
    records = []
    for lane in ns.catalog.queue(queue).lanes():
        messages = ns.sqs.receive_message(QueueUrl=ns.queue_urls[lane.sqs_name], MaxNumberOfMessages=10,
                                          MessageSystemAttributeNames=["All"]).get("Messages", [])
        records += [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                     "attributes": {"ApproximateReceiveCount": m["Attributes"]["ApproximateReceiveCount"]},
                     "messageAttributes": {}, "eventSource": "aws:sqs", "lane": lane.sqs_name} for m in messages]
    return records


def delete(ns: Namespace, queue: str, records: list[dict[str, Any]]) -> None:
    for r in records:
        ns.sqs.delete_message(QueueUrl=ns.queue_urls[r["lane"]], ReceiptHandle=r["receiptHandle"])


def test_a_job_a_worker_took_before_sqs_refused_another_runs_alone_and_the_caller_is_told(ns: Namespace) -> None:
    """SQS takes the email leaf and a worker runs it; then SQS refuses the other leaf: the rest is rolled back."""
    sends = 0

    def send_then_run_then_refuse(**kwargs: Any) -> Any:
        nonlocal sends
        sends += 1
        if sends > 1:
            raise sqs_down()
        answer = ns.sqs.send_message_batch(**kwargs)
        drain(ns)
        return answer

    producer = FlowProducer(sqs=FaultySqs(ns.sqs, Fault("error", sqs_down, times=0)))
    producer.sqs.send_message_batch = send_then_run_then_refuse
    seen, answer = attempt(lambda: producer.add(node("report", "email", node("a", "email"),
                                                     node("b", "lead-processing"))))
    assert seen == "error" and answer.may_run and "runs alone" in str(answer)
    settle(ns)
    assert [r for r in step_runs(ns).values()] == [[1]], "the leaf a worker took ran, once; nothing else did"
    assert_nothing_stuck(ns)


def test_a_job_of_a_flow_whose_rollback_failed_is_held_until_the_sweeper_removes_it(ns: Namespace) -> None:
    """SQS refused the email leaves, took the other; rolling back failed: that leaf's delivery must not run it."""
    seen, answer = attempt(lambda: faulty_producer(ns, "remove_flow_jobs", 0, "error").add(three_levels()))
    assert seen == "error" and answer.may_run
    records = receive_all(ns, "lead-processing")
    assert len(records) == 1
    assert Worker("lead-processing").handle({"Records": records}) == {"batchItemFailures": []}
    delete(ns, "lead-processing", records)
    assert step_runs(ns) == {}, "held: a copy comes back later, no attempt spent"
    settle(ns)
    assert step_runs(ns) == {}
    assert_nothing_stuck(ns)


def test_a_child_killed_by_sqs_redrive_fails_its_parent_through_the_sweeper(ns: Namespace) -> None:
    """A child whose worker died on every delivery ends in its DLQ by SQS redrive, not by a worker's finish: the
    dead-letter function records it failed and its parent's update, which the sweeper applies."""
    flow = FlowProducer().add(node("report", "email", node("page", "lead-processing")))
    child = flow.children[0].id
    records = receive_all(ns, "lead-processing")
    dying = Worker("lead-processing")
    inject(dying.scripts, "move_to_finished", Fault("kill"))
    with contextlib.suppress(Killed):  # claimed, then the invocation died: the job is left active
        dying.handle({"Records": records})
    delete(ns, "lead-processing", records)  # SQS gave up on it (maxReceiveCount) and moved it to the DLQ:
    dlq = ns.catalog.queue("lead-processing").dead_letter
    ns.sqs.send_message(QueueUrl=ns.queue_urls[dlq], MessageBody=records[0]["body"])
    LocalFunctions(ns, [], [dlq]).pump(lambda: messages_in(ns, dlq) == 0, 10)
    assert Queue("lead-processing").get_state(child) == "failed"
    assert Queue("email").get_state(flow.id) == "waiting-children"
    sweep(ns)
    assert Queue("email").get_state(flow.id) == "failed"
    assert step_runs(ns) == {}, "the child never ran to its end, and the parent never ran"
    settle(ns)
    assert_nothing_stuck(ns)
