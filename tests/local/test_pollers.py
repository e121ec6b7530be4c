"""Event source pollers: batch size, batching window, partial batch responses, concurrency, function errors, and
their mappings switched through the local Lambda API."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jobqueue.connection import aws_client
from jobqueue.deployment import EventSource
from jobqueue.local.lambda_api import Batching, LambdaApi
from jobqueue.local.pollers import EventSourcePoller
from jobqueue.local.processes import InvokeError
from jobqueue.local.runner import failed_ids

Event = dict[str, Any]


class Recorder:
    """An invoke function: records each batch's message bodies and answers with `answer(event)`."""

    def __init__(self, answer: Callable[[Event], Any] = lambda _: {"batchItemFailures": []}) -> None:
        self.batches: list[list[str]] = []
        self.times: list[float] = []
        self.answer = answer
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> Any:
        with self.lock:
            self.batches.append([r["body"] for r in event["Records"]])
            self.times.append(time.monotonic())
        return self.answer(event)

    def bodies(self) -> list[str]:
        with self.lock:
            return [b for batch in self.batches for b in batch]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached within {timeout} s; batches: {self.batches}")
            time.sleep(0.05)


def _queue(visibility: int) -> Iterator[str]:
    sqs = aws_client("sqs")
    url: str = sqs.create_queue(QueueName=f"poll-{uuid.uuid4().hex[:12]}",
                                Attributes={"VisibilityTimeout": str(visibility)})["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def queue(moto_endpoint: str) -> Iterator[str]:
    """A fresh SQS queue whose messages come back 1 s after a receive that did not delete them."""
    yield from _queue(1)


@pytest.fixture
def slow_queue(moto_endpoint: str) -> Iterator[str]:
    """A fresh SQS queue whose visibility timeout outlasts any batching window here (as AWS asks)."""
    yield from _queue(30)


def send(url: str, count: int) -> list[str]:
    bodies = [f"m{i}" for i in range(count)]
    for start in range(0, count, 10):
        aws_client("sqs").send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start:start + 10])])
    return bodies


def poller(url: str, invoke: Callable[[Event], Any], *, batch_size: int = 10, window: int = 0,
           concurrency: int = 1, mapping: Callable[[], Batching | None] | None = None) -> EventSourcePoller:
    """A poller of `url`; without `mapping`, its mapping stays enabled with the given batching."""
    source = EventSource("test", batch_size, window, concurrency)
    return EventSourcePoller(aws_client("sqs"), url, source, invoke, function="test", concurrency=concurrency,
                             mapping=mapping or (lambda: Batching(batch_size, window)), wait_seconds=1)


def visible_and_in_flight(url: str) -> tuple[int, int]:
    attributes = aws_client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_a_batching_window_gathers_more_than_one_receive_returns(slow_queue: str) -> None:
    sent = send(slow_queue, 25)
    recorder = Recorder()
    running = poller(slow_queue, recorder, batch_size=25, window=2).start()
    try:
        recorder.wait_for(lambda: len(recorder.bodies()) == 25)
    finally:
        running.stop(5)
    assert [sorted(b) for b in recorder.batches] == [sorted(sent)]  # one invocation: 3 receives of up to 10


def test_without_a_window_batches_never_exceed_batch_size(queue: str) -> None:
    sent = send(queue, 10)
    recorder = Recorder()
    running = poller(queue, recorder, batch_size=4).start()
    try:
        recorder.wait_for(lambda: len(recorder.bodies()) == 10)
    finally:
        running.stop(5)
    assert max(len(b) for b in recorder.batches) <= 4
    assert sorted(recorder.bodies()) == sorted(sent)
    assert visible_and_in_flight(queue) == (0, 0)  # every success deleted


def test_a_window_is_never_cut_short_when_the_batch_is_not_full(slow_queue: str) -> None:
    send(slow_queue, 3)
    recorder = Recorder()
    started = time.monotonic()
    running = poller(slow_queue, recorder, batch_size=50, window=2).start()
    try:
        recorder.wait_for(lambda: len(recorder.bodies()) == 3)
    finally:
        running.stop(5)
    assert len(recorder.batches) == 1
    assert recorder.times[0] - started >= 2  # the window starts after the first receive, so this is a lower bound


