"""A worker process SIGKILLed in the middle of a batch loses no job: the batch's messages come back after their
visibility timeout and a restarted poller completes every job, the stalled delivery counted as an attempt."""

from __future__ import annotations

import signal
from typing import cast

from jobqueue import Queue
from tests.integration.conftest import Emulator
from tests.support.functions import start_worker_process, wait_for
from tests.support.processors import attempts_of


def test_killed_worker_process_loses_no_job(emulator: Emulator) -> None:
    ns = emulator.ns
    queue = Queue("lead-processing")
    # More jobs than one batch (10): some are in the killed batch, the others still wait in SQS.
    ids = queue.add_bulk([{"name": "process-lead", "data": {"leadId": i, "behavior": "sleep", "seconds": 0.2}}
                          for i in range(14)])
    first = start_worker_process(ns, "lead-processing")
    try:
        wait_for(lambda: any(attempts_of(i) for i in ids), timeout=30)  # a batch is running
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(10)
    held = {i for i in ids if queue.get_state(i) == "active"}
    assert held, "the worker was killed inside a batch"
    finished = {i for i in ids if queue.get_state(i) == "completed"}  # committed before the kill
    stalled = {i for i in held if attempts_of(i)}  # its processor ran; the others were claimed, never started

    second = start_worker_process(ns, "lead-processing")
    try:
        wait_for(lambda: queue.get_job_counts()["completed"] == len(ids), timeout=60)
    finally:
        second.terminate()
        second.wait(10)
    for job_id in ids:
        job = queue.get_job(job_id)
        assert job is not None and job.state == "completed"
        expected = 2 if job_id in stalled else 1
        assert (job.attemptsMade, job.returnvalue["attempt"]) == (expected, expected), job_id
        assert len(attempts_of(job_id)) == expected, "attempts equal real runs; a finished job never runs again"
    assert finished.isdisjoint(stalled)
    events = cast("list[tuple[str, dict[str, str]]]",
                  ns.redis.xrange(ns.settings.queue_keys("lead-processing").events))
    assert {fields["jobId"] for _, fields in events if fields["event"] == "stalled"} == stalled
    attributes = ns.sqs.get_queue_attributes(QueueUrl=ns.queue_urls["lead-processing"], AttributeNames=["All"])
    assert int(attributes["Attributes"]["ApproximateNumberOfMessages"]) == 0
