"""The seed records construct: tables from the one definition, the domain-event rule, least-privilege grants."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template

from infra.records import SeedRecords
from jobqueue.catalog import load_catalog
from jobqueue.job import parse_message
from workloads.records import TABLES


def _function(stack: Stack, name: str) -> lambda_.Function:
    return lambda_.Function(stack, name, runtime=lambda_.Runtime.PYTHON_3_12, handler="index.handler",
                            code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"))


Built = tuple[Template, Stack, SeedRecords]


@pytest.fixture(scope="module")
def built() -> Built:
    stack = Stack(App(), "records-test")
    search = sqs.Queue(stack, "Search", queue_name="t-search")
    records = SeedRecords(stack, "Records", catalog=load_catalog(), name_prefix="t-", search_queue=search)
    for function in ("lead-processing", "health-check", "message-processing", "webhooks"):
        records.grant(_function(stack, function), function)
    return Template.from_stack(stack), stack, records


def test_every_table_of_the_definition_with_its_keys_indexes_and_ttl(built: Built) -> None:
    template = built[0]
    template.resource_count_is("AWS::DynamoDB::Table", len(TABLES))
    template.has_resource_properties("AWS::DynamoDB::Table", {
        "TableName": "t-leads", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "leadId", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [Match.object_like({"IndexName": "by-status", "KeySchema": [
            {"AttributeName": "status", "KeyType": "HASH"}, {"AttributeName": "updatedAt", "KeyType": "RANGE"}]})],
        "SSESpecification": {"SSEEnabled": True},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    })
    template.has_resource_properties("AWS::DynamoDB::Table", {
        "TableName": "t-scheduled-messages",
        "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": True},
    })
    template.has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": "Retain"})


def test_entity_events_go_to_the_search_queue_as_index_doc_jobs(built: Built) -> None:
    template = built[0]
    template.has_resource_properties("AWS::Events::EventBus", {"Name": "t-domain-events"})
    rules = template.find_resources("AWS::Events::Rule")
    assert len(rules) == 1
    rule = next(iter(rules.values()))["Properties"]
    assert rule["EventPattern"] == {"source": ["app.entities"], "detail-type": ["EntityChanged"]}
    (target,) = rule["Targets"]
    transformer = target["InputTransformer"]
    filled = transformer["InputTemplate"]
    for name, value in {"eventId": "e-1", "entity": "post", "entityId": "p-1"}.items():
        filled = filled.replace(f"<{name}>", value)
    message = parse_message(filled.replace("<doc>", json.dumps({"title": "t"})))
    assert (message.queue, message.id, message.name) == ("search", "evt-e-1", "index_doc")
    assert message.data == {"entity": "post", "id": "p-1", "doc": {"title": "t"}}
    assert message.opts.attempts == 5  # the catalog's index_doc options
    template.has_resource_properties("AWS::SQS::QueuePolicy", {"PolicyDocument": {"Statement": [Match.object_like({
        "Action": Match.array_with(["sqs:SendMessage"]), "Principal": {"Service": "events.amazonaws.com"},
        "Condition": {"ArnEquals": {"aws:SourceArn": Match.any_value()}}})]}})


def _logical_id(stack: Stack, construct: Any) -> str:
    return stack.get_logical_id(construct.node.default_child)


def _policy_of(template: Template, stack: Stack, function_id: str) -> str:
    """The function role's policies, as JSON text ("" for none; resources appear as logical ids)."""
    role = _logical_id(stack, stack.node.find_child(function_id).node.find_child("ServiceRole"))
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role}]}})
    return json.dumps([p["Properties"]["PolicyDocument"] for p in policies.values()]) if policies else ""


def test_grants_reach_only_the_tables_a_queue_uses(built: Built) -> None:
    template, stack, records = built
    table_ids = {key: _logical_id(stack, table) for key, table in records.tables.items()}

    def tables_in(function: str) -> set[str]:
        policy = _policy_of(template, stack, function)
        return {key for key, logical_id in table_ids.items() if logical_id in policy}

    assert tables_in("lead-processing") == {"leads"}
    assert tables_in("health-check") == {"lines"}
    assert tables_in("message-processing") == {"scheduled_messages", "lines"}
    message_policy = _policy_of(template, stack, "message-processing")
    assert "dynamodb:PutItem" in message_policy  # scheduled messages: read and write
    assert _policy_of(template, stack, "webhooks") == ""  # its processor keeps no records
    assert records.environment()["LEADS_TABLE"]