def test_batch_item_failures_stay_in_the_queue_and_the_rest_is_deleted(queue: str) -> None:
    send(queue, 5)
    failing = {"m1", "m3"}

    def answer(event: Event) -> Any:
        if len(recorder.batches) > 1:
            return {"batchItemFailures": []}
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]
                                      if r["body"] in failing]}

    recorder = Recorder(answer)
    running = poller(queue, recorder, batch_size=10).start()
    try:
        recorder.wait_for(lambda: len(recorder.batches) >= 2)
        recorder.wait_for(lambda: visible_and_in_flight(queue) == (0, 0))
    finally:
        running.stop(5)
    assert sorted(recorder.batches[0]) == ["m0", "m1", "m2", "m3", "m4"]
    assert sorted(recorder.batches[1]) == ["m1", "m3"]  # only the failures came back


def test_an_unknown_item_identifier_fails_the_whole_batch(queue: str) -> None:
    send(queue, 3)

    def answer(event: Event) -> Any:
        first = len(recorder.batches) == 1
        return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}] if first else []}

    recorder = Recorder(answer)
    running = poller(queue, recorder).start()
    try:
        recorder.wait_for(lambda: len(recorder.bodies()) >= 6)
    finally:
        running.stop(5)
    assert sorted(recorder.batches[0]) == sorted(recorder.bodies()[3:6]) == ["m0", "m1", "m2"]


def test_a_function_error_leaves_the_whole_batch_for_redelivery(queue: str) -> None:
    send(queue, 2)

    def answer(event: Event) -> Any:
        if len(recorder.batches) == 1:
            raise InvokeError("crash", "process exited with -9 during the invocation")
        return {"batchItemFailures": []}

    recorder = Recorder(answer)
    running = poller(queue, recorder).start()
    try:
        recorder.wait_for(lambda: len(recorder.bodies()) >= 4)
        recorder.wait_for(lambda: visible_and_in_flight(queue) == (0, 0))
    finally:
        running.stop(5)
    assert sorted(recorder.bodies()[:2]) == sorted(recorder.bodies()[2:4]) == ["m0", "m1"]


