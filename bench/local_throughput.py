"""`make bench-local`: jobs per second end to end through the local runtime, next to what its SQS emulator
itself moves.

The whole `jobqueue dev` runtime starts in this process (the AWS endpoint and Redis as `jobqueue dev` picks
them: AWS_ENDPOINT_URL or an embedded moto, REDIS_URL or a throwaway redis-server), under key and queue
prefixes of its own. `--jobs` jobs are added to the `workflow` queue (no-op processor below) and timed until
Redis counts them all completed. In the same run, the same endpoint's raw rate: one queue, messages sent,
received and deleted 10 per call by one client, never more than 10 waiting: the emulator's own ceiling for
the calls the runtime makes. moto's SQS spends time on every message a queue holds at each call, so the
end-to-end figure (whose jobs are all added at once) falls as `--jobs` grows.
Also in the same run: a bulk `POST /jobs` of `--bulk` jobs through the runtime's API (the queue paused meanwhile,
so only the add is timed) next to the raw SendMessageBatch rate of the same endpoint (`--bulk` messages, 10 per call,
one client, no receive). Figures are printed, not judged; the last line is one JSON object.

    $ .venv/bin/python -m bench.local_throughput --jobs 500 --concurrency 5
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request
import uuid
from collections.abc import Sequence
from typing import Any

from jobqueue import Job, Queue, QueueAdmin, processor

QUEUE = "workflow"


@processor(QUEUE)
def no_op(job: Job) -> None:
    """The benchmark's processor: does nothing, so the figure is the runtime's own cost."""


def completed_total(admin: QueueAdmin) -> int:
    """Jobs of the queue ever completed (BullMQ's metrics count): the completed set is trimmed by retention."""
    return int(admin.redis.hget(admin.keys.metrics("completed"), "count") or 0)


def end_to_end(jobs: int) -> float:
    """Jobs per second from the first add until Redis counts every job completed."""
    producer, admin = Queue(QUEUE), QueueAdmin(QUEUE)
    target = completed_total(admin) + jobs
    started = time.perf_counter()
    for start in range(0, jobs, 500):
        producer.add_bulk([{"name": "noop", "data": {"n": n}} for n in range(start, min(jobs, start + 500))])
    while completed_total(admin) < target:
        time.sleep(0.1)
    return jobs / (time.perf_counter() - started)


def api_bulk_rate(api_url: str, token: str, jobs: int) -> float:
    """Jobs per second of one bulk `POST /jobs` of `jobs` jobs, from the request until its 202 (every job durable)."""
    body = json.dumps({"queue": QUEUE, "jobs": [{"name": "noop", "data": {"n": n}} for n in range(jobs)]}).encode()
    request = urllib.request.Request(f"{api_url}/jobs", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        if response.status != 202:
            raise RuntimeError(f"bulk POST /jobs answered {response.status}: {response.read()[:300]!r}")
    return jobs / (time.perf_counter() - started)


def bulk_add(api_url: str, token: str, jobs: int) -> float:
    """`api_bulk_rate` with the queue paused (its mappings stopped, so workers take no emulator time from the add),
    then resumed until every job has completed."""
    admin = QueueAdmin(QUEUE)
    target = completed_total(admin) + 10 + jobs
    admin.pause()
    try:
        api_bulk_rate(api_url, token, 10)  # warm-up: the API function's process started, its models built
        rate = api_bulk_rate(api_url, token, jobs)
    finally:
        admin.resume()
    while completed_total(admin) < target:
        time.sleep(0.1)
    return rate


def emulator_send_rate(sqs: Any, messages: int) -> float:
    """Messages per second through SendMessageBatch alone, 10 per call, one client, on a fresh queue."""
    url = sqs.create_queue(QueueName=f"bench-send-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    try:
        started = time.perf_counter()
        for done in range(0, messages, 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": json.dumps({"name": "noop", "data": {"n": done + i}})}
                for i in range(min(10, messages - done))])
        return messages / (time.perf_counter() - started)
    finally:
        sqs.delete_queue(QueueUrl=url)


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
    parser.add_argument("--bulk", type=int, default=1000, help="jobs in the bulk POST /jobs (the API takes 1..1000)")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.concurrency < 1:
        parser.error("--jobs and --concurrency must be at least 1")
    if not 1 <= args.bulk <= 1000:
        parser.error("--bulk must be 1..1000")
    token = uuid.uuid4().hex[:8]
    service_token = uuid.uuid4().hex
    os.environ.update({"JOBQUEUE_PREFIX": f"bench-{token}", "JOBQUEUE_SQS_PREFIX": f"bench-{token}-",
                       "JOBQUEUE_SCHEDULE_PREFIX": f"bench-{token}-", "JOBQUEUE_PROCESSORS": "bench.local_throughput",
                       "JOBQUEUE_LOCAL_MAX_CONCURRENCY": str(args.concurrency), "JOBQUEUE_API_PORT": "0",
                       "SERVICE_TOKEN": service_token,
                       "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING")})
    from jobqueue.connection import aws_client, redis_for
    from jobqueue.local.dev import LocalRuntime
    from jobqueue.settings import get_settings

    runtime = LocalRuntime().start()
    endpoint = os.environ["AWS_ENDPOINT_URL"]  # stop() restores the environment it changed
    try:
        end_to_end(20 * args.concurrency)  # warm-up: every function process the run uses started, clients connected
        jobs_per_s = end_to_end(args.jobs)
        raw = emulator_rate(aws_client("sqs"), args.jobs)
        bulk_per_s = bulk_add(runtime.api.url if runtime.api else "", service_token, args.bulk)
        raw_send = emulator_send_rate(aws_client("sqs"), args.bulk)
    finally:
        settings = get_settings()
        client = redis_for(settings)
        keys = list(client.scan_iter(match=f"{settings.prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.unlink(*keys[start:start + 500])
        runtime.stop()
    print(f"end to end through the local runtime: {jobs_per_s:8.1f} jobs/s  ({args.jobs} no-op jobs, "
          f"concurrency {args.concurrency}, batch 10)")
    print(f"raw SQS send+receive+delete:          {raw:8.1f} msgs/s ({args.jobs} messages, 10 per call, one client, "
          f"{endpoint})")
    print(f"bulk POST /jobs through the API:      {bulk_per_s:8.1f} jobs/s ({args.bulk} jobs in one request)")
    print(f"raw SQS SendMessageBatch:             {raw_send:8.1f} msgs/s ({args.bulk} messages, 10 per call, "
          "one client)")
    print(f"ratios: end to end {jobs_per_s / raw:.2f}x of send+receive+delete, bulk add {bulk_per_s / raw_send:.2f}x "
          "of SendMessageBatch (issue 13's floor: 0.5x each)")
    print(json.dumps({"jobs_per_s": round(jobs_per_s, 1), "emulator_msgs_per_s": round(raw, 1), "jobs": args.jobs,
                      "concurrency": args.concurrency, "ratio": round(jobs_per_s / raw, 2),
                      "bulk_jobs": args.bulk, "bulk_api_jobs_per_s": round(bulk_per_s, 1),
                      "emulator_send_msgs_per_s": round(raw_send, 1), "bulk_ratio": round(bulk_per_s / raw_send, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
