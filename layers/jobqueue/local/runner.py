"""Run a Lambda function's handler on this machine, fed by SQS the way an event source mapping feeds it.

`FunctionRunner` loads `functions/<name>/handler.py` as Lambda does (by file, with the function's
environment). `poll_once` long-polls one batch, builds a real `aws:sqs` event, invokes the handler, deletes
what succeeded and leaves the `batchItemFailures` (and everything, if the handler raised) for SQS to redeliver.

    $ python -m jobqueue.local.runner worker --queue lead-processing --env QUEUE_NAME=lead-processing
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_lambda_powertools import Logger

from jobqueue.connection import aws_client

__all__ = ["FunctionRunner", "LocalContext", "failed_ids", "poll_once", "settle", "sqs_event"]

logger = Logger(service="jobqueue-local")
FUNCTIONS_DIR = Path(__file__).resolve().parents[3] / "functions"


@dataclass
class LocalContext:
    """The parts of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = ""
    invoked_function_arn: str = ""
    deadline: float | None = None
    """`time.monotonic()` when the invocation times out; None: a minute from any moment."""

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        if self.deadline is None:
            return 60_000
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class FunctionRunner:
    """One function's handler, imported once like a warm Lambda container."""

    def __init__(self, function: str, functions_dir: Path = FUNCTIONS_DIR, handler: str = "lambda_handler") -> None:
        self.function = function
        path = functions_dir / function / "handler.py"
        spec = importlib.util.spec_from_file_location(f"functions_{function}_handler", path)
        if spec is None or spec.loader is None:
            raise FileNotFoundError(f"no handler at {path}")
        self.module: ModuleType = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.module)
        self.handler = getattr(self.module, handler)

    def invoke(self, event: dict[str, Any], context: LocalContext | None = None) -> Any:
        return self.handler(event, context or LocalContext(self.function))


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """Lambda's SQS event for ReceiveMessage results (field names as the event source mapping writes them)."""
    records = []
    for m in messages:
        attributes = {k: v for k, v in m.get("Attributes", {}).items()}
        message_attributes = {
            name: {"stringValue": a.get("StringValue"), "binaryValue": a.get("BinaryValue"),
                   "stringListValues": [], "binaryListValues": [], "dataType": a["DataType"]}
            for name, a in m.get("MessageAttributes", {}).items()
        }
        records.append({
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": attributes, "messageAttributes": message_attributes,
            "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),
            "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region,
        })
    return {"Records": records}


def failed_ids(messages: list[dict[str, Any]], response: Any) -> set[str] | None:
    """The message ids a partial batch response reports failed; None when the response fails the whole batch.

    Lambda's rules: no response, or no or an empty `batchItemFailures`, is complete success; a response that is
    not an object, or an itemIdentifier that is missing, empty or not in the batch, fails every record."""
    if response is None:
        return set()
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures") or []
    if not isinstance(failures, list):
        return None
    batch = {str(m["MessageId"]) for m in messages}
    ids = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
    return {i for i in ids if i in batch} if all(i in batch for i in ids) else None


def settle(sqs: Any, queue_url: str, messages: list[dict[str, Any]], failed: set[str] | None) -> int:
    """Delete what succeeded (10 per call), leave the failures for SQS to redeliver; returns how many failed.

    `failed` None means the whole batch failed (the handler raised, timed out or crashed): nothing is deleted.
    """
    if failed is None:
        return len(messages)
    done = [m for m in messages if m["MessageId"] not in failed]
    for start in range(0, len(done), 10):
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])
        ])
    return len(messages) - len(done)


def poll_once(sqs: Any, queue_url: str, runner: FunctionRunner, batch_size: int = 10, wait_seconds: int = 1) -> int:
    """One receive-invoke-delete cycle; returns how many messages the handler was given."""
    response = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=batch_size, WaitTimeSeconds=wait_seconds,
        MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
    )
    messages = response.get("Messages", [])
    if not messages:
        return 0
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    event = sqs_event(messages, arn, sqs.meta.region_name)
    try:
        result = runner.invoke(event)
    except Exception:
        logger.exception("handler raised; the whole batch returns to the queue", extra={"queue": queue_url})
        return len(messages)
    settle(sqs, queue_url, messages, failed_ids(messages, result))
    return len(messages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Poll an SQS queue into a local Lambda handler.")
    parser.add_argument("function", help="directory name under functions/")
    parser.add_argument("--queue", required=True, help="SQS queue name (without the JOBQUEUE_SQS_PREFIX)")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the function")
    args = parser.parse_args(argv)
    for pair in args.env:
        name, _, value = pair.partition("=")
        os.environ[name] = value
    runner = FunctionRunner(args.function)
    sqs = aws_client("sqs")
    url = sqs.get_queue_url(QueueName=os.environ.get("JOBQUEUE_SQS_PREFIX", "") + args.queue)["QueueUrl"]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        poll_once(sqs, url, runner, args.batch_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
