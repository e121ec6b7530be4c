"""Flow-control test worlds: the flow catalog overlay on a test's namespace, and competing worker instances."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from jobqueue.catalog import default_catalog
from jobqueue.local.runner import FunctionRunner, poll_once
from jobqueue.local.topology import create_topology
from jobqueue.settings import get_settings
from tests.conftest import ROOT, Namespace

FLOW_CATALOG = ROOT / "tests" / "support" / "flow_catalog.toml"


def flow_namespace(ns: Namespace, monkeypatch: pytest.MonkeyPatch, **env: str) -> Namespace:
    """`ns` with the flow queues (tests/support/flow_catalog.toml) and their SQS queues, plus `env`."""
    for name, value in {"JOBQUEUE_CATALOG": str(FLOW_CATALOG), **env}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    default_catalog.cache_clear()
    catalog = default_catalog()
    flow_queues = {name: q for name, q in catalog.queues.items() if name.startswith("flow-")}
    only_flow = catalog.model_copy(update={
        "queues": flow_queues,
        "dead_letters": {q.dead_letter: catalog.dead_letters[q.dead_letter] for q in flow_queues.values()},
    })
    urls = {**ns.queue_urls, **create_topology(ns.sqs, only_flow, ns.settings.sqs_name_prefix)}
    return replace(ns, settings=get_settings(), catalog=catalog, queue_urls=urls,
                   env={**ns.env, "JOBQUEUE_CATALOG": str(FLOW_CATALOG), **env})


def worker_function(queue: str) -> FunctionRunner:
    """A fresh instance of the queue's worker function, like one more Lambda execution environment."""
    os.environ["QUEUE_NAME"] = queue
    return FunctionRunner("worker")


class Consumers:
    """`per_lane` worker instances per lane of a queue, each polling its lane in a thread of its own."""

    def __init__(self, ns: Namespace, queue: str, per_lane: int) -> None:
        self.ns = ns
        self.pollers = [(worker_function(queue), ns.queue_urls[lane.sqs_name])
                        for lane in ns.catalog.queue(queue).lanes() for _ in range(per_lane)]
        self.errors: list[BaseException] = []

    def run_until(self, until: Callable[[], bool], timeout: float) -> float:
        """Poll from every thread until `until()` holds; returns the seconds it took (fails after `timeout`)."""
        stop = threading.Event()

        def poll(runner: FunctionRunner, url: str) -> None:
            try:
                while not stop.is_set():
                    poll_once(self.ns.sqs, url, runner, wait_seconds=1)
            except BaseException as exc:  # reported by the test's thread
                self.errors.append(exc)

        threads = [threading.Thread(target=poll, args=p, daemon=True) for p in self.pollers]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        try:
            while not until():
                assert not self.errors, self.errors
                assert time.monotonic() - began < timeout, f"condition not reached within {timeout} s"
                time.sleep(0.05)
            return time.monotonic() - began
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)


def dlq_depth(ns: Namespace, queue: str) -> int:
    """Messages in the queue's dead-letter queue, visible or not."""
    attributes = ns.sqs.get_queue_attributes(
        QueueUrl=ns.queue_urls[ns.catalog.queue(queue).dead_letter],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())
