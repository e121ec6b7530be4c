"""Template tests of the REST API: the routes of openapi.json, throttled, logged, validated, traced."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema_rs
import pytest
from aws_cdk.assertions import Template

from infra.api import OPENAPI, STAGE_NAME, THROTTLE_BURST, THROTTLE_RATE, body_model_schema, routes
from infra.stack import JobQueueStack
from tests.infra.helpers import function_by_description, one

DOCUMENT: dict[str, Any] = json.loads(OPENAPI.read_text())
ROUTES = routes(DOCUMENT)
PUBLIC = {("POST", "/webhooks/{source}"), ("GET", "/health"), ("GET", "/dashboard"),
          ("GET", "/dashboard/{asset}")}


def resource_paths(template: Template) -> dict[str, str]:
    """Logical id of every API Gateway resource -> its full path."""
    resources = {i: r["Properties"] for i, r in template.find_resources("AWS::ApiGateway::Resource").items()}

    def path(logical_id: str) -> str:
        parent = resources[logical_id]["ParentId"]
        prefix = "" if "Fn::GetAtt" in parent else path(parent["Ref"])
        return f"{prefix}/{resources[logical_id]['PathPart']}"

    return {i: path(i) for i in resources}


def methods(template: Template) -> dict[tuple[str, str], dict[str, Any]]:
    paths = resource_paths(template)
    return {(m["Properties"]["HttpMethod"], paths[m["Properties"]["ResourceId"]["Ref"]]): m["Properties"]
            for m in template.find_resources("AWS::ApiGateway::Method").values()}


def test_every_documented_route_and_nothing_else_is_proxied_to_the_api_function(template: Template) -> None:
    found = methods(template)
    assert set(found) == {(method, path) for path, method, _ in ROUTES}
    api_id, _ = function_by_description(template, "jobqueue API and webhook intake")
    for props in found.values():
        assert props["Integration"]["Type"] == "AWS_PROXY"
        assert api_id in json.dumps(props["Integration"]["Uri"])
    # One invoke permission for the whole API, not one per method.
    permissions = template.find_resources("AWS::Lambda::Permission", {"Properties": {
        "Principal": "apigateway.amazonaws.com"}})
    assert len(permissions) == 1


def test_management_routes_are_checked_by_the_function_by_default(template: Template) -> None:
    found = methods(template)
    assert {props["AuthorizationType"] for props in found.values()} == {"NONE"}
    _, api = function_by_description(template, "jobqueue API and webhook intake")
    assert "JOBQUEUE_MANAGEMENT_AUTH" not in api["Environment"]["Variables"]


def test_iam_option_puts_management_routes_behind_iam(variant: Callable[..., tuple[JobQueueStack, Template]]) -> None:
    _, template = variant(management_auth="iam")
    found = methods(template)
    for route, props in found.items():
        assert props["AuthorizationType"] == ("NONE" if route in PUBLIC else "AWS_IAM"), route
    _, api = function_by_description(template, "jobqueue API and webhook intake")
    variables = api["Environment"]["Variables"]
    assert variables["JOBQUEUE_MANAGEMENT_AUTH"] == "iam"
    assert "SERVICE_TOKEN_SECRET_ID" not in variables  # no token to hold, no secret to read


def test_metrics_token_option_opens_get_metrics_to_a_scraper_alone(
        variant: Callable[..., tuple[JobQueueStack, Template]]) -> None:
    """-c metricsToken=true: a secret for the scrape token; under IAM, GET /metrics alone leaves IAM (the function
    answers it only to that token)."""
    _, template = variant(management_auth="iam", metrics_token=True)
    for route, props in methods(template).items():
        expected = "NONE" if route in PUBLIC or route == ("GET", "/metrics") else "AWS_IAM"
        assert props["AuthorizationType"] == expected, route
    _, api = function_by_description(template, "jobqueue API and webhook intake")
    assert "METRICS_TOKEN_SECRET_ID" in api["Environment"]["Variables"]
    secrets = template.find_resources("AWS::SecretsManager::Secret")
    assert any("scraper" in r["Properties"]["Description"] for r in secrets.values())
    _, default = variant(management_auth="iam")
    assert "METRICS_TOKEN_SECRET_ID" not in function_by_description(default, "jobqueue API and webhook intake")[1][
        "Environment"]["Variables"]


def test_read_only_token_option_adds_the_viewers_secret(variant: Callable[..., tuple[JobQueueStack, Template]]) -> None:
    """-c readOnlyToken=true: a secret for the dashboard's read-only token, read by the API function alone."""
    _, template = variant(read_only_token=True)
    _, api = function_by_description(template, "jobqueue API and webhook intake")
    assert "READ_ONLY_TOKEN_SECRET_ID" in api["Environment"]["Variables"]
    secrets = template.find_resources("AWS::SecretsManager::Secret")
    assert any("read-only" in r["Properties"]["Description"] for r in secrets.values())
    with pytest.raises(ValueError, match="readOnlyToken: needs managementAuth=token"):
        variant(management_auth="iam", read_only_token=True)


def test_stage_throttles_logs_json_and_traces(template: Template) -> None:
    _, stage = one(template, "AWS::ApiGateway::Stage", {})
    assert stage["StageName"] == STAGE_NAME
    assert stage["TracingEnabled"] is True
    [settings] = stage["MethodSettings"]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (THROTTLE_RATE, THROTTLE_BURST)
    assert settings["DataTraceEnabled"] is False and settings["LoggingLevel"] == "ERROR"
    access_log = json.loads(stage["AccessLogSetting"]["Format"])
    assert {"requestId", "ip", "caller", "status", "httpMethod", "resourcePath"} <= set(access_log)
    assert "ApiAccessLogs" in json.dumps(stage["AccessLogSetting"]["DestinationArn"])


def test_required_bodies_are_validated_and_parameters_everywhere(template: Template) -> None:
    validators = {i: r["Properties"] for i, r in template.find_resources("AWS::ApiGateway::RequestValidator").items()}
    models = {i: r["Properties"]["Schema"] for i, r in template.find_resources("AWS::ApiGateway::Model").items()}
    found = methods(template)
    for path, method, operation in ROUTES:
        props = found[(method, path)]
        validator = validators[props["RequestValidatorId"]["Ref"]]
        assert validator["ValidateRequestParameters"] is True
        expected = body_model_schema(DOCUMENT, operation)
        if expected is None:
            assert "RequestModels" not in props and "ValidateRequestBody" not in validator
        else:
            assert validator["ValidateRequestBody"] is True
            assert models[props["RequestModels"]["application/json"]["Ref"]] == expected
        for name in (p["name"] for p in operation.get("parameters", []) if p["in"] == "path"):
            assert props["RequestParameters"][f"method.request.path.{name}"] is True
    assert {method for _, method, op in ROUTES if body_model_schema(DOCUMENT, op)} == {"POST"}


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"queue": "email", "name": "password_reset", "data": {}}, True),
        ({"jobType": "send-message", "data": {}}, True),
        ({"queue": "email", "jobs": [{"name": "generic"}]}, True),
        ({"queue": "email"}, False),  # neither a name, a jobType nor jobs
        (["not", "an", "object"], False),
    ],
)
def test_the_jobs_model_admits_the_three_documented_forms_only(body: Any, valid: bool) -> None:
    [operation] = [op for path, method, op in ROUTES if (method, path) == ("POST", "/jobs")]
    schema = body_model_schema(DOCUMENT, operation)
    assert schema is not None
    assert jsonschema_rs.Draft4Validator(schema).is_valid(body) is valid
