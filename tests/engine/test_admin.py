"""Queue management (jobqueue.admin) against real Redis and moto's SQS, with the real worker functions."""

from __future__ import annotations

import json
import time
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError

from jobqueue import (
    DeadLetterInfo,
    EnqueueError,
    InvalidArgumentError,
    Job,
    JobActiveError,
    JobNotFoundError,
    Queue,
    QueueAdmin,
    UnrecoverableError,
    processor,
)
from jobqueue.connection import aws_client, redis_for
from jobqueue.errors import EventSourceError, UnknownQueueError
from jobqueue.job import JobMessage, JobOptions
from jobqueue.keys import QueueKeys
from jobqueue.local.runner import poll_once
from jobqueue.mappings import EventSourceStates
from jobqueue.settings import get_settings
from jobqueue.worker import Worker
from tests.conftest import Namespace
from tests.support.bullmq_py import read_state_node
from tests.support.delivery import runs as runs_of
from tests.support.functions import LocalFunctions, messages_in, sqs_record
from tests.support.mappings import create_worker_mappings, mapping_states
from tests.support.processors import attempts_of, trace_key

pytestmark = pytest.mark.cluster  # also run on a real Redis Cluster (tests/conftest.py)


@processor("email", "once")
def bad_the_first_time(job: Job) -> dict[str, Any]:
    """Unrecoverable on the job's first run ever, fine afterwards: a dead job worth redriving."""
    client = redis_for(get_settings())
    runs = int(client.rpush(trace_key(job.id), json.dumps({"attempt": job.attempt, "at": int(time.time() * 1000)})))
    if runs == 1:
        raise UnrecoverableError("bad data the first time")
    return {"attempt": job.attempt, "runs": runs}


@processor("lead-processing", "remove-self")
def remove_self(job: Job) -> dict[str, Any]:
    """Tries to remove its own job while it runs."""
    try:
        QueueAdmin("lead-processing").remove(job.id)
    except JobActiveError as exc:
        return {"refused": str(exc)}
    return {"refused": None}


def keys_of(ns: Namespace, queue: str) -> QueueKeys:
    return ns.settings.queue_keys(queue)


def events_of(ns: Namespace, queue: str) -> list[dict[str, str]]:
    entries = cast("list[tuple[str, dict[str, str]]]", ns.redis.xrange(keys_of(ns, queue).events))
    return [fields for _, fields in entries]


