"""Pause (through the API) disables the queue's event source mappings through the Lambda API, so none of its
messages is received; resume enables them and every job runs once, with no attempt spent while paused.

The mappings live on the local runtime's Lambda API (on both emulators) and the pollers are the runtime's own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from jobqueue import Queue
from jobqueue.connection import aws_client
from jobqueue.deployment import function_specs
from jobqueue.local.lambda_api import LambdaApi
from jobqueue.local.pollers import EventSourcePoller
from jobqueue.local.runner import FunctionRunner
from jobqueue.local.topology import create_event_source_mappings
from tests.integration.conftest import Emulator, HttpApi
from tests.support.functions import wait_for
from tests.support.processors import attempts_of

QUEUE = "lead-processing"


@pytest.fixture
def pollers(emulator: Emulator, local_lambda: LambdaApi,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EventSourcePoller]]:
    """The queue's worker mappings created through the Lambda API and consumed by pollers, as `jobqueue dev` does;
    the worker runs in this process."""
    ns = emulator.ns
    monkeypatch.setenv("QUEUE_NAME", QUEUE)
    worker = FunctionRunner("worker")
    specs = [s for s in function_specs(ns.catalog) if s.name == f"worker-{QUEUE}"]
    running = [EventSourcePoller(ns.sqs, ns.queue_urls[source.sqs_name], source, worker.invoke, function=spec.name,
                                 concurrency=1, mapping=local_lambda.store.consumer(mapping_id), wait_seconds=1).start()
               for spec, source, mapping_id in create_event_source_mappings(aws_client("lambda"), ns.sqs, specs,
                                                                            ns.queue_urls)]
    yield running
    for poller in running:
        poller.stop(5)


def sqs_counts(emulator: Emulator) -> tuple[int, int, int]:
    """(visible, in flight, delayed) messages of the queue's lane."""
    attributes = emulator.ns.sqs.get_queue_attributes(QueueUrl=emulator.ns.queue_urls[QUEUE], AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    return (int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"]),
            int(attributes["ApproximateNumberOfMessagesDelayed"]))


def test_paused_queue_receives_nothing_and_resumed_queue_runs_each_job_once(
        emulator: Emulator, api: HttpApi, pollers: list[EventSourcePoller]) -> None:
    status, paused = api.request("POST", f"/queues/{QUEUE}/pause")
    assert status == 200 and paused["paused"] and paused["eventSources"]["enabled"] == 0, paused

    def status_of() -> Any:
        return api.request("GET", f"/queues/{QUEUE}")[1]

    wait_for(lambda: status_of()["eventSources"] == {  # Disabled once each poller is between receives
        "enabled": 0, "disabled": len(pollers), "transitioning": 0, "stopped": True}, timeout=10)
    assert all(p.is_disabled.is_set() for p in pollers)
    queue = Queue(QUEUE)
    ids = queue.add_bulk([{"name": "process-lead", "data": {"leadId": i}} for i in range(3)])
    time.sleep(2.5)  # more than two long polls of a poller that would still be receiving
    assert sqs_counts(emulator) == (3, 0, 0), "a paused queue's messages are never received (nor re-sent)"
    assert all(attempts_of(i) == [] for i in ids)
    counts = status_of()
    assert (counts["paused"], counts["waiting"], counts["active"], counts["completed"]) == (1, 3, 0, 0), counts

    status, resumed = api.request("POST", f"/queues/{QUEUE}/resume")
    assert status == 200 and not resumed["paused"], resumed
    wait_for(lambda: queue.get_job_counts()["completed"] == len(ids), timeout=20)
    for job_id in ids:
        assert [a["attempt"] for a in attempts_of(job_id)] == [1]
        job = queue.get_job(job_id)
        assert job is not None and (job.state, job.attemptsMade) == ("completed", 1)
    assert status_of()["eventSources"] == {"enabled": len(pollers), "disabled": 0, "transitioning": 0,
                                           "stopped": False}
