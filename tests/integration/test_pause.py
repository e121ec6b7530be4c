"""Pause (through the API) stops a queue's processing without touching its jobs; resume continues it, and the
deliveries made while paused consume no attempt."""

from __future__ import annotations

import time

from jobqueue import Queue
from tests.integration.conftest import Emulator, HttpApi
from tests.support.functions import LocalFunctions
from tests.support.processors import attempts_of


def test_paused_queue_runs_nothing_and_resumed_queue_runs_each_job_once(emulator: Emulator, api: HttpApi) -> None:
    ns = emulator.ns
    assert api.request("POST", "/queues/lead-processing/pause")[0] == 200
    queue = Queue("lead-processing")
    ids = queue.add_bulk([{"name": "process-lead", "data": {"leadId": i}} for i in range(3)])
    functions = LocalFunctions(ns, ["lead-processing"])
    url = ns.queue_urls["lead-processing"]

    def deferred() -> bool:
        """Every job was delivered to the worker and sent back to wait (a delayed copy in SQS)."""
        attributes = ns.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessagesDelayed"]) == len(ids)

    functions.pump(deferred, timeout=20)
    paused_until = time.monotonic() + 2
    functions.pump(lambda: time.monotonic() > paused_until, timeout=10)  # keep polling the paused queue
    assert all(attempts_of(i) == [] for i in ids)
    status, counts = api.request("GET", "/queues/lead-processing")
    assert status == 200 and counts["paused"], counts
    assert (counts["waiting"], counts["active"], counts["completed"]) == (3, 0, 0), counts

    assert api.request("POST", "/queues/lead-processing/resume")[0] == 200
    functions.pump(lambda: queue.get_job_counts()["completed"] == len(ids), timeout=30)
    for job_id in ids:
        assert [a["attempt"] for a in attempts_of(job_id)] == [1]
        job = queue.get_job(job_id)
        assert job is not None and (job.state, job.attemptsMade) == ("completed", 1)