class RefusingSqs:
    """SQS whose SendMessageBatch is down; the rest is the real client."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def get_queue_url(self, **kwargs: Any) -> Any:
        return self.real.get_queue_url(**kwargs)

    def send_message_batch(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendMessageBatch")


# -- reading -----------------------------------------------------------------------------------------------

def test_metrics_and_pages_agree_with_job_counts_and_the_npm_client(ns: Namespace) -> None:
    queue, admin = Queue("email"), QueueAdmin("email")
    waiting = queue.add_bulk([{"name": "plain", "data": {"i": i}} for i in range(5)])
    prioritized = queue.add_bulk([{"name": "generic", "data": {"i": i}} for i in range(2)])  # priority 5
    delayed = queue.add("plain", {"later": True}, delay=3_600_000)

    assert admin.metrics() == {"queueName": "email", "waiting": 7, "active": 0, "completed": 0, "failed": 0,
                               "delayed": 1, "paused": 0, "total": 8}
    assert [j.id for j in admin.get_jobs("waiting", 0, 1)] == [waiting[4], waiting[3]]
    assert [j.id for j in admin.get_jobs("waiting", 2, 4)] == [waiting[2], waiting[1], waiting[0]]
    assert [j.id for j in admin.get_jobs("wait", 0, -1)] == waiting[::-1]
    assert [j.id for j in admin.get_jobs("waiting", 0, 1, asc=True)] == waiting[:2]
    assert [j.id for j in admin.get_jobs("waiting", 5, 9)] == []
    page = admin.get_jobs("prioritized")
    assert {j.id for j in page} == set(prioritized) and {j.state for j in page} == {"prioritized"}
    [later] = admin.get_jobs("delayed")
    assert later == queue.get_job(delayed)
    assert admin.get_jobs("waiting", 0, 0)[0] == queue.get_job(waiting[4])
    with pytest.raises(InvalidArgumentError, match="state 'running' is not one of waiting, active"):
        admin.get_jobs("running")

    queue.add("plain", {"behavior": "unrecoverable"})
    functions = LocalFunctions(ns, ["email"], ["dead"])
    functions.pump(lambda: admin.metrics()["completed"] == 7 and admin.metrics()["failed"] == 1, timeout=30)
    completed = admin.get_jobs("completed", 0, -1)
    assert len(completed) == 7 and all(j.state == "completed" for j in completed)
    finished = [cast("int", j.finishedOn) for j in completed]
    assert finished == sorted(finished, reverse=True)
    [failed] = admin.get_jobs("failed")
    assert failed.failedReason == "lead has no address"

    counts = queue.get_job_counts()
    metrics = admin.metrics()
    assert metrics == {"queueName": "email", "waiting": counts["waiting"] + counts["prioritized"],
                       "active": counts["active"], "completed": counts["completed"], "failed": counts["failed"],
                       "delayed": counts["delayed"], "paused": 0,
                       "total": counts["waiting"] + counts["prioritized"] + counts["active"] + counts["delayed"]}
    assert read_state_node(ns.settings.redis_url, ns.settings.prefix, {"email": []},
                           cluster=ns.settings.redis_cluster)["email"]["counts"] == counts


# -- pause -------------------------------------------------------------------------------------------------

def test_pause_defers_deliveries_without_an_attempt_and_resume_runs_them(ns: Namespace) -> None:
    queue, admin = Queue("lead-processing"), QueueAdmin("lead-processing")
    admin.pause()
    admin.pause()  # idempotent
    assert admin.is_paused()
    assert ns.redis.hget(keys_of(ns, "lead-processing").meta, "paused") == "1"  # BullMQ 6's flag
    assert admin.metrics()["paused"] == 1

    job_id = queue.add("process-lead", {"leadId": 1})
    functions = LocalFunctions(ns, ["lead-processing"])
    runner, url = functions.pollers[0]
    assert poll_once(ns.sqs, url, runner, wait_seconds=1) == 1  # the worker got it ...
    job = queue.get_job(job_id)
    assert job is not None
    assert (job.state, job.attemptsMade, job.processedOn) == ("waiting", 0, None)  # ... and left it waiting
    assert attempts_of(job_id) == []
    assert messages_in(ns, "lead-processing") == 1  # a delayed copy replaced the delivery

    admin.resume()
    assert not admin.is_paused() and admin.metrics()["paused"] == 0
    functions.pump(lambda: queue.get_state(job_id) == "completed", timeout=20)
    job = queue.get_job(job_id)
    assert job is not None and job.attemptsMade == 1
    assert [a["attempt"] for a in attempts_of(job_id)] == [1]
    assert [e["event"] for e in events_of(ns, "lead-processing") if e["event"] in ("paused", "resumed")] == [
        "paused", "paused", "resumed"]


def test_a_redelivery_while_paused_spends_no_attempt(ns: Namespace) -> None:
    queue, admin = Queue("lead-processing"), QueueAdmin("lead-processing")
    job_id = queue.add("process-lead", {"leadId": 4})
    url = ns.queue_urls["lead-processing"]
    [original] = ns.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    ns.sqs.delete_message(QueueUrl=url, ReceiptHandle=original["ReceiptHandle"])
    admin.pause()
    # The job's second delivery (its first was lost to an invocation that failed) reaches a worker of the paused
    # queue: SQS counted two receives, Redis no attempt.
    assert Worker("lead-processing").handle({"Records": [sqs_record(original["Body"], receive_count=2)]}) == {
        "batchItemFailures": []}
    assert queue.get_state(job_id) == "waiting" and attempts_of(job_id) == []
    assert messages_in(ns, "lead-processing") == 1
    admin.resume()
    LocalFunctions(ns, ["lead-processing"]).pump(lambda: queue.get_state(job_id) == "completed", timeout=20)
    assert [a["attempt"] for a in attempts_of(job_id)] == [1], "the receives before it spent no attempt"


class FailingUpdates:
    """A Lambda client whose next `failures` UpdateEventSourceMapping calls are refused (throttled)."""

    def __init__(self, failures: int) -> None:
        self.client, self.failures = aws_client("lambda"), failures

    def update_event_source_mapping(self, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}},
                              "UpdateEventSourceMapping")
        return self.client.update_event_source_mapping(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_pause_disables_the_mapping_of_every_lane_and_resume_enables_them(ns: Namespace) -> None:
    assert len(create_worker_mappings(ns, "email")) == 2  # email-p1 and email
    admin = QueueAdmin("email")
    assert admin.pause() == EventSourceStates(enabled=0, disabled=2, transitioning=0)
    assert admin.is_paused() and mapping_states(ns, "email") == ["Disabled", "Disabled"]
    assert admin.pause().stopped  # idempotent
    assert admin.event_sources() == EventSourceStates(enabled=0, disabled=2, transitioning=0)
    assert admin.resume() == EventSourceStates(enabled=2, disabled=0, transitioning=0)
    assert not admin.is_paused() and mapping_states(ns, "email") == ["Enabled", "Enabled"]
    assert not admin.event_sources().stopped


def test_a_refused_mapping_update_is_an_error_that_leaves_the_queue_paused_and_a_retry_completes(
        ns: Namespace) -> None:
    create_worker_mappings(ns, "email")
    admin = QueueAdmin("email", lambda_client=FailingUpdates(failures=1))
    with pytest.raises(EventSourceError, match=r"disabling 1 event source mappings failed.*TooManyRequests"):
        admin.pause()
    assert admin.is_paused()  # the flag came first: deliveries meanwhile are deferred, never run
    assert sorted(mapping_states(ns, "email")) == ["Disabled", "Enabled"]
    assert admin.pause().stopped  # the retry finishes it
    assert mapping_states(ns, "email") == ["Disabled", "Disabled"]

    admin = QueueAdmin("email", lambda_client=FailingUpdates(failures=2))
    with pytest.raises(EventSourceError, match="enabling 2 event source mappings failed"):
        admin.resume()
    assert admin.is_paused()  # mappings first: a queue never reads as running while nothing receives it
    assert admin.resume() == EventSourceStates(enabled=2, disabled=0, transitioning=0)
    assert not admin.is_paused()


# -- removing ----------------------------------------------------------------------------------------------

def test_drain_removes_waiting_jobs_and_the_worker_drops_their_messages(ns: Namespace) -> None:
    with pytest.raises(UnknownQueueError, match="unknown queue 'nope'"):
        QueueAdmin("nope")
    queue, admin = Queue("email"), QueueAdmin("email")
    plain = queue.add_bulk([{"name": "plain", "data": {"i": i}} for i in range(3)])
    urgent = queue.add("password_reset", {"to": "a@example.com"})  # prioritized
    later = queue.add("plain", {"later": True}, delay=2000)

    assert admin.drain() == 4
    assert admin.metrics()["waiting"] == 0 and admin.metrics()["delayed"] == 1
    assert all(queue.get_job(i) is None for i in [*plain, urgent])
    removed = {e["jobId"]: e["prev"] for e in events_of(ns, "email") if e["event"] == "removed"}
    assert removed == {**dict.fromkeys(plain, "wait"), urgent: "prioritized"}
    assert messages_in(ns, "email") == 5  # their messages are still on their way

    functions = LocalFunctions(ns, ["email"])
    functions.pump(lambda: queue.get_state(later) == "completed" and messages_in(ns, "email") == 0, timeout=20)
    assert all(attempts_of(i) == [] for i in [*plain, urgent]), "drained jobs never run"
    assert all(queue.get_job(i) is None for i in [*plain, urgent]), "nor are they restored"
    assert admin.metrics()["completed"] == 1

    queue.add("plain", {}, delay=60_000)
    queue.add("plain", {})
    assert admin.drain(include_delayed=True) == 2
    assert admin.metrics()["total"] == 0


def test_remove_a_job_in_any_state_but_active(ns: Namespace) -> None:
    queue, admin = Queue("lead-processing"), QueueAdmin("lead-processing")
    keys = keys_of(ns, "lead-processing")
    waiting = queue.add("process-lead", {"leadId": 1})
    delayed = queue.add("process-lead", {"leadId": 2}, delay=3_600_000)
    assert admin.remove(waiting) is True
    assert admin.remove(delayed) is True
    assert admin.remove(waiting) is False
    assert admin.remove("no-such-job") is False
    assert admin.metrics()["total"] == 0
    assert ns.redis.zcard(keys.removed) == 2

    active = queue.add("remove-self", {})
    functions = LocalFunctions(ns, ["lead-processing"])
    functions.pump(lambda: queue.get_state(active) == "completed" and messages_in(ns, "lead-processing") == 1,
                   timeout=20)
    assert attempts_of(waiting) == [], "the removed job's message was dropped"
    job = queue.get_job(active)
    assert job is not None and "is active; remove it once it has finished" in job.returnvalue["refused"]

    assert admin.remove(active) is True  # completed now
    assert queue.get_job(active) is None and admin.metrics()["completed"] == 0
    assert ns.redis.zcard(keys.removed) == 3, "a finished job's duplicate message must be dropped too: a tombstone"
    assert [(e["jobId"], e["prev"]) for e in events_of(ns, "lead-processing") if e["event"] == "removed"] == [
        (waiting, "wait"), (delayed, "delayed"), (active, "completed")]


def test_a_custom_id_added_again_after_removal_runs_once_with_its_new_data(ns: Namespace) -> None:
    queue, admin = Queue("lead-processing"), QueueAdmin("lead-processing")
    queue.add("process-lead", {"leadId": 1}, jobId="lead-x")
    assert admin.remove("lead-x")
    time.sleep(0.01)  # a new incarnation: added in a later millisecond
    assert queue.add("process-lead", {"leadId": 2}, jobId="lead-x") == "lead-x"
    functions = LocalFunctions(ns, ["lead-processing"])
    functions.pump(lambda: queue.get_state("lead-x") == "completed" and messages_in(ns, "lead-processing") == 0,
                   timeout=20)
    assert len(attempts_of("lead-x")) == 1
    job = queue.get_job("lead-x")
    assert job is not None and job.returnvalue == {"leadId": 2, "attempt": 1}


def test_lost_state_is_still_restored_for_jobs_that_were_not_removed(ns: Namespace) -> None:
    queue, admin = Queue("lead-processing"), QueueAdmin("lead-processing")
    keys = keys_of(ns, "lead-processing")
    removed, lost = queue.add_bulk([{"name": "process-lead", "data": {"leadId": i}} for i in range(2)])
    assert admin.remove(removed)
    ns.redis.delete(keys.job(lost))  # a failover lost this one's state
    ns.redis.lrem(keys.wait, 0, lost)
    functions = LocalFunctions(ns, ["lead-processing"])
    functions.pump(lambda: queue.get_state(lost) == "completed" and messages_in(ns, "lead-processing") == 0,
                   timeout=20)
    assert attempts_of(removed) == [] and queue.get_job(removed) is None


def test_deliveries_that_would_not_run_now_are_dropped_too_when_their_job_was_removed(ns: Namespace) -> None:
    queue, admin = Queue("lead-processing"), QueueAdmin("lead-processing")
    job_id = queue.add("process-lead", {"leadId": 3}, delay=3_600_000)
    job = queue.get_job(job_id)
    assert job is not None
    body = JobMessage(queue="lead-processing", id=job_id, name=job.name, data=job.data,
                      opts=JobOptions.model_validate(job.opts), timestamp=job.timestamp).body()
    assert admin.remove(job_id)
    worker = Worker("lead-processing")
    # A re-delay hop of a job due in an hour: it would be sent on again, but its job is gone.
    assert worker.handle({"Records": [sqs_record(body)]})["batchItemFailures"] == []
    # An exhausted delivery: it would be dead-lettered and recorded failed, but its job is gone.
    assert worker.handle({"Records": [sqs_record(body, receive_count=9)]})["batchItemFailures"] == []
    assert messages_in(ns, "lead-processing") == 1  # only the original, still delayed by SQS
    assert messages_in(ns, "lead-processing-dlq") == 0
    assert queue.get_job(job_id) is None and admin.metrics()["failed"] == 0


def test_clean_removes_jobs_older_than_the_grace_period(ns: Namespace) -> None:
    queue, admin = Queue("lead-processing"), QueueAdmin("lead-processing")
    keys = keys_of(ns, "lead-processing")
    done = queue.add_bulk([{"name": "process-lead", "data": {"leadId": i}} for i in range(3)])
    dead = queue.add("process-lead", {"leadId": 9, "behavior": "unrecoverable"})
    functions = LocalFunctions(ns, ["lead-processing"])
    functions.pump(lambda: admin.metrics()["completed"] == 3 and admin.metrics()["failed"] == 1, timeout=20)

    assert admin.clean(60_000) == []  # all finished within the last minute
    first = admin.clean(0, limit=2)
    assert len(first) == 2 and set(first) < set(done)
    assert all(queue.get_job(i) is None and not ns.redis.exists(keys.logs(i)) for i in first)
    assert admin.clean(0) == [i for i in done if i not in first]
    assert admin.clean(0, state="failed") == [dead]
    assert admin.metrics()["completed"] == admin.metrics()["failed"] == 0
    assert ns.redis.zcard(keys.removed) == 4, "a finished job's duplicate message must be dropped: a tombstone each"
    cleaned = [int(e["count"]) for e in events_of(ns, "lead-processing") if e["event"] == "cleaned"]
    assert cleaned == [0, 2, 1, 1]

    fresh = queue.add("process-lead", {"leadId": 10})
    assert admin.clean(60_000, state="waiting") == []
    assert admin.clean(0, state="wait") == [fresh]
    functions.pump(lambda: messages_in(ns, "lead-processing") == 0, timeout=20)
    assert attempts_of(fresh) == []

    with pytest.raises(InvalidArgumentError, match="state 'active' is not one of completed, failed"):
        admin.clean(0, state="active")
    with pytest.raises(InvalidArgumentError, match="grace_ms must be an integer >= 0"):
        admin.clean(-1)
    with pytest.raises(InvalidArgumentError, match="limit must be"):
        admin.clean(0, limit=-5)


# -- putting jobs back to work -----------------------------------------------------------------------------

def test_retry_failed_runs_an_unrecoverable_job_again_with_fresh_attempts(ns: Namespace) -> None:
    queue, admin = Queue("email"), QueueAdmin("email")
    job_id = queue.add("once", {"to": "a@example.com"})
    functions = LocalFunctions(ns, ["email"], ["dead"])
    functions.pump(lambda: admin.dead_letter_count() == 1, timeout=20)
    job = queue.get_job(job_id)
    assert job is not None and (job.state, job.attemptsMade) == ("failed", 1)

    assert admin.retry_failed() == [job_id]
    job = queue.get_job(job_id)
    assert job is not None
    assert (job.state, job.attemptsMade, job.failedReason, job.finishedOn, job.processedOn) == (
        "waiting", 0, None, None, None)
    assert admin.dead_letters() == [], "its dead-letter record went with it"
    assert {"event": "waiting", "jobId": job_id, "prev": "failed", "sqs": "1"} in events_of(ns, "email")
    assert {"event": "removed", "jobId": f"email-{job_id}", "prev": "wait"} in events_of(ns, "dead")

    functions.pump(lambda: queue.get_state(job_id) == "completed", timeout=20)
    job = queue.get_job(job_id)
    assert job is not None and job.attemptsMade == 1 and job.returnvalue == {"attempt": 1, "runs": 2}
    assert [a["attempt"] for a in attempts_of(job_id)] == [1, 1]
    assert admin.retry_failed() == []


def test_promote_runs_a_delayed_job_now_once_and_its_old_delayed_message_does_not_run_it_again(
        ns: Namespace) -> None:
    queue, admin = Queue("lead-processing"), QueueAdmin("lead-processing")
    job_id = queue.add("process-lead", {"leadId": 7}, delay=3_600_000)
    other = queue.add("process-lead", {"leadId": 8}, delay=3_600_000)
    job = queue.get_job(job_id)
    assert job is not None
    old_body = JobMessage(queue="lead-processing", id=job_id, name=job.name, data=job.data,
                          opts=JobOptions.model_validate(job.opts), timestamp=job.timestamp).body()

    assert admin.promote([job_id, "no-such-job"]) == [job_id]
    assert queue.get_state(job_id) == "waiting" and queue.get_state(other) == "delayed"
    assert ns.redis.hget(keys_of(ns, "lead-processing").job(job_id), "delay") == "0"
    assert {"event": "waiting", "jobId": job_id, "prev": "delayed", "sqs": "1"} in events_of(ns, "lead-processing")
    assert ns.redis.zcard(keys_of(ns, "lead-processing").unsent) == 0
    LocalFunctions(ns, ["lead-processing"]).pump(lambda: queue.get_state(job_id) == "completed", timeout=20)

    # The old delayed message arrives, a hop of it and then at its due time (a worker an hour ahead): dropped.
    for worker in (Worker("lead-processing"), Worker("lead-processing", clock=lambda: time.time() + 3601)):
        assert worker.handle({"Records": [sqs_record(old_body)]})["batchItemFailures"] == []
    job = queue.get_job(job_id)
    assert job is not None and job.attemptsMade == 1 and runs_of(job_id) == [1]
    assert admin.promote([job_id]) == [], "a finished job is not delayed"
    assert admin.promote() == [other] and queue.get_state(other) == "waiting"


def test_the_old_delayed_message_of_a_promoted_job_arriving_first_never_runs_it_twice(ns: Namespace) -> None:
    queue, admin = Queue("lead-processing"), QueueAdmin("lead-processing")
    job_id = queue.add("process-lead", {"leadId": 9}, delay=3_600_000)
    job = queue.get_job(job_id)
    assert job is not None
    old_body = JobMessage(queue="lead-processing", id=job_id, name=job.name, data=job.data,
                          opts=JobOptions.model_validate(job.opts), timestamp=job.timestamp).body()
    assert admin.promote() == [job_id]
    # A hop of the old message before the new one ran: it does not run the job, it is sent on to its due time.
    assert Worker("lead-processing").handle({"Records": [sqs_record(old_body)]})["batchItemFailures"] == []
    assert queue.get_state(job_id) == "waiting" and runs_of(job_id) == []
    # At its due time (a worker an hour ahead) it runs the job, not yet run; the new message is then dropped.
    later = Worker("lead-processing", clock=lambda: time.time() + 3601)
    assert later.handle({"Records": [sqs_record(old_body, 2)]})["batchItemFailures"] == []
    assert queue.get_state(job_id) == "completed"
    # Left: the original and the hop's copy, both delayed by SQS.
    LocalFunctions(ns, ["lead-processing"]).pump(lambda: messages_in(ns, "lead-processing") == 2, timeout=20)
    job = queue.get_job(job_id)
    assert job is not None and job.attemptsMade == 1 and runs_of(job_id) == [1]


def test_promoting_a_retry_waiting_out_its_backoff_runs_its_next_attempt_now(ns: Namespace) -> None:
    queue, admin = Queue("lead-processing"), QueueAdmin("lead-processing")
    job_id = queue.add("process-lead", {"leadId": 11, "behavior": "flaky", "failures": 1}, attempts=3,
                       backoff={"type": "fixed", "delay": 3_600_000})
    functions = LocalFunctions(ns, ["lead-processing"])
    functions.pump(lambda: queue.get_state(job_id) == "delayed", timeout=20)
    assert admin.promote() == [job_id]
    functions.pump(lambda: queue.get_state(job_id) == "completed", timeout=20)
    job = queue.get_job(job_id)
    assert job is not None and job.attemptsMade == 2 and runs_of(job_id) == [1, 2]


def test_sqs_refusing_a_promote_leaves_the_job_delayed_as_it_was(ns: Namespace) -> None:
    queue = Queue("lead-processing")
    job_id = queue.add("process-lead", {"leadId": 10}, delay=3_600_000)
    keys = keys_of(ns, "lead-processing")
    score = ns.redis.zscore(keys.delayed, job_id)
    with pytest.raises(EnqueueError, match="SQS refused 1 of 1 jobs"):
        QueueAdmin("lead-processing", sqs=RefusingSqs(ns.sqs)).promote()
    assert ns.redis.zscore(keys.delayed, job_id) == score and queue.get_state(job_id) == "delayed"
    assert ns.redis.hget(keys.job(job_id), "delay") == "3600000"
    assert ns.redis.zcard(keys.unsent) == 0 and ns.redis.llen(keys.wait) == 0
    assert events_of(ns, "lead-processing")[-1]["event"] == "delayed"


def test_dead_letters_list_redrive_and_remove(ns: Namespace) -> None:
    email, admin = Queue("email"), QueueAdmin("email")
    kept = email.add("once", {"to": "a@example.com"})
    trimmed = email.add("once", {"to": "b@example.com"})
    other = Queue("search").add("index_doc", {"doc": 1})  # no processor: dies into the shared `dead` queue
    functions = LocalFunctions(ns, ["email", "search"], ["dead"])
    functions.pump(lambda: admin.dead_letter_count() == 2 and QueueAdmin("search").dead_letter_count() == 1,
                   timeout=20)
    assert admin.remove(trimmed), "the failed job goes; its dead letter stays"

    letters = admin.dead_letters()
    assert {letter.recordId for letter in letters} == {f"email-{kept}", f"email-{trimmed}"}
    letter = next(x for x in letters if x.originalJobId == kept)
    assert letter == DeadLetterInfo(recordId=f"email-{kept}", originalJobId=kept, queue="email", name="once",
                                    data={"to": "a@example.com"}, error="bad data the first time", attemptsMade=1,
                                    failedAt=letter.failedAt)
    assert letter.failedAt.endswith("Z")
    assert len(admin.dead_letters(0, 0)) == 1 and admin.dead_letters(2, 5) == []
    with pytest.raises(JobNotFoundError, match="no dead letters"):
        admin.redrive([f"search-{other}"])
    assert admin.remove_dead_letter(f"search-{other}") is False

    # Redis lost the job: it is re-created from its record, under its id, with the catalog's options.
    assert admin.redrive([f"email-{trimmed}"]) == [trimmed]
    job = email.get_job(trimmed)
    assert job is not None and (job.state, job.name, job.data) == ("waiting", "once", {"to": "b@example.com"})
    assert admin.redrive() == [kept]
    assert admin.dead_letters() == [] and admin.redrive() == []
    functions.pump(lambda: email.get_job_counts()["completed"] == 2, timeout=20)
    for job_id in (kept, trimmed):
        job = email.get_job(job_id)
        assert job is not None and job.attemptsMade == 1

    search = QueueAdmin("search")
    [dead] = search.dead_letters()
    assert search.remove_dead_letter(dead.recordId) is True
    assert search.remove_dead_letter(dead.recordId) is False
    assert search.dead_letters() == [] and ns.redis.llen(keys_of(ns, "dead").wait) == 0


def test_dead_letter_pages_drop_records_another_client_removed(ns: Namespace) -> None:
    """Pages read the queue's own index of records; a record a BullMQ client or redis-cli removed leaves it."""
    email, admin = Queue("email"), QueueAdmin("email")
    ids = email.add_bulk([{"name": "once", "data": {"i": i}} for i in range(3)])
    functions = LocalFunctions(ns, ["email"], ["dead"])
    functions.pump(lambda: admin.dead_letter_count() == 3, timeout=20)
    dead, gone = keys_of(ns, "dead"), f"email-{ids[1]}"
    assert ns.redis.zcard(dead.dead_letters_of("email")) == 3
    ns.redis.lrem(dead.wait, 1, gone)  # what BullMQ's job.remove() does to a waiting job
    ns.redis.delete(dead.job(gone))

    assert [letter.recordId for letter in admin.dead_letters()] == [f"email-{ids[2]}", f"email-{ids[0]}"]
    assert admin.dead_letter_count() == 2 and ns.redis.zcard(dead.dead_letters_of("email")) == 2
    assert admin.remove_dead_letter(f"email-{ids[0]}") and admin.dead_letter_count() == 1
    assert ns.redis.lrange(dead.wait, 0, -1) == [f"email-{ids[2]}"]


