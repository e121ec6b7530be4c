"""Function processes: a killed one is restarted, and the batch it held comes back after its visibility timeout."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest

from jobqueue import Queue
from jobqueue.deployment import EventSource, FunctionSpec, function_specs
from jobqueue.local.lambda_api import Batching
from jobqueue.local.pollers import EventSourcePoller
from jobqueue.local.processes import FunctionPool, InvokeError
from jobqueue.local.runner import sqs_event
from tests.conftest import Namespace
from tests.local.processors import pid_key


def wait_until(condition: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(0.05)


def worker_spec(ns: Namespace, timeout: int) -> FunctionSpec:
    [spec] = [s for s in function_specs(ns.catalog) if s.name == "worker-lead-processing"]
    return FunctionSpec(spec.name, spec.handler, spec.description, timeout, spec.environment, spec.event_sources)


def test_a_killed_process_is_restarted_and_its_batch_redelivered(ns: Namespace,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBQUEUE_PROCESSORS", "tests.local.processors")
    # A timeout longer than the hold, so the process dies by our kill, not by the runtime's timeout. The queue's
    # visibility timeout is the test catalog's (6 s).
    pool = FunctionPool(worker_spec(ns, timeout=120), dict(os.environ), size=1)
    url = ns.queue_urls["lead-processing"]
    poller = EventSourcePoller(ns.sqs, url, EventSource("lead-processing", 10, 0, 1), pool.invoke,
                               function="worker-lead-processing", concurrency=1, mapping=lambda: Batching(10, 0),
                               wait_seconds=1).start()
    try:
        warm = Queue("lead-processing").add("process-lead", {"leadId": 1})  # so the next batch runs as it arrives
        wait_until(lambda: Queue("lead-processing").get_state(warm) == "completed", 60)
        job_id = Queue("lead-processing").add("hold", {"hold": 60})
        wait_until(lambda: ns.redis.llen(pid_key(job_id)) == 1, 60)
        first = int(ns.redis.lindex(pid_key(job_id), 0) or 0)
        assert pool.pids == [first]
        killed_at = time.monotonic()
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: pool.pids and pool.pids != [first], 60)  # restarted, warm before the batch returns
        wait_until(lambda: Queue("lead-processing").get_state(job_id) == "completed", 60)
        assert time.monotonic() - killed_at >= 5  # redelivered only once the 6 s visibility timeout ran out
    finally:
        poller.stop(5)
        pool.close()
    job = Queue("lead-processing").get_job(job_id)
    assert job is not None and job.returnvalue["attempt"] == 2
    second = int(ns.redis.lindex(pid_key(job_id), 1) or 0)
    assert second != first and job.returnvalue["pid"] == second
    assert pool.pids == []


def test_an_invocation_past_the_timeout_is_cut_off_and_its_process_replaced(ns: Namespace,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBQUEUE_PROCESSORS", "tests.local.processors")
    pool = FunctionPool(worker_spec(ns, timeout=1), dict(os.environ), size=1)
    try:
        job_id = Queue("lead-processing").add("hold", {"hold": 30})
        [message] = ns.sqs.receive_message(QueueUrl=ns.queue_urls["lead-processing"], WaitTimeSeconds=5,
                                           MessageSystemAttributeNames=["All"])["Messages"]
        event = sqs_event([message], "arn:aws:sqs:us-east-1:000000000000:lead-processing", "us-east-1")
        with pytest.raises(InvokeError) as raised:
            pool.invoke(event)
        assert raised.value.kind == "timeout"
        assert "Task timed out after 1 seconds" in str(raised.value)
        first = int(ns.redis.lindex(pid_key(job_id), 0) or 0)
        wait_until(lambda: pool.pids and first not in pool.pids, 60)
    finally:
        pool.close()
