"""`make bench-local`: jobs per second end to end through the local runtime, next to what its SQS emulator
itself moves.

The whole `jobqueue dev` runtime starts in this process (the AWS endpoint and Redis as `jobqueue dev` picks
them: AWS_ENDPOINT_URL or an embedded moto, REDIS_URL or a throwaway redis-server), under key and queue
prefixes of its own. `--jobs` jobs are added to the `workflow` queue (no-op processor below) and timed until
Redis counts them all completed. In the same run, the same endpoint's raw rate: one queue, messages sent,
received and deleted 10 per call by one client, never more than 10 waiting: the emulator's own ceiling for
the calls the runtime makes. moto's SQS spends time on every message a queue holds at each call, so the
end-to-end figure (whose jobs are all added at once) falls as `--jobs` grows.
Figures are printed, not judged; the last line is one JSON object.

    .venv/bin/python -m bench.local_throughput --jobs 500 --concurrency 5
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

from jobqueue import Job, Queue, QueueAdmin, processor

QUEUE = "workflow"


@processor(QUEUE)
def no_op(job: Job) -> None:
    """The benchmark's processor: does nothing, so the figure is the runtime's own cost."""


def end_to_end(jobs: int) -> float:
    """Jobs per second from the first add until Redis counts every job completed."""
    producer, admin = Queue(QUEUE), QueueAdmin(QUEUE)
    target = admin.metrics()["completed"] + jobs
    started = time.perf_counter()
    for start in range(0, jobs, 500):
        producer.add_bulk([{"name": "noop", "data": {"n": n}} for n in range(start, min(jobs, start + 500))])
    while admin.metrics()["completed"] < target:
        time.sleep(0.1)
    return jobs / (time.perf_counter() - started)


def emulator_rate(sqs: Any, messages: int) -> float:
    """Messages per second through send + receive + delete, 10 per call, one client, on a fresh queue."""
    url = sqs.create_queue(QueueName=f"bench-raw-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    try:
        started, done = time.perf_counter(), 0
        while done < messages:
            count = min(10, messages - done)
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": json.dumps({"n": done + i})} for i in range(count)])
            received: list[dict[str, Any]] = []
            while len(received) < count:
                received += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                WaitTimeSeconds=1).get("Messages", [])
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)])
            done += len(received)
        return messages / (time.perf_counter() - started)
    finally:
        sqs.delete_queue(QueueUrl=url)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=5,
                        help="JOBQUEUE_LOCAL_MAX_CONCURRENCY for the run (workflow's own is 5)")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.concurrency < 1:
        parser.error("--jobs and --concurrency must be at least 1")
    token = uuid.uuid4().hex[:8]
    os.environ.update({"JOBQUEUE_PREFIX": f"bench-{token}", "JOBQUEUE_SQS_PREFIX": f"bench-{token}-",
                       "JOBQUEUE_SCHEDULE_PREFIX": f"bench-{token}-", "JOBQUEUE_PROCESSORS": "bench.local_throughput",
                       "JOBQUEUE_LOCAL_MAX_CONCURRENCY": str(args.concurrency), "JOBQUEUE_API_PORT": "0",
                       "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING")})
    from jobqueue.connection import aws_client, redis_client
    from jobqueue.local.dev import LocalRuntime
    from jobqueue.settings import get_settings

    runtime = LocalRuntime().start()
    endpoint = os.environ["AWS_ENDPOINT_URL"]  # stop() restores the environment it changed
    try:
        end_to_end(20)  # warm-up: function processes started, clients connected
        jobs_per_s = end_to_end(args.jobs)
        raw = emulator_rate(aws_client("sqs"), args.jobs)
    finally:
        settings = get_settings()
        client = redis_client(settings.redis_url)
        keys = list(client.scan_iter(match=f"{settings.prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.unlink(*keys[start:start + 500])
        runtime.stop()
    print(f"end to end through the local runtime: {jobs_per_s:8.1f} jobs/s  ({args.jobs} no-op jobs, "
          f"concurrency {args.concurrency}, batch 10)")
    print(f"raw SQS send+receive+delete:          {raw:8.1f} msgs/s ({args.jobs} messages, 10 per call, one client, "
          f"{endpoint})")
    print(json.dumps({"jobs_per_s": round(jobs_per_s, 1), "emulator_msgs_per_s": round(raw, 1), "jobs": args.jobs,
                      "concurrency": args.concurrency}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
