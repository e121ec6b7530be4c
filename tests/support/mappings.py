"""A namespace's worker event source mappings on the local Lambda API, created as `jobqueue dev` creates them."""

from __future__ import annotations

from jobqueue.connection import aws_client
from jobqueue.deployment import function_specs
from jobqueue.local.topology import create_event_source_mappings
from tests.conftest import Namespace


def create_worker_mappings(ns: Namespace, queue: str) -> list[str]:
    """The mappings of every lane of `queue` to its worker; returns their UUIDs."""
    specs = [s for s in function_specs(ns.catalog) if s.name == f"worker-{queue}"]
    return [mapping_id for _, _, mapping_id in create_event_source_mappings(aws_client("lambda"), ns.sqs, specs,
                                                                            ns.queue_urls)]


def mapping_states(ns: Namespace, queue: str) -> list[str]:
    """The State of each mapping of `queue`'s lanes, lane by lane, as the Lambda API lists them."""
    client = aws_client("lambda")
    arns = [ns.sqs.get_queue_attributes(QueueUrl=ns.queue_urls[lane.sqs_name], AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"] for lane in ns.catalog.queue(queue).lanes()]
    return [m["State"] for arn in arns
            for m in client.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]]
