"""Finding resources in a synthesized template by what they are, never by hashed logical ids."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

from tests.infra.conftest import PREFIX


def one(template: Template, type_: str, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The logical id and properties of the only resource of `type_` whose properties match `props`."""
    found = template.find_resources(type_, {"Properties": props})
    assert len(found) == 1, f"{len(found)} {type_} matching {props}"
    [(logical_id, resource)] = found.items()
    return logical_id, resource["Properties"]


def job_functions(template: Template) -> dict[str, dict[str, Any]]:
    """jobqueue's functions (logical id -> properties): those running the engine layer, not CDK's own helpers
    (the custom resource that strips the VPC's default security group)."""
    found = template.find_resources("AWS::Lambda::Function")
    return {i: r["Properties"] for i, r in found.items() if "Layers" in r["Properties"]}


def function(template: Template, variable: str, name: str) -> tuple[str, dict[str, Any]]:
    """The function whose environment has `variable`=`name` (QUEUE_NAME, DEAD_LETTER_QUEUE)."""
    return one(template, "AWS::Lambda::Function", {"Environment": {"Variables": {variable: name}}})


def function_by_description(template: Template, description: str) -> tuple[str, dict[str, Any]]:
    return one(template, "AWS::Lambda::Function", {"Description": description})


def event_sources(template: Template, function_id: str) -> list[dict[str, Any]]:
    found = template.find_resources("AWS::Lambda::EventSourceMapping",
                                    {"Properties": {"FunctionName": {"Ref": function_id}}})
    return [r["Properties"] for r in found.values()]


def queue(template: Template, name: str) -> tuple[str, dict[str, Any]]:
    """The logical id and properties of the SQS queue named `<PREFIX><name>`."""
    return one(template, "AWS::SQS::Queue", {"QueueName": PREFIX + name})


def queue_name_of(template: Template, arn: dict[str, Any]) -> str:
    """The unprefixed name of the queue an `Fn::GetAtt [id, Arn]` points at."""
    props = template.find_resources("AWS::SQS::Queue")[arn["Fn::GetAtt"][0]]["Properties"]
    return str(props["QueueName"]).removeprefix(PREFIX)


def statements(template: Template, function_props: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of the policies attached to a function's role."""
    role_id = function_props["Role"]["Fn::GetAtt"][0]
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}})
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def actions(statement: dict[str, Any]) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else list(statement["Action"])


def resources(statement: dict[str, Any]) -> list[Any]:
    """A statement's resources (minimizePolicies merges statements that differ only in resources)."""
    return list(statement["Resource"]) if isinstance(statement["Resource"], list) else [statement["Resource"]]


def actions_on(found: list[dict[str, Any]], resource: Any) -> set[str]:
    """The actions the statements allow on exactly `resource`."""
    return {a for s in found if resource in resources(s) for a in actions(s)}
