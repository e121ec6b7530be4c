"""Create the catalog's SQS topology on an endpoint (moto, LocalStack) and the functions' event source mappings
on a Lambda API (the local runtime's own): what the CDK app deploys."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from jobqueue.catalog import WORK_RETENTION_S
from jobqueue.deployment import dead_letter_timeout

if TYPE_CHECKING:
    from jobqueue.catalog import Catalog
    from jobqueue.deployment import EventSource, FunctionSpec

__all__ = ["WORK_RETENTION_S", "create_event_source_mappings", "create_payload_bucket", "create_topology",
           "visibility_timeout"]


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


def create_payload_bucket(s3: Any, bucket: str | None) -> None:
    """Create the payload bucket (`jobqueue.payloads`) as the CDK app deploys it: private and encrypted at rest.
    One that exists already (a restart, another runtime on the same endpoint) is kept; None creates nothing."""
    if not bucket:
        return
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True))
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})


def create_event_source_mappings(client: Any, sqs: Any, specs: list[FunctionSpec],
                                 urls: dict[str, str]) -> list[tuple[FunctionSpec, EventSource, str]]:
    """CreateEventSourceMapping for every event source of `specs`, as the CDK app configures them (partial batch
    responses, MaximumConcurrency); `urls` are `create_topology`'s. Returns (function, source, mapping UUID).

    Only for the local runtime's Lambda API: the emulators' own mappings must never exist (see `lambda_api`).
    """
    created: list[tuple[FunctionSpec, EventSource, str]] = []
    for spec in specs:
        for source in spec.event_sources:
            arn = sqs.get_queue_attributes(QueueUrl=urls[source.sqs_name], AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"]
            scaling = {} if spec.reserve_one else {"ScalingConfig": {"MaximumConcurrency": source.max_concurrency}}
            mapping = client.create_event_source_mapping(
                FunctionName=spec.name, EventSourceArn=arn, BatchSize=source.batch_size,
                MaximumBatchingWindowInSeconds=source.batching_window,
                FunctionResponseTypes=["ReportBatchItemFailures"], **scaling)
            created.append((spec, source, mapping["UUID"]))
    return created
