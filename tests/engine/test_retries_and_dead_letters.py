"""Acceptance 1-2: retries with backoff, redrive to the DLQ, the dead-letter record and the on_dead hook."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest

from jobqueue import Queue
from tests.conftest import Namespace
from tests.support.dead_letters import DEAD_FIELDS, dlq_records
from tests.support.functions import LocalFunctions, messages_in
from tests.support.processors import attempts_of
from workloads.stores import LeadStore

pytestmark = pytest.mark.cluster  # also run on a real Redis Cluster (tests/conftest.py)


def test_seed_000_timeline_five_attempts_then_redrive_and_permanently_failed(ns: Namespace) -> None:
    status = LeadStore()
    status.put({"leadId": "42", "email": "lead@example.com"})
    queue = Queue("lead-processing")
    job_id = queue.add("process-lead", {"leadId": 42, "behavior": "fail"})
    worker = LocalFunctions(ns, ["lead-processing"])
    worker.pump(lambda: queue.get_state(job_id) == "failed", timeout=40)

    attempts = attempts_of(job_id)
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4, 5]
    waits = [(b["at"] - a["at"]) / 1000 for a, b in pairwise(attempts)]
    for wait, expected in zip(waits, [1, 2, 4, 8], strict=True):
        assert expected <= wait < expected + 2.5, waits

    # The fifth failure is recorded in Redis first, then the worker forwards the job to the DLQ with why it died
    # (SQS redrive is only the safety net above the attempts, RECEIVE_MARGIN receives later).
    moved = ns.sqs.receive_message(QueueUrl=ns.queue_urls["lead-processing-dlq"], MessageAttributeNames=["All"],
                                   MessageSystemAttributeNames=["All"], VisibilityTimeout=0)["Messages"]
    assert [json.loads(m["Body"])["id"] for m in moved] == [job_id]
    attributes = moved[0]["MessageAttributes"]
    assert attributes["jobqueue-failed-reason"]["StringValue"] == "CRM sync failed on attempt 5"
    assert attributes["jobqueue-attempts-made"]["StringValue"] == "5"
    assert messages_in(ns, "lead-processing") == 0, "the source message is deleted once its dead letter is sent"

    dead = LocalFunctions(ns, [], ["lead-processing-dlq"])
    dead.pump(lambda: (status.get("42") or {}).get("status") == "PERMANENTLY_FAILED", timeout=10)
    [record] = dlq_records(ns, "lead-processing-dlq")
    assert set(record) == DEAD_FIELDS
    assert record["originalJobId"] == job_id
    assert record["queue"] == "lead-processing"
    assert record["name"] == "process-lead"
    assert record["data"] == {"leadId": 42, "behavior": "fail"}
    assert record["error"] == "CRM sync failed on attempt 5"
    assert record["attemptsMade"] == 5
    lead = status.get("42")
    assert lead is not None
    assert lead["failure"] == {"originalJobId": job_id, "leadId": "42", "error": "CRM sync failed on attempt 5",
                               "attemptsMade": 5, "failedAt": record["failedAt"]}
    job = queue.get_job(job_id)
    assert job is not None
    assert (job.state, job.attemptsMade, job.failedReason) == ("failed", 5, "CRM sync failed on attempt 5")
    # The seed's runbook numbers.
    assert ns.redis.zcard(ns.settings.queue_keys("lead-processing").failed) == 1
    assert ns.redis.llen(ns.settings.queue_keys("lead-processing-dlq").wait) == 1


def test_unrecoverable_error_dead_letters_after_one_attempt(ns: Namespace) -> None:
    status = LeadStore()
    status.put({"leadId": "7"})
    queue = Queue("lead-processing")
    job_id = queue.add("process-lead", {"leadId": 7, "behavior": "unrecoverable"})
    functions = LocalFunctions(ns, ["lead-processing"], ["lead-processing-dlq"])
    functions.pump(lambda: (status.get("7") or {}).get("status") == "PERMANENTLY_FAILED", timeout=15)
    assert [a["attempt"] for a in attempts_of(job_id)] == [1]
    [record] = dlq_records(ns, "lead-processing-dlq")
    assert (record["error"], record["attemptsMade"]) == ("lead has no address", 1)
    job = queue.get_job(job_id)
    assert job is not None
    assert (job.state, job.attemptsMade) == ("failed", 1)


def test_job_failing_twice_then_succeeding_completes_with_three_attempts(ns: Namespace) -> None:
    queue = Queue("lead-processing")
    job_id = queue.add("process-lead", {"leadId": 8, "behavior": "flaky", "failures": 2})
    functions = LocalFunctions(ns, ["lead-processing"], ["lead-processing-dlq"])
    functions.pump(lambda: queue.get_state(job_id) == "completed", timeout=20)
    job = queue.get_job(job_id)
    assert job is not None
    assert job.attemptsMade == 3
    assert job.returnvalue == {"leadId": 8, "attempt": 3}
    assert job.progress == 100
    assert queue.get_job_logs(job_id) == (["done on attempt 3"], 1)
    assert [t.startswith("Traceback") for t in job.stacktrace] == [True, True], "one per failed attempt"
    assert dlq_records(ns, "lead-processing-dlq") == []


def test_job_with_fewer_attempts_than_the_queue_allows_is_forwarded_when_exhausted(ns: Namespace) -> None:
    # email allows 5 attempts (password_reset) so its maxReceiveCount is 5; a generic email has 3.
    queue = Queue("email")
    job_id = queue.add("generic", {"behavior": "fail"}, backoff={"type": "fixed", "delay": 100})
    functions = LocalFunctions(ns, ["email"], ["dead"])
    functions.pump(lambda: ns.redis.llen(ns.settings.queue_keys("dead").wait) == 1, timeout=20)
    assert [a["attempt"] for a in attempts_of(job_id)] == [1, 2, 3]
    [record] = dlq_records(ns, "dead")
    assert (record["error"], record["attemptsMade"]) == ("CRM sync failed on attempt 3", 3)
    assert ns.redis.hget(ns.settings.queue_keys("dead").job(f"email-{job_id}"), "name") == "email_failed"


def test_remove_on_complete_keeps_only_the_newest_finished_jobs(ns: Namespace) -> None:
    queue = Queue("lead-processing")
    ids = queue.add_bulk([{"name": "process-lead", "data": {"leadId": i}, "opts": {"removeOnComplete": 2}}
                          for i in range(4)])
    functions = LocalFunctions(ns, ["lead-processing"])
    functions.pump(lambda: all(queue.get_job(i) is None or queue.get_state(i) == "completed" for i in ids)
                   and queue.get_job_counts()["waiting"] == 0, timeout=15)
    assert queue.get_job_counts()["completed"] == 2
    kept = [i for i in ids if queue.get_job(i) is not None]
    assert len(kept) == 2
    assert all(not ns.redis.exists(ns.settings.queue_keys("lead-processing").logs(i))
               for i in ids if i not in kept)
