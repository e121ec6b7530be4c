"""Issue 12, point 3: redrive and retry-failed (and issue 14's retry of one job, and its promote of delayed jobs) cut
short at every seam, then run again.

Their steps, per batch of 10: move the jobs back to waiting, each marked unsent (retryJobs); send them to SQS;
clear the marks; remove their dead-letter records; when SQS refused, put the jobs back (undoRetryJobs). A fault
at any step (an error, a lost reply, the process killed before or after it) and a second run (plus the sweeper)
end with the dead job run exactly once more and its record gone; at no moment is the record gone while the job
has no message. A promote takes the same steps but the records': a delayed job ends run exactly once, now, and its
old delayed message, arriving after, does not run it again.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jobqueue import Queue, QueueAdmin
from jobqueue.job import JobMessage, JobOptions
from jobqueue.worker import Worker
from tests.conftest import Namespace
from tests.support.delivery import runs
from tests.support.faults import KINDS, Fault, FaultySqs, Kind, attempt, inject, sqs_down
from tests.support.functions import LocalFunctions, messages_in, sqs_record

QUEUE = "lead-processing"
DLQ = "lead-processing-dlq"

Action = Callable[[QueueAdmin], list[str]]
ACTIONS: dict[str, Action] = {"redrive": lambda admin: admin.redrive(), "retry-failed": QueueAdmin.retry_failed,
                              "retry-job": lambda admin: admin.retry_job("lead-1")}
SEAMS = ("retry_jobs", "send", "confirm_sent", "remove_dead_letters", "undo_retry_jobs")
PROMOTE_SEAMS = ("retry_jobs", "send", "confirm_sent", "undo_retry_jobs")


def dead_job(ns: Namespace) -> str:
    """A lead whose first run ever is unrecoverable: dead-lettered with its record, fine when run again."""
    job_id = Queue(QUEUE).add("process-lead", {"leadId": 1, "behavior": "unrecoverable-once"}, jobId="lead-1")
    admin = QueueAdmin(QUEUE)
    LocalFunctions(ns, [QUEUE], dead_letters=[DLQ]).pump(lambda: admin.dead_letter_count() == 1, timeout=30)
    assert runs(job_id) == [1] and admin.queue.get_state(job_id) == "failed"
    return job_id


def faulty_admin(ns: Namespace, seam: str, kind: Kind) -> QueueAdmin:
    """An admin whose `seam` suffers `kind` once; undoRetryJobs is reached only when SQS refuses."""
    if seam == "send":
        return QueueAdmin(QUEUE, sqs=FaultySqs(ns.sqs, Fault(kind, sqs_down)))
    admin = QueueAdmin(QUEUE, sqs=FaultySqs(ns.sqs, Fault("error", sqs_down)) if seam == "undo_retry_jobs" else None)
    inject(admin.dead_letter_scripts if seam == "remove_dead_letters" else admin.scripts, seam, Fault(kind))
    return admin


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize(("seam", "kind"), [(seam, kind) for seam in SEAMS for kind in KINDS])
def test_a_move_cut_short_and_run_again_runs_the_job_once_and_keeps_its_record_until_it_is_durable(
        ns: Namespace, action: str, seam: str, kind: Kind) -> None:
    job_id = dead_job(ns)
    admin = QueueAdmin(QUEUE)
    attempt(lambda: ACTIONS[action](faulty_admin(ns, seam, kind)))
    if admin.dead_letter_count() == 0:
        assert messages_in(ns, QUEUE) >= 1, "the record went before the job was durable again"
    ACTIONS[action](QueueAdmin(QUEUE))  # the operator runs it again
    admin.queue.resend_unsent(older_than_ms=0)
    LocalFunctions(ns, [QUEUE], dead_letters=[DLQ]).pump(
        lambda: messages_in(ns, QUEUE) + messages_in(ns, DLQ) == 0, timeout=30)
    assert runs(job_id) == [1, 1], "dead once, then run exactly once more with fresh attempts"
    assert admin.queue.get_state(job_id) == "completed"
    assert admin.dead_letter_count() == 0
    keys = ns.settings.queue_keys(QUEUE)
    assert (ns.redis.zcard(keys.unsent), ns.redis.llen(keys.wait), ns.redis.zcard(keys.failed)) == (0, 0, 0)


@pytest.mark.parametrize(("seam", "kind"), [(seam, kind) for seam in PROMOTE_SEAMS for kind in KINDS])
def test_a_promote_cut_short_and_run_again_runs_the_delayed_job_once(ns: Namespace, seam: str, kind: Kind) -> None:
    queue, admin = Queue(QUEUE), QueueAdmin(QUEUE)
    job_id = queue.add("process-lead", {"leadId": 2}, jobId="lead-2", delay=3_600_000)
    job = queue.get_job(job_id)
    assert job is not None
    old_body = JobMessage(queue=QUEUE, id=job_id, name=job.name, data=job.data,
                          opts=JobOptions.model_validate(job.opts), timestamp=job.timestamp).body()
    keys = ns.settings.queue_keys(QUEUE)
    outcome, _ = attempt(lambda: faulty_admin(ns, seam, kind).promote())
    state = queue.get_state(job_id)
    assert state in ("delayed", "waiting"), "the job is kept, delayed or waiting"
    if state == "waiting" and ns.redis.zscore(keys.unsent, job_id) is None:
        assert messages_in(ns, QUEUE) == 2, "a job promoted and confirmed sent has its new message"
    if outcome == "accepted":
        assert state == "waiting"
    admin.promote()  # the operator runs it again
    admin.queue.resend_unsent(older_than_ms=0)
    LocalFunctions(ns, [QUEUE]).pump(lambda: messages_in(ns, QUEUE) == 1, timeout=30)  # the old one, delayed
    assert queue.get_state(job_id) == "completed" and runs(job_id) == [1]
    # The old delayed message arrives at last: the job has finished, it is dropped.
    assert Worker(QUEUE).handle({"Records": [sqs_record(old_body, 2)]})["batchItemFailures"] == []
    job = queue.get_job(job_id)
    assert job is not None and job.attemptsMade == 1 and runs(job_id) == [1]
    assert (ns.redis.zcard(keys.unsent), ns.redis.llen(keys.wait), ns.redis.zcard(keys.delayed)) == (0, 0, 0)
