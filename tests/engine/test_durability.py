"""Acceptance 3-4: a worker killed mid-batch loses nothing; a Redis flush while jobs wait loses nothing."""

from __future__ import annotations

import signal
from typing import cast

from jobqueue import Queue
from jobqueue.keys import QueueKeys
from tests.conftest import Namespace, delete_prefix
from tests.support.functions import LocalFunctions, start_worker_process, wait_for
from tests.support.processors import attempts_of


def test_worker_killed_mid_batch_every_job_redelivered_and_completed(ns: Namespace) -> None:
    queue = Queue("lead-processing")
    ids = queue.add_bulk([{"name": "process-lead", "data": {"leadId": i, "behavior": "sleep", "seconds": 0.5}}
                          for i in range(5)])
    first = start_worker_process(ns, "lead-processing")
    try:
        wait_for(lambda: len(attempts_of(ids[0])) == 1, timeout=20)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(10)
    # Killed inside the batch: its first job was running, the rest were started with it.
    counts = queue.get_job_counts()
    assert counts["active"] == 5 and counts["completed"] == 0

    second = start_worker_process(ns, "lead-processing")
    try:
        wait_for(lambda: queue.get_job_counts()["completed"] == 5, timeout=30)
    finally:
        second.terminate()
        second.wait(10)
    for job_id in ids:
        job = queue.get_job(job_id)
        assert job is not None and job.state == "completed"
        assert job.attemptsMade == 2, "the stalled delivery counts as an attempt"
        assert job.returnvalue["attempt"] == 2
    events = cast("list[tuple[str, dict[str, str]]]",
                  ns.redis.xrange(QueueKeys(ns.settings.prefix, "lead-processing").events))
    stalled = {fields["jobId"] for _, fields in events if fields["event"] == "stalled"}
    assert stalled == set(ids)


def test_redis_flushed_while_jobs_wait_they_complete_and_state_is_rebuilt(ns: Namespace) -> None:
    queue = Queue("lead-processing")
    ids = queue.add_bulk([{"name": "process-lead", "data": {"leadId": i}} for i in range(3)])
    delete_prefix(ns.redis, ns.settings.prefix)  # the namespace's equivalent of FLUSHALL
    assert queue.get_job(ids[0]) is None

    later = queue.add("process-lead", {"leadId": 99})
    assert int(later) > max(int(i) for i in ids), "ids after a flush never repeat ids still in SQS"

    functions = LocalFunctions(ns, ["lead-processing"])
    functions.pump(lambda: queue.get_job_counts()["completed"] == 4, timeout=20)
    for i, job_id in enumerate(ids):
        job = queue.get_job(job_id)
        assert job is not None
        assert (job.name, job.data, job.state, job.attemptsMade) == ("process-lead", {"leadId": i}, "completed", 1)
        assert job.returnvalue == {"leadId": i, "attempt": 1}


def test_redis_flushed_while_a_job_runs_it_completes_with_rebuilt_state(ns: Namespace) -> None:
    queue = Queue("lead-processing")
    job_id = queue.add("process-lead", {"leadId": 5, "behavior": "sleep", "seconds": 1})
    worker = start_worker_process(ns, "lead-processing")
    try:
        wait_for(lambda: queue.get_state(job_id) == "active", timeout=20)
        delete_prefix(ns.redis, ns.settings.prefix)
        wait_for(lambda: queue.get_state(job_id) == "completed", timeout=20)
    finally:
        worker.terminate()
        worker.wait(10)
    job = queue.get_job(job_id)
    assert job is not None and job.data == {"leadId": 5, "behavior": "sleep", "seconds": 1}