def test_redrive_of_all_reports_progress_per_batch(ns: Namespace) -> None:
    queue, admin = Queue("email"), QueueAdmin("email")
    ids = queue.add_bulk([{"name": "once", "data": {"i": i}} for i in range(12)])
    functions = LocalFunctions(ns, ["email"], ["dead"])
    functions.pump(lambda: admin.dead_letter_count() == 12, timeout=30)
    calls: list[tuple[int, int]] = []
    redriven = admin.redrive(on_progress=lambda done, total: calls.append((done, total)))
    assert sorted(redriven) == sorted(ids) and calls == [(10, 12), (12, 12)]
    functions.pump(lambda: admin.metrics()["completed"] == 12, timeout=30)
    assert admin.metrics()["failed"] == 0 and admin.dead_letter_count() == 0
    counts = queue.get_job_counts()
    state = read_state_node(ns.settings.redis_url, ns.settings.prefix, {"email": ids},
                            cluster=ns.settings.redis_cluster)["email"]
    assert state["counts"] == counts
    assert {job["attemptsMade"] for job in state["jobs"].values()} == {1}


def test_sqs_refusing_a_retry_leaves_the_job_failed_and_its_record_in_place(ns: Namespace) -> None:
    queue, admin = Queue("email"), QueueAdmin("email")
    failed = queue.add("once", {"to": "a@example.com"})
    lost = queue.add("once", {"to": "b@example.com"})
    functions = LocalFunctions(ns, ["email"], ["dead"])
    functions.pump(lambda: admin.dead_letter_count() == 2, timeout=20)
    assert admin.remove(lost)
    before = queue.get_job(failed)
    letters = admin.dead_letters()

    refusing = QueueAdmin("email", sqs=RefusingSqs(ns.sqs))
    with pytest.raises(EnqueueError, match="SQS refused 1 of 1 jobs") as raised:
        refusing.retry_failed()
    assert (raised.value.accepted, list(raised.value.rejected)) == ([], [failed])
    with pytest.raises(EnqueueError, match="SQS refused 2 of 2 jobs"):
        refusing.redrive()

    assert queue.get_job(failed) == before
    assert queue.get_job(lost) is None
    assert sorted(admin.dead_letters(), key=lambda x: x.recordId) == sorted(letters, key=lambda x: x.recordId)
    assert admin.metrics() == {"queueName": "email", "waiting": 0, "active": 0, "completed": 0, "failed": 1,
                               "delayed": 0, "paused": 0, "total": 0}
    assert messages_in(ns, "email") == 0
