"""Drive the worker and dead-letter Lambda handlers, polling SQS like an event source: in this process, or
in a process of their own (`python -m jobqueue.local.runner`) that a test may kill."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from jobqueue.local.runner import FunctionRunner, poll_once
from tests.conftest import ROOT, Namespace


def start_worker_process(ns: Namespace, queue: str) -> subprocess.Popen[bytes]:
    """The worker function in its own process, polling SQS like the local runtime does."""
    return subprocess.Popen(
        [sys.executable, "-m", "jobqueue.local.runner", "worker", "--queue", queue, "--env", f"QUEUE_NAME={queue}"],
        cwd=ROOT, env=ns.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    """Wait until `condition()` holds; fails the test if it does not within `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not reached within {timeout} s"
        time.sleep(0.05)


class LocalFunctions:
    """The worker function of some queues (polling every lane) and the dead-letter function of some DLQs."""

    def __init__(self, ns: Namespace, queues: list[str], dead_letters: list[str] | None = None) -> None:
        self.ns = ns
        self.pollers: list[tuple[FunctionRunner, str]] = []
        for queue in queues:
            os.environ["QUEUE_NAME"] = queue
            runner = FunctionRunner("worker")
            self.pollers += [(runner, ns.queue_urls[lane.sqs_name]) for lane in ns.catalog.queue(queue).lanes()]
        for dlq in dead_letters or []:
            os.environ["DEAD_LETTER_QUEUE"] = dlq
            self.pollers.append((FunctionRunner("dead_letter"), ns.queue_urls[dlq]))

    def pump(self, until: Callable[[], bool], timeout: float) -> None:
        """Poll every queue until `until()` holds; fails the test if it does not within `timeout` s."""
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not reached within {timeout} s")
            if not sum(poll_once(self.ns.sqs, url, runner, wait_seconds=0) for runner, url in self.pollers):
                time.sleep(0.05)


def messages_in(ns: Namespace, queue: str) -> int:
    """Every message SQS holds for the queue (all its priority lanes): visible, in flight, and delayed."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
             "ApproximateNumberOfMessagesDelayed"]
    lanes = [lane.sqs_name for lane in ns.catalog.queue(queue).lanes()] if queue in ns.catalog.queues else [queue]
    return sum(int(ns.sqs.get_queue_attributes(QueueUrl=ns.queue_urls[lane], AttributeNames=names)["Attributes"][name])
               for lane in lanes for name in names)


def sqs_record(body: str, receive_count: int = 1) -> dict[str, Any]:
    return {"messageId": "m1", "receiptHandle": "r1", "body": body,
            "attributes": {"ApproximateReceiveCount": str(receive_count)}, "messageAttributes": {},
            "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:lead-processing", "awsRegion": "us-east-1"}
