"""The local Lambda API speaks the event source mapping calls as boto3 makes them: create, list (filters,
pages), get, update, delete, and Lambda's errors."""

from __future__ import annotations

import uuid

import pytest

from jobqueue.connection import aws_client
from jobqueue.local.lambda_api import LambdaApi


def test_mappings_are_created_listed_by_function_or_source_paged_and_switched(local_lambda: LambdaApi) -> None:
    client, token = aws_client("lambda"), uuid.uuid4().hex[:8]
    sources = [f"arn:aws:sqs:us-east-1:000000000000:{token}-{i}" for i in range(3)]
    created = [client.create_event_source_mapping(
        FunctionName=f"worker-{token}", EventSourceArn=arn, BatchSize=5, MaximumBatchingWindowInSeconds=2,
        FunctionResponseTypes=["ReportBatchItemFailures"], ScalingConfig={"MaximumConcurrency": 2})
        for arn in sources]
    assert {m["State"] for m in created} == {"Enabled"}
    assert created[0]["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:worker-{token}"
    assert (created[0]["BatchSize"], created[0]["ScalingConfig"]) == (5, {"MaximumConcurrency": 2})

    pages = client.get_paginator("list_event_source_mappings").paginate(
        FunctionName=f"worker-{token}", PaginationConfig={"PageSize": 2})
    assert [[m["UUID"] for m in page["EventSourceMappings"]] for page in pages] == [
        [created[0]["UUID"], created[1]["UUID"]], [created[2]["UUID"]]]
    listed = client.list_event_source_mappings(EventSourceArn=sources[1])["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [created[1]["UUID"]]

    # No poller consumes these: a switch is immediate.
    assert client.update_event_source_mapping(UUID=created[1]["UUID"], Enabled=False)["State"] == "Disabled"
    assert client.get_event_source_mapping(UUID=created[1]["UUID"])["State"] == "Disabled"
    for mapping in created:
        assert client.delete_event_source_mapping(UUID=mapping["UUID"])["State"] == "Deleting"
    assert client.list_event_source_mappings(FunctionName=f"worker-{token}")["EventSourceMappings"] == []


def test_errors_are_lambdas(local_lambda: LambdaApi) -> None:
    client, arn = aws_client("lambda"), f"arn:aws:sqs:us-east-1:000000000000:{uuid.uuid4().hex[:8]}"
    mapping = client.create_event_source_mapping(FunctionName="f", EventSourceArn=arn)
    with pytest.raises(client.exceptions.ResourceConflictException):
        client.create_event_source_mapping(FunctionName="f", EventSourceArn=arn)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.update_event_source_mapping(UUID=str(uuid.uuid4()), Enabled=False)
    with pytest.raises(client.exceptions.InvalidParameterValueException, match="cannot update"):
        client.update_event_source_mapping(UUID=mapping["UUID"], ScalingConfig={"MaximumConcurrency": 5})
    with pytest.raises(client.exceptions.InvalidParameterValueException, match="BatchSize"):
        client.update_event_source_mapping(UUID=mapping["UUID"], BatchSize=20000)
    client.delete_event_source_mapping(UUID=mapping["UUID"])
