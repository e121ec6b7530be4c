"""Acceptance 4: the synthesized topology equals the queue catalog and what the local runtime creates.

Three views of one system, reduced to the same shape and compared: the CDK template, the catalog (through
`function_specs` and `jobqueue.schedules`), and the SQS queues `create_topology` makes on the moto server.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
from aws_cdk.assertions import Template

from jobqueue.deployment import function_specs
from jobqueue.local.topology import create_topology
from jobqueue.schedules import list_schedules, schedule_name
from jobqueue.sweeper import sweep_schedule
from tests.infra.conftest import CATALOG, PREFIX
from tests.infra.helpers import queue_name_of

SCHEDULES_DLQ = "schedules-dlq"  # Scheduler's own DLQ: deployed only, nothing runs it locally
Queues = dict[str, dict[str, Any]]


def template_queues(template: Template) -> Queues:
    """SQS name (unprefixed) -> DLQ name, maxReceiveCount, visibility timeout, retention, SSE."""
    queues = template.find_resources("AWS::SQS::Queue")
    shape: Queues = {}
    for props in (r["Properties"] for r in queues.values()):
        if props["QueueName"] == PREFIX + SCHEDULES_DLQ:
            continue
        redrive = props.get("RedrivePolicy")
        shape[props["QueueName"].removeprefix(PREFIX)] = {
            "dead_letter": queue_name_of(template, redrive["deadLetterTargetArn"]) if redrive else None,
            "max_receive_count": redrive["maxReceiveCount"] if redrive else None,
            "visibility_timeout": props["VisibilityTimeout"],
            "retention": props["MessageRetentionPeriod"],
            "sse": props["SqsManagedSseEnabled"],
        }
    return shape


def local_queues(endpoint: str) -> Queues:
    """The same shape, read back from the queues `create_topology` made on the moto server."""
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    prefix = f"topo{uuid.uuid4().hex[:8]}-"
    urls = create_topology(sqs, CATALOG, prefix)
    arn_names: dict[str, str] = {}
    attributes: dict[str, dict[str, str]] = {}
    for name, url in urls.items():
        attributes[name] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        arn_names[attributes[name]["QueueArn"]] = name
    shape: Queues = {}
    for name, attrs in attributes.items():
        redrive = json.loads(attrs["RedrivePolicy"]) if "RedrivePolicy" in attrs else None
        shape[name] = {
            "dead_letter": arn_names[redrive["deadLetterTargetArn"]] if redrive else None,
            "max_receive_count": int(redrive["maxReceiveCount"]) if redrive else None,
            "visibility_timeout": int(attrs["VisibilityTimeout"]),
            "retention": int(attrs["MessageRetentionPeriod"]),
            "sse": attrs["SqsManagedSseEnabled"] == "true",
        }
    return shape


def catalog_queues() -> dict[str, tuple[str | None, int | None]]:
    """What the catalog says: every lane redrives to its queue's DLQ after max_receive_count; DLQs redrive nowhere."""
    lanes = {lane.sqs_name: (q.dead_letter, q.max_receive_count)
             for q in CATALOG.queues.values() for lane in q.lanes()}
    return {**lanes, **dict.fromkeys(CATALOG.dead_letters, (None, None))}


def test_sqs_topology_equals_the_catalog_and_the_local_runtime(template: Template, moto_endpoint: str) -> None:
    deployed = template_queues(template)
    local = local_queues(moto_endpoint)
    assert deployed == local
    assert {name: (q["dead_letter"], q["max_receive_count"]) for name, q in deployed.items()} == catalog_queues()


def test_event_sources_equal_the_function_specs(template: Template) -> None:
    """Per function: the queues it consumes, with batch size, batching window and concurrency."""
    functions = {i: r["Properties"] for i, r in template.find_resources("AWS::Lambda::Function").items()}
    deployed: dict[str, set[tuple[str, int, int, int]]] = {}
    for mapping in (r["Properties"] for r in template.find_resources("AWS::Lambda::EventSourceMapping").values()):
        function = functions[mapping["FunctionName"]["Ref"]]
        concurrency = mapping.get("ScalingConfig", {}).get("MaximumConcurrency", function.get(
            "ReservedConcurrentExecutions"))
        deployed.setdefault(function["Description"], set()).add((
            queue_name_of(template, mapping["EventSourceArn"]), mapping["BatchSize"],
            mapping.get("MaximumBatchingWindowInSeconds", 0), concurrency,
        ))
    expected = {spec.description: {(s.sqs_name, s.batch_size, s.batching_window, s.max_concurrency)
                                    for s in spec.event_sources}
                for spec in function_specs(CATALOG) if spec.event_sources}
    assert deployed == expected


def test_schedules_equal_the_catalogs_cron_entries(template: Template) -> None:
    deployed = {(r["Properties"]["Name"], r["Properties"]["ScheduleExpression"],
                 r["Properties"].get("ScheduleExpressionTimezone"))
                for r in template.find_resources("AWS::Scheduler::Schedule").values()}
    deployed.remove((sweep_schedule(PREFIX)["Name"], "rate(1 minute)", None))  # the sweeper's, beside the catalog's
    entries = {(q.name, e.name): e for q in CATALOG.queues.values() for e in q.cron}
    expected = {(schedule_name(s["queue"], entries[(s["queue"], s["name"])], PREFIX), s["expression"], s["tz"])
                for s in list_schedules(CATALOG)}
    assert deployed == expected
    assert len(expected) == len(entries) > 0
