"""Acceptance 3 of issue 7 on the whole stack: the seed tables and the domain-event rule are in the template,
and each function may touch exactly the tables (`workloads.records.ACCESS`) and services (`USES`) it uses."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match, Template

from infra.records import READ_ACTIONS, WRITE_ACTIONS
from infra.seed_services import CREDENTIALS, USES
from infra.stack import JobQueueStack
from tests.infra.conftest import PREFIX
from tests.infra.helpers import actions, function_by_description, job_functions, queue, resources, statements
from workloads.events import EVENT_PATTERN
from workloads.processors import ALL
from workloads.records import ACCESS, TABLES


def _function_key(props: dict[str, Any]) -> str:
    """What ACCESS and USES are keyed by: the queue or DLQ a function serves ("api" for the API)."""
    env = props["Environment"]["Variables"]
    return str(env.get("QUEUE_NAME") or env.get("DEAD_LETTER_QUEUE") or props["Description"])


def _table_ids(stack: JobQueueStack) -> dict[str, str]:
    return {key: stack.get_logical_id(table.node.default_child) for key, table in  # type: ignore[arg-type]
            stack.records.tables.items()}


def test_tables_and_the_bus_rule_to_the_search_queue_are_in_the_template(template: Template) -> None:
    template.resource_count_is("AWS::DynamoDB::Table", len(TABLES))
    for spec in TABLES.values():
        template.has_resource_properties("AWS::DynamoDB::Table", {
            "TableName": PREFIX + spec.base_name, "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}})
    search_id, _ = queue(template, "search")
    template.has_resource_properties("AWS::Events::Rule", {
        "EventPattern": EVENT_PATTERN,
        "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [search_id, "Arn"]},
                                       "InputTransformer": Match.object_like({"InputPathsMap": Match.any_value()})})]})
    template.has_resource_properties("AWS::Events::EventBus", {"Name": f"{PREFIX}domain-events"})


def test_each_function_reaches_only_its_tables_with_only_the_store_calls(stack: JobQueueStack,
                                                                          template: Template) -> None:
    table_ids = _table_ids(stack)
    api_id, _ = function_by_description(template, "jobqueue API and webhook intake")
    for function_id, props in job_functions(template).items():
        key = "bulk-availability" if function_id == api_id else _function_key(props)
        granted: dict[str, set[str]] = {}
        for statement in statements(template, props):
            dynamo = {a for a in actions(statement) if a.startswith("dynamodb:")}
            for resource in resources(statement) if dynamo else ():
                [table] = [k for k, i in table_ids.items() if i in json.dumps(resource)]
                granted.setdefault(table, set()).update(dynamo)
        expected = {table: set(READ_ACTIONS) | (set(WRITE_ACTIONS) if access == "write" else set())
                    for table, access in ACCESS.get(key, {}).items()}
        assert granted == expected, key
        variables = props["Environment"]["Variables"]
        assert variables["JOBQUEUE_PROCESSORS"] == ",".join(ALL)
        assert {spec.env for spec in TABLES.values()} <= set(variables)


def test_each_worker_gets_the_secrets_of_the_services_it_calls(template: Template) -> None:
    for props in job_functions(template).values():
        variables = props["Environment"]["Variables"]
        if "QUEUE_NAME" not in variables:
            continue
        services = {f"{CREDENTIALS[s]}_SECRET_ID" for s in USES.get(variables["QUEUE_NAME"], ())}
        seed_secrets = {name for name in variables if name.endswith("_SECRET_ID") and name != "REDIS_AUTH_SECRET_ID"}
        assert seed_secrets == services, variables["QUEUE_NAME"]
        assert not any(name.endswith("_API_KEY") or name in ("SMTP_PASS", "VAPID_PRIVATE_KEY") for name in variables)
