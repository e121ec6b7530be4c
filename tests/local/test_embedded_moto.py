"""The embedded moto server's SQS, as the local runtime and the tests use it: a message is received by one of
several concurrent pollers of its queue, never by two (moto's own receive is not atomic across threads); sends
and deletes at once lose no message; queue attributes read once per call and deletes found by an index of receipt
handles (jobqueue.local.moto_sqs) still answer what the queue holds, as moto answered; a handle leaves that index
with its message, however moto removes it."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from typing import Any

from jobqueue.connection import aws_client
from jobqueue.local.moto_sqs import message_of


def send_numbers(sqs: Any, url: str, count: int) -> None:
    """The messages "0" to str(count - 1), sent 10 per call."""
    for start in range(0, count, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(start + i)}
                                                      for i in range(min(10, count - start))])


def queue_of(sqs: Any, name: str, count: int) -> str:
    """A new standard queue holding the messages "0" to str(count - 1); its URL."""
    url: str = sqs.create_queue(QueueName=f"{name}-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    send_numbers(sqs, url, count)
    return url


def moto_queue(sqs: Any, url: str) -> Any:
    """moto's model of the queue at `url` (the embedded server runs in this process)."""
    from moto.sqs.models import sqs_backends

    account, name = url.split("/")[-2:]
    return sqs_backends[account][sqs.meta.region_name].get_queue(name)


def indexed(queue: Any, message: Any) -> list[str]:
    """The receipt handles moto ever gave `message` that the index of moto's `queue` still holds."""
    return [handle for handle in message.all_receipt_handles if message_of(queue, handle) is not None]


def test_concurrent_pollers_of_one_queue_never_receive_the_same_message(moto_endpoint: str) -> None:
    sqs = aws_client("sqs")
    url = queue_of(sqs, "race", 300)
    received: list[str] = []

    def poll() -> None:
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                           WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                return
            received.extend(m["Body"] for m in messages)

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    twice = [body for body, n in Counter(received).items() if n > 1]
    assert not twice and len(received) == 300, (len(received), twice[:10])
    sqs.delete_queue(QueueUrl=url)


def test_sends_and_deletes_at_once_lose_no_message(moto_endpoint: str) -> None:
    sqs = aws_client("sqs")
    url = sqs.create_queue(QueueName=f"churn-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    sent_all = threading.Event()
    received: list[str] = []

    def send() -> None:
        send_numbers(sqs, url, 400)
        sent_all.set()

    def consume() -> None:
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                           WaitTimeSeconds=0).get("Messages", [])
            if not messages and sent_all.is_set():
                return
            if messages:
                received.extend(m["Body"] for m in messages)
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])

    threads = [threading.Thread(target=send), *(threading.Thread(target=consume) for _ in range(4))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert sorted(map(int, received)) == list(range(400))
    assert attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    sqs.delete_queue(QueueUrl=url)


def test_queue_attributes_read_once_per_call_still_answer_what_the_queue_holds(moto_endpoint: str) -> None:
    sqs = aws_client("sqs")
    url = queue_of(sqs, "counts", 30)
    sqs.send_message(QueueUrl=url, MessageBody="late", DelaySeconds=60)
    taken = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (len(taken), counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"],
            counts["ApproximateNumberOfMessagesDelayed"]) == (10, "20", "10", "1")
    sqs.delete_queue(QueueUrl=url)
    # A FIFO queue's ContentBasedDeduplication, read inside each send, still drops a repeated body.
    fifo = sqs.create_queue(QueueName=f"dedupe-{uuid.uuid4().hex[:10]}.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    sqs.send_message_batch(QueueUrl=fifo, Entries=[
        {"Id": str(i), "MessageBody": "same", "MessageGroupId": "g"} for i in range(3)])
    sqs.send_message(QueueUrl=fifo, MessageBody="same", MessageGroupId="g")
    bodies = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in bodies] == ["same"]
    sqs.delete_queue(QueueUrl=fifo)


def test_a_delete_finds_its_message_by_any_receipt_handle_it_was_given(moto_endpoint: str) -> None:
    """moto accepts a message's latest handle and every earlier one; a second delete of a message succeeds; a
    handle no receive gave out is refused; the other messages stay."""
    sqs = aws_client("sqs")
    url = queue_of(sqs, "handles", 3)
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=0)["Messages"][0]
    again = next(m for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)[
        "Messages"] if m["MessageId"] == first["MessageId"])
    assert again["ReceiptHandle"] != first["ReceiptHandle"]
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "old", "ReceiptHandle": first["ReceiptHandle"]}, {"Id": "bogus", "ReceiptHandle": "x" * 185}])
    assert [s["Id"] for s in deleted["Successful"]] == ["old"]
    assert [(f["Id"], f["Code"]) for f in deleted["Failed"]] == [("bogus", "ReceiptHandleIsInvalid")]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])  # deleted already: success
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "2")
    sqs.delete_queue(QueueUrl=url)


