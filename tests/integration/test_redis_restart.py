"""A Redis restart in the middle of the flow loses no accepted job: the worker rebuilds lost job state from the
SQS messages, which carry the whole job, and ids handed out after the restart never repeat ids still in SQS."""

from __future__ import annotations

from typing import Any

from jobqueue import Queue
from jobqueue.local.services import EmbeddedRedis
from tests.integration.conftest import Emulator
from tests.support.functions import start_worker_process, wait_for
from tests.support.processors import attempts_of


def test_redis_restarted_mid_batch_every_accepted_job_completes(emulator: Emulator, own_redis: EmbeddedRedis) -> None:
    queue = Queue("lead-processing")
    jobs: list[dict[str, Any]] = [{"name": "process-lead", "data": {"leadId": i, "behavior": "sleep", "seconds": 0.2}}
                                  for i in range(6)]
    ids = queue.add_bulk(jobs)
    worker = start_worker_process(emulator.ns, "lead-processing")
    try:
        wait_for(lambda: any(attempts_of(i) for i in ids), timeout=30)  # a batch is running
        own_redis.restart()
        assert queue.get_job_counts()["active"] == 0, "the restarted Redis is empty"
        later: list[dict[str, Any]] = [{"name": "process-lead", "data": {"leadId": 100 + i}} for i in range(2)]
        later_ids = queue.add_bulk(later)
        assert not set(later_ids) & set(ids), "an id after the restart repeats one still in SQS"
        wait_for(lambda: all(queue.get_state(i) == "completed" for i in ids + later_ids), timeout=60)
    finally:
        worker.terminate()
        worker.wait(10)
    for job_id, sent in zip(ids + later_ids, jobs + later, strict=True):
        job = queue.get_job(job_id)
        assert job is not None
        assert (job.name, job.data, job.state) == (sent["name"], sent["data"], "completed")
        assert job.returnvalue["leadId"] == sent["data"]["leadId"]
