"""Driving the worker by hand, as Lambda's SQS event source does, and reading what each job's processor did."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.support.processors import attempts_of

if TYPE_CHECKING:
    from jobqueue.worker import Worker
    from tests.conftest import Namespace


class Killed(BaseException):
    """The process dies here (out of memory, a Lambda timeout): nothing after this point runs."""


def receive(ns: Namespace, queue: str = "lead-processing", count: int = 10) -> list[dict[str, Any]]:
    """Receive up to `count` messages as the records of one SQS event (with their real receive counts)."""
    messages = ns.sqs.receive_message(QueueUrl=ns.queue_urls[queue], MaxNumberOfMessages=count, WaitTimeSeconds=1,
                                      MessageSystemAttributeNames=["All"], VisibilityTimeout=30).get("Messages", [])
    return [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
             "attributes": {"ApproximateReceiveCount": m["Attributes"]["ApproximateReceiveCount"]},
             "messageAttributes": {}, "eventSource": "aws:sqs"} for m in messages]


def deliver(ns: Namespace, worker: Worker, records: list[dict[str, Any]], context: Any = None) -> list[str]:
    """Hand `records` to the worker as Lambda's event source does: delete what it did not report failed.
    Returns the failed message ids."""
    failed = [str(f["itemIdentifier"]) for f in worker.handle({"Records": records}, context)["batchItemFailures"]]
    done = [r for r in records if r["messageId"] not in failed]
    if done:
        ns.sqs.delete_message_batch(QueueUrl=ns.queue_urls[worker.name], Entries=[
            {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(done)])
    return failed


def runs(job_id: str) -> list[int]:
    """The attempt numbers of every processor run of the job."""
    return [a["attempt"] for a in attempts_of(job_id)]


def run_all(ns: Namespace, worker: Worker, idle_polls: int = 2) -> None:
    """Deliver the worker's queue to it until `idle_polls` receives in a row find nothing (each waits 1 s)."""
    idle = 0
    while idle < idle_polls:
        records = receive(ns, worker.name)
        idle = 0 if records else idle + 1
        if records:
            deliver(ns, worker, records)
