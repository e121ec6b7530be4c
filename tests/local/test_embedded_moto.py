"""The embedded moto server's SQS, as the local runtime and the tests use it: a message is received by one of
several concurrent pollers of its queue, never by two (moto's own receive is not atomic across threads)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter

from jobqueue.connection import aws_client


def test_concurrent_pollers_of_one_queue_never_receive_the_same_message(moto_endpoint: str) -> None:
    sqs = aws_client("sqs")
    url = sqs.create_queue(QueueName=f"race-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    for start in range(0, 300, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(start + i)}
                                                      for i in range(10)])
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
