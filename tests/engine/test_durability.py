"""A Redis flush while jobs wait or run loses nothing (a killed worker: tests/integration/test_worker_killed.py)."""

from __future__ import annotations

from jobqueue import Queue
from tests.conftest import Namespace, delete_prefix
from tests.support.functions import LocalFunctions, start_worker_process, wait_for


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
    """The job sleeps within its ttl (half the test catalog's 1 s timeout) while Redis is flushed."""
    queue = Queue("lead-processing")
    job_id = queue.add("process-lead", {"leadId": 5, "behavior": "sleep", "seconds": 0.4})
    worker = start_worker_process(ns, "lead-processing")
    try:
        wait_for(lambda: queue.get_state(job_id) == "active", timeout=20)
        delete_prefix(ns.redis, ns.settings.prefix)
        wait_for(lambda: queue.get_state(job_id) == "completed", timeout=20)
    finally:
        worker.terminate()
        worker.wait(10)
    job = queue.get_job(job_id)
    assert job is not None and job.data == {"leadId": 5, "behavior": "sleep", "seconds": 0.4}
