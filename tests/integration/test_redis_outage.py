"""A Redis outage spends no attempt (issue 11): a queue whose jobs have one attempt rides out 30 s without Redis,
with no dead letter, and every job completes once Redis is back (empty: it has no persistence, so the worker
rebuilds each job from its SQS message)."""

from __future__ import annotations

import time

from jobqueue import Queue
from jobqueue.job import JobMessage, JobOptions
from jobqueue.local.services import EmbeddedRedis
from tests.integration.conftest import Emulator
from tests.support.functions import messages_in, start_worker_process, wait_for
from tests.support.processors import attempts_of

OUTAGE_S = 30


def test_a_30_second_redis_outage_dead_letters_nothing(emulator: Emulator, own_redis: EmbeddedRedis) -> None:
    queue = Queue("lead-processing")
    first = queue.add_bulk([{"name": "process-lead", "data": {"leadId": i}, "opts": {"attempts": 1}}
                            for i in range(5)])
    worker = start_worker_process(emulator.ns, "lead-processing")
    try:
        wait_for(lambda: all(queue.get_state(i) == "completed" for i in first), timeout=30)
        own_redis.stop()
        # Accepted before the outage, as SQS holds them: added with Redis up, their messages sent just before.
        later = [f"outage-{i}" for i in range(5)]
        for job_id in later:
            message = JobMessage(queue="lead-processing", id=job_id, name="process-lead", data={"leadId": 1},
                                 opts=JobOptions(attempts=1), timestamp=int(time.time() * 1000))
            emulator.ns.sqs.send_message(QueueUrl=emulator.ns.queue_urls["lead-processing"],
                                         MessageBody=message.body())
        time.sleep(OUTAGE_S)
        assert messages_in(emulator.ns, "lead-processing-dlq") == 0, "no dead letter during the outage"
        own_redis.start()
        wait_for(lambda: all(queue.get_state(i) == "completed" for i in later), timeout=60)
    finally:
        worker.terminate()
        worker.wait(10)
    for job_id in later:
        job = queue.get_job(job_id)
        assert job is not None and job.attemptsMade == 1
        assert [a["attempt"] for a in attempts_of(job_id)] == [1]
    assert messages_in(emulator.ns, "lead-processing-dlq") == 0
