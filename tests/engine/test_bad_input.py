"""Acceptance 6: bad input gets a clear error and writes nothing; failures while adding leave no phantom state."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from redis import Redis

from jobqueue import EnqueueError, InvalidJobError, JobQueueError, PayloadTooLargeError, Queue
from jobqueue.errors import UnknownQueueError
from jobqueue.worker import Worker
from tests.conftest import Namespace


def keys_of(ns: Namespace) -> list[str]:
    return list(ns.redis.scan_iter(match=f"{ns.settings.prefix}:*"))


def messages_waiting(ns: Namespace, queue: str) -> int:
    attributes = ns.sqs.get_queue_attributes(QueueUrl=ns.queue_urls[queue],
                                             AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_unknown_queue_is_refused_naming_the_known_ones(ns: Namespace) -> None:
    with pytest.raises(UnknownQueueError, match=r"unknown queue 'no-such-queue'; known queues: .*lead-processing"):
        Queue("no-such-queue")


@pytest.mark.parametrize(("opts", "field"), [
    ({"attempts": 0}, "attempts"),
    ({"backoff": {"type": "linear", "delay": 10}}, "backoff.type"),
    ({"priority": -1}, "priority"),
    ({"delay": "soon"}, "delay"),
    ({"jobId": "123"}, "jobId"),
    ({"jobId": "a:b"}, "jobId"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_options_name_the_field_and_write_nothing(ns: Namespace, opts: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidJobError, match=f"invalid options: {field}"):
        Queue("lead-processing").add("process-lead", {"leadId": 1}, **opts)
    assert keys_of(ns) == []
    assert messages_waiting(ns, "lead-processing") == 0


def test_data_that_is_not_json_is_refused(ns: Namespace) -> None:
    with pytest.raises(InvalidJobError, match="data is not JSON"):
        Queue("lead-processing").add("process-lead", {"at": object()})
    assert keys_of(ns) == []


def test_oversized_payload_is_refused_before_anything_is_written(ns: Namespace) -> None:
    queue = Queue("lead-processing")
    with pytest.raises(PayloadTooLargeError, match="exceeds the limit of 262144 bytes"):
        queue.add_bulk([{"name": "ok", "data": {}}, {"name": "big", "data": {"blob": "x" * 300_000}}])
    assert keys_of(ns) == []
    assert messages_waiting(ns, "lead-processing") == 0


def test_large_jobs_are_sent_in_batches_sqs_takes(ns: Namespace) -> None:
    """Ten jobs of 200 KB each are accepted: one SendMessageBatch may carry 256 KiB in all (1 MiB on moto), so
    the transport splits a batch by size as well as by count."""
    sizes: list[int] = []
    real = ns.sqs

    class Recording:
        def get_queue_url(self, **kwargs: Any) -> Any:
            return real.get_queue_url(**kwargs)

        def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
            sizes.append(sum(len(e["MessageBody"].encode()) for e in Entries))
            return real.send_message_batch(QueueUrl=QueueUrl, Entries=Entries)

    ids = Queue("lead-processing", sqs=Recording()).add_bulk(
        [{"name": "big", "data": {"blob": "x" * 200_000}} for _ in range(10)])
    assert len(ids) == 10
    assert messages_waiting(ns, "lead-processing") == 10
    assert len(sizes) == 10 and max(sizes) <= 256 * 1024


class RefusingSqs:
    """SQS that takes the first `accept` messages of each batch and refuses the rest."""

    def __init__(self, real: Any, accept: int) -> None:
        self.real, self.accept = real, accept

    def get_queue_url(self, **kwargs: Any) -> Any:
        return self.real.get_queue_url(**kwargs)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if self.accept == 0:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendMessageBatch")
        sent = self.real.send_message_batch(QueueUrl=QueueUrl, Entries=Entries[:self.accept])
        failed = [{"Id": e["Id"], "Code": "InternalError", "Message": "throttled", "SenderFault": False}
                  for e in Entries[self.accept:]]
        return {"Successful": sent["Successful"], "Failed": failed}


def test_sqs_failure_rolls_back_redis_and_raises(ns: Namespace) -> None:
    queue = Queue("lead-processing", sqs=RefusingSqs(ns.sqs, accept=0))
    with pytest.raises(EnqueueError, match=r"1 of 1 jobs were not accepted .*SQS refused it, so it was not added"):
        queue.add("process-lead", {"leadId": 1})
    keys = ns.settings.queue_keys("lead-processing")
    assert ns.redis.llen(keys.wait) == 0
    # Only the tombstone is left of the job: it drops a message SQS might have taken after all.
    assert [k for k in keys_of(ns) if k not in (keys.id, keys.meta, keys.events)] == [keys.removed]


def test_partial_sqs_failure_keeps_only_the_jobs_that_were_sent(ns: Namespace) -> None:
    queue = Queue("lead-processing", sqs=RefusingSqs(ns.sqs, accept=2))
    with pytest.raises(EnqueueError) as raised:
        queue.add_bulk([{"name": "process-lead", "data": {"leadId": i}} for i in range(4)])
    assert len(raised.value.accepted) == 2 and len(raised.value.rejected) == 2
    assert queue.get_job_counts()["waiting"] == 2
    assert messages_waiting(ns, "lead-processing") == 2
    for job_id in raised.value.rejected:
        assert queue.get_job(job_id) is None


def test_redis_failure_raises_and_sends_nothing(ns: Namespace) -> None:
    dead_redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    with pytest.raises(JobQueueError, match="could not record the jobs in Redis"):
        Queue("lead-processing", redis=dead_redis).add("process-lead", {"leadId": 1})
    assert messages_waiting(ns, "lead-processing") == 0


def test_malformed_sqs_records_fail_clearly_and_write_nothing(ns: Namespace) -> None:
    good = {"queue": "lead-processing", "id": "x", "name": "n", "opts": {}, "timestamp": 1}
    bodies = ["not json", json.dumps({"queue": "lead-processing"}), json.dumps({**good, "queue": "email"}),
              json.dumps({**good, "opts": {"attempts": -1}})]
    event = {"Records": [
        {"messageId": f"m{i}", "receiptHandle": f"r{i}", "body": body, "attributes": {"ApproximateReceiveCount": "1"},
         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
         "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:lead-processing", "awsRegion": "us-east-1"}
        for i, body in enumerate(bodies)
    ]}
    response = Worker("lead-processing").handle(event)
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == ["m0", "m1", "m2", "m3"]
    assert keys_of(ns) == []
