"""An SQS event source mapping on this machine: long-poll, gather a batch, invoke, settle.

As Lambda's mapping does: several long polls run at once (Lambda starts with five; here up to `concurrency`,
at most RECEIVERS), each gathering a batch until it holds `batch_size` records or `batching_window` seconds
have passed since its first record (no window: what one ReceiveMessage of up to 10 returns); at most
`concurrency` invocations run at once (a slot is held from the receive until the function returns: the deletes
of one batch are made while the next is received, as Lambda's concurrency counts invocations, not deletes);
records the response reports in `batchItemFailures` are left for SQS, the others deleted; a function error,
timeout or crash leaves the whole batch to reappear after its visibility timeout. Before each receive it reads
its mapping from the runtime's Lambda API store (`jobqueue.local.lambda_api`): while the mapping is disabled it
calls no ReceiveMessage at all, as Lambda's poller does, and a batch size or window updated through the API
applies to the next batch.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger

from jobqueue.deployment import EventSource
from jobqueue.local.lambda_api import Batching
from jobqueue.local.processes import InvokeError
from jobqueue.local.runner import failed_ids, settle, sqs_event

__all__ = ["DISABLED_CHECK_S", "RECEIVERS", "EventSourcePoller"]

logger = Logger(service="jobqueue-local")

DISABLED_CHECK_S = 1.0
"""How often a disabled mapping looks whether it was enabled again."""
RECEIVERS = 5
"""Most long polls one mapping runs at once (Lambda's SQS poller starts with five): a batch is received while
others are being invoked, so the receive is not a step every invocation waits for in turn. As Lambda scales its
pollers with the traffic, only one polls while the queue is idle; the others join while receives bring messages."""

Invoke = Callable[[dict[str, Any]], Any]


class EventSourcePoller:
    """One event source mapping: receiving threads (min(concurrency, RECEIVERS)), and a thread per running
    invocation.

    `mapping()` is the mapping's batching while it is enabled, None while it is disabled (or deleted).
    `wait_seconds` is each ReceiveMessage's long poll (at most 20); it also bounds how long a mapping takes to
    stop receiving once disabled, or after `stop()`.
    """

    def __init__(self, sqs: Any, queue_url: str, source: EventSource, invoke: Invoke, *, function: str,
                 concurrency: int, mapping: Callable[[], Batching | None], wait_seconds: int = 5) -> None:
        if concurrency < 1:
            raise ValueError(f"event source {source.sqs_name}: concurrency must be at least 1, got {concurrency}")
        if not 0 <= wait_seconds <= 20:
            raise ValueError(f"event source {source.sqs_name}: wait_seconds must be 0..20, got {wait_seconds}")
        self.sqs, self.url, self.source, self.function = sqs, queue_url, source, function
        self.concurrency = concurrency
        self._invoke, self._mapping, self._wait = invoke, mapping, wait_seconds
        self._slots = threading.BoundedSemaphore(concurrency)
        self._stop = threading.Event()
        self._arn = ""
        self._threads = [threading.Thread(target=self._run, args=(n,), name=f"poller-{source.sqs_name}-{n}",
                                          daemon=True) for n in range(min(concurrency, RECEIVERS))]
        self._busy = threading.Event()  # the last receive brought messages: every receiving thread polls
        self._state_lock = threading.Lock()
        self.is_disabled = threading.Event()
        """Set while the mapping stands still because it is disabled."""

    def start(self) -> EventSourcePoller:
        self._arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 0) -> None:
        """Stop receiving; waits up to `timeout` s for the receiving threads (running invocations are not waited)."""
        self._stop.set()
        ends = time.monotonic() + timeout
        for thread in self._threads if timeout else []:
            if thread.is_alive():
                thread.join(max(0, ends - time.monotonic()))

    def _run(self, index: int) -> None:
        while not self._stop.is_set():
            if index and not self._busy.wait(1):
                continue
            if self._hold_while_disabled() or not self._slots.acquire(timeout=1):
                continue
            try:
                messages = self._gather()
                (self._busy.set if messages else self._busy.clear)()
            except Exception:
                self._slots.release()
                if not self._stop.is_set():
                    logger.exception("event source poll failed", extra={"eventSource": self.source.sqs_name})
                    self._stop.wait(1)
                continue
            if not messages:
                self._slots.release()
            elif self._stop.is_set():
                self._give_back(messages)
                self._slots.release()
            else:
                threading.Thread(target=self._deliver, args=(messages,), daemon=True,
                                 name=f"invoke-{self.source.sqs_name}").start()

    def _hold_while_disabled(self) -> bool:
        """True (after a short wait) while the mapping is disabled; else its current batching is applied."""
        batching = self._mapping()
        with self._state_lock:  # one log line per change, whichever receiving thread sees it first
            if (batching is None) != self.is_disabled.is_set():
                (self.is_disabled.clear if batching else self.is_disabled.set)()
                logger.info("event source " + ("enabled" if batching else "disabled"),
                            extra={"eventSource": self.source.sqs_name, "function": self.function})
        if batching is None:
            self._stop.wait(DISABLED_CHECK_S)
            return True
        self.source = replace(self.source, batch_size=batching.batch_size, batching_window=batching.window)
        return False

    def _gather(self) -> list[dict[str, Any]]:
        """Up to batch_size records: one receive without a window, else until full or the window closes."""
        batch: list[dict[str, Any]] = []
        window_ends: float | None = None
        while len(batch) < self.source.batch_size and not self._stop.is_set():
            wait = self._wait if window_ends is None else max(0, math.ceil(window_ends - time.monotonic()))
            received = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=min(10, self.source.batch_size - len(batch)),
                WaitTimeSeconds=wait, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
            ).get("Messages", [])
            batch += received
            if not batch or not self.source.batching_window:
                break
            if window_ends is None:
                window_ends = time.monotonic() + self.source.batching_window
            elif time.monotonic() >= window_ends:
                break
        # A record seen twice (its visibility ran out while the window was open) goes once, with its newest handle.
        return list({m["MessageId"]: m for m in batch}.values())

    def _give_back(self, messages: list[dict[str, Any]]) -> None:
        """Received while stopping: visible again at once, for the next run."""
        for start in range(0, len(messages), 10):
            self.sqs.change_message_visibility_batch(QueueUrl=self.url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start:start + 10])])

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        started = time.monotonic()
        outcome = "ok"
        try:
            try:
                response = self._invoke(sqs_event(messages, self._arn, self.sqs.meta.region_name))
            finally:  # the invocation is over: the next batch is received while this one's deletes are made
                self._slots.release()
            failed = failed_ids(messages, response)
            if failed is None:
                outcome = "invalid batchItemFailures: the whole batch is retried"
            count = settle(self.sqs, self.url, messages, failed)
        except InvokeError as exc:
            outcome, count = exc.kind, len(messages)
        except Exception:
            logger.exception("settling a batch failed", extra={"eventSource": self.source.sqs_name})
            outcome, count = "settle-error", len(messages)
        logger.info("invocation", extra={
            "function": self.function, "eventSource": self.source.sqs_name, "batchSize": len(messages),
            "durationMs": round((time.monotonic() - started) * 1000), "failures": count, "outcome": outcome})
