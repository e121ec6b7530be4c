"""Create the catalog's SQS topology on an endpoint (moto, LocalStack): what the CDK app deploys."""

from __future__ import annotations

import json
from typing import Any

from jobqueue.catalog import WORK_RETENTION_S, Catalog
from jobqueue.deployment import dead_letter_timeout

__all__ = ["WORK_RETENTION_S", "create_topology", "visibility_timeout"]


def visibility_timeout(function_timeout: int) -> int:
    """AWS's advice for SQS event sources: at least six times the function's timeout."""
    return 6 * function_timeout


def create_topology(sqs: Any, catalog: Catalog, name_prefix: str = "") -> dict[str, str]:
    """Create every DLQ, then every work queue's lanes with their redrive policy; returns SQS name -> URL
    (without `name_prefix`: the catalog's names, lanes by their `Lane.sqs_name`).

    CreateQueue is idempotent for equal attributes, so running it again is harmless.
    """
    urls: dict[str, str] = {}
    for name, dlq in catalog.dead_letters.items():
        urls[name] = sqs.create_queue(
            QueueName=f"{name_prefix}{name}",
            Attributes={"MessageRetentionPeriod": str(dlq.retention_days * 24 * 3600),
                        "VisibilityTimeout": str(visibility_timeout(dead_letter_timeout(catalog, name))),
                        "SqsManagedSseEnabled": "true"},
        )["QueueUrl"]
    for queue in catalog.queues.values():
        dlq_arn = sqs.get_queue_attributes(QueueUrl=urls[queue.dead_letter], AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        attributes = {
            "VisibilityTimeout": str(visibility_timeout(queue.timeout)),
            "MessageRetentionPeriod": str(WORK_RETENTION_S),
            "SqsManagedSseEnabled": "true",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count}),
        }
        for lane in queue.lanes():
            urls[lane.sqs_name] = sqs.create_queue(QueueName=f"{name_prefix}{lane.sqs_name}",
                                                   Attributes=attributes)["QueueUrl"]
    return urls