def test_a_message_moved_to_its_dead_letter_queue_is_not_deleted_by_a_handle_of_its_source(
        moto_endpoint: str) -> None:
    sqs = aws_client("sqs")
    dlq = sqs.create_queue(QueueName=f"dead-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=f"source-{uuid.uuid4().hex[:10]}", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="doomed")
    handle = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"][0]["ReceiptHandle"]
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []  # moved to the DLQ by this receive
    failed = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "0", "ReceiptHandle": handle}])["Failed"]
    assert [f["Code"] for f in failed] == ["ReceiptHandleIsInvalid"]
    source, dead = moto_queue(sqs, url), moto_queue(sqs, dlq)
    [message] = dead._messages
    assert indexed(source, message) == []  # the redrive took its handles out of the source's index
    [received] = sqs.receive_message(QueueUrl=dlq)["Messages"]
    assert received["Body"] == "doomed"
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=received["ReceiptHandle"])
    assert (dead._messages, indexed(dead, message)) == ([], [])
    sqs.delete_queue(QueueUrl=url)
    sqs.delete_queue(QueueUrl=dlq)


def test_a_message_past_its_retention_period_leaves_its_queue_and_the_index(moto_endpoint: str) -> None:
    """SQS deletes a message its queue's retention period has passed; moto kept it (and a new handle per receive)."""
    sqs = aws_client("sqs")
    url = sqs.create_queue(QueueName=f"retention-{uuid.uuid4().hex[:10]}",
                           Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="old")
    sqs.send_message(QueueUrl=url, MessageBody="young")
    [taken] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=0)["Messages"]
    queue = moto_queue(sqs, url)
    old = next(m for m in queue._messages if m.body == "old")
    old.sent_timestamp -= 61_000  # sent 61 s earlier: past the queue's retention period

    def receive() -> list[str]:
        return [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                        VisibilityTimeout=60).get("Messages", [])]

    assert (taken["Body"], receive() + receive()) == ("old", ["young"])  # the receive finding "old" may stop there
    assert old not in queue._messages and indexed(queue, old) == []
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "1")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=taken["ReceiptHandle"])  # success, as moto answered
    sqs.delete_queue(QueueUrl=url)


def test_a_purge_or_a_deleted_queue_empties_its_index(moto_endpoint: str) -> None:
    sqs = aws_client("sqs")
    url = queue_of(sqs, "purge", 3)
    taken = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)["Messages"]
    queue = moto_queue(sqs, url)
    held = list(queue._messages)
    sqs.purge_queue(QueueUrl=url)
    assert [handle for message in held for handle in indexed(queue, message)] == []
    failed = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(taken)])["Failed"]
    assert [f["Code"] for f in failed] == ["ReceiptHandleIsInvalid"] * 2  # as moto answers for a purged message
    send_numbers(sqs, url, 3)
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]) == 3
    held = list(queue._messages)
    sqs.delete_queue(QueueUrl=url)  # moto keeps the queue's model (Queue.instances_tracked) and its messages
    assert [handle for message in held for handle in indexed(queue, message)] == []


def _send_group(sqs: Any, url: str, group: str | None, count: int) -> None:
    for start in range(0, count, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": f"{group}-{start + i}", **({"MessageGroupId": group} if group else {})}
            for i in range(min(10, count - start))])


def _receive(sqs: Any, url: str, count: int) -> list[str]:
    bodies: list[str] = []
    while len(bodies) < count:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, count - len(bodies)),
                                       VisibilityTimeout=60, WaitTimeSeconds=0).get("Messages", [])
        assert messages
        bodies += [m["Body"] for m in messages]
    return bodies


def test_a_standard_queue_with_message_groups_delivers_quiet_tenants_first(moto_endpoint: str) -> None:
    """SQS fair queues: a tenant with 30+ in-flight messages and over 10% of them is a noisy neighbour; the
    messages of other tenants (a group of their own, or none) are received before its backlog."""
    sqs = aws_client("sqs")
    url = sqs.create_queue(QueueName=f"fair-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    _send_group(sqs, url, "a", 29)
    assert _receive(sqs, url, 29) == [f"a-{i}" for i in range(29)]  # in flight, not deleted
    _send_group(sqs, url, "a", 20)
    _send_group(sqs, url, "b", 3)
    # 29 in flight: tenant a is not noisy yet, so the queue's order holds.
    assert _receive(sqs, url, 1) == ["a-0"]
    # 30 in flight, all a's: b's messages and one without a group come first, then a's backlog.
    _send_group(sqs, url, None, 1)
    assert _receive(sqs, url, 6) == ["b-0", "b-1", "b-2", "None-0", "a-1", "a-2"]
    attributes = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["MessageGroupId"],
                                     VisibilityTimeout=60)["Messages"][0]["Attributes"]
    assert attributes["MessageGroupId"] == "a"
    sqs.delete_queue(QueueUrl=url)