class Overlap:
    """Counts the invocations running at once; `most` is the highest count seen."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self._lock = threading.Lock()

    def run(self, seconds: float) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(seconds)
        with self._lock:
            self.now -= 1


def test_concurrent_invocations_never_exceed_the_maximum(queue: str) -> None:
    send(queue, 12)
    overlap = Overlap()

    def answer(event: Event) -> Any:
        overlap.run(0.4)
        return {"batchItemFailures": []}
    recorder = Recorder(answer)
    running = poller(queue, recorder, batch_size=1, concurrency=3).start()
    try:
        recorder.wait_for(lambda: len(recorder.bodies()) == 12)
        recorder.wait_for(lambda: visible_and_in_flight(queue) == (0, 0))
    finally:
        running.stop(5)
    assert all(len(b) == 1 for b in recorder.batches)
    assert 2 <= overlap.most <= 3  # invocations overlap, and never more than MaximumConcurrency


def test_a_disabled_mapping_receives_nothing_until_enabled(queue: str, local_lambda: LambdaApi) -> None:
    client = aws_client("lambda")  # over HTTP, as the engine's pause and resume call it
    arn = aws_client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping_id = client.create_event_source_mapping(FunctionName="test", EventSourceArn=arn, BatchSize=10)["UUID"]
    recorder = Recorder()
    running = poller(queue, recorder, mapping=local_lambda.store.consumer(mapping_id)).start()
    try:
        assert client.update_event_source_mapping(UUID=mapping_id, Enabled=False)["State"] == "Disabling"
        recorder.wait_for(lambda: client.get_event_source_mapping(UUID=mapping_id)["State"] == "Disabled")
        assert running.is_disabled.is_set()
        send(queue, 2)
        time.sleep(2)
        assert recorder.batches == []
        assert visible_and_in_flight(queue) == (2, 0)  # not even received: the messages are untouched
        client.update_event_source_mapping(UUID=mapping_id, Enabled=True, BatchSize=1)
        recorder.wait_for(lambda: len(recorder.bodies()) == 2)
    finally:
        running.stop(5)
        client.delete_event_source_mapping(UUID=mapping_id)
    assert not running.is_disabled.is_set()
    assert [len(b) for b in recorder.batches] == [1, 1]  # the updated batch size applies
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_event_source_mapping(UUID=mapping_id)


class FlakySqs:
    """An SQS client whose first ReceiveMessage calls fail, as an endpoint that is briefly down."""

    def __init__(self, failures: int) -> None:
        self.client, self.failures = aws_client("sqs"), failures
        self.meta = self.client.meta

    def receive_message(self, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("endpoint unavailable")
        return self.client.receive_message(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_failing_receive_is_retried_without_losing_concurrency(queue: str) -> None:
    send(queue, 3)
    recorder = Recorder()
    source = EventSource("test", 1, 0, 1)
    running = EventSourcePoller(FlakySqs(failures=2), queue, source, recorder, function="test", concurrency=1,
                                mapping=lambda: Batching(1, 0), wait_seconds=1).start()
    try:
        recorder.wait_for(lambda: len(recorder.bodies()) == 3)
    finally:
        running.stop(5)
    assert sorted(recorder.bodies()) == ["m0", "m1", "m2"]


class HeldDeletes:
    """An SQS client whose DeleteMessageBatch calls wait until `release` is set (then fail, if `fail`), as a slow
    or failing endpoint; `pending` is set while one waits."""

    def __init__(self, *, fail: bool = False) -> None:
        self.client, self.fail = aws_client("sqs"), fail
        self.meta = self.client.meta
        self.pending, self.release = threading.Event(), threading.Event()

    def delete_message_batch(self, **kwargs: Any) -> Any:
        self.pending.set()
        self.release.wait(60)
        if self.fail:
            raise ConnectionError("endpoint unavailable")
        return self.client.delete_message_batch(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_the_next_batch_is_invoked_while_the_last_ones_deletes_are_made(queue: str) -> None:
    """Concurrency counts invocations (as Lambda's does): a batch whose function returned frees its slot before
    its messages are deleted."""
    send(queue, 2)
    sqs = HeldDeletes()
    recorder = Recorder()
    running = EventSourcePoller(sqs, queue, EventSource("test", 1, 0, 1), recorder, function="test",
                                concurrency=1, mapping=lambda: Batching(1, 0), wait_seconds=1).start()
    try:
        recorder.wait_for(lambda: len(recorder.batches) == 2, timeout=10)  # the first batch's delete still waits
        assert sqs.pending.is_set()
        sqs.release.set()
        recorder.wait_for(lambda: visible_and_in_flight(queue) == (0, 0))
    finally:
        sqs.release.set()
        running.stop(5)
    assert sorted(recorder.bodies()) == ["m0", "m1"]


def test_a_failed_delete_leaves_the_batch_for_redelivery_and_keeps_the_slot_count(queue: str) -> None:
    """The delete fails after the slot was given back: the messages come back after their visibility timeout,
    the poller goes on with its one slot (never two invocations at once)."""
    send(queue, 1)
    sqs = HeldDeletes(fail=True)
    sqs.release.set()
    overlap = Overlap()

    def answer(event: Event) -> Any:
        overlap.run(0.2)
        if len(recorder.batches) == 2:
            sqs.fail = False
        return {"batchItemFailures": []}

    recorder = Recorder(answer)
    running = EventSourcePoller(sqs, queue, EventSource("test", 1, 0, 1), recorder, function="test",
                                concurrency=1, mapping=lambda: Batching(1, 0), wait_seconds=1).start()
    try:
        recorder.wait_for(lambda: len(recorder.batches) >= 2)
        recorder.wait_for(lambda: visible_and_in_flight(queue) == (0, 0))
    finally:
        running.stop(5)
    assert recorder.bodies()[:2] == ["m0", "m0"] and overlap.most == 1


@pytest.mark.parametrize(("response", "failed"), [
    (None, set()),
    ({}, set()),
    ({"batchItemFailures": None}, set()),
    ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
    ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
    ({"batchItemFailures": [{"itemIdentifier": None}]}, None),
    ({"batchItemFailures": [{"id": "b"}]}, None),
    ({"batchItemFailures": [{"itemIdentifier": "z"}]}, None),
    ({"batchItemFailures": {"itemIdentifier": "b"}}, None),
    ("ok", None),
])
def test_partial_batch_responses_are_read_by_lambdas_rules(response: Any, failed: set[str] | None) -> None:
    assert failed_ids([{"MessageId": "a"}, {"MessageId": "b"}], response) == failed
