"""The REST API: every route of the committed OpenAPI document (openapi.json) proxied to the API function.

`JobQueueApi(stack, "Api", handler=api_function, iam_management=False).api.url` is the stage URL. Resources and
methods come from the document, so the gateway and the API's own routes cannot disagree.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.checkov import LOG_GROUP_KMS, skip_checks
from infra.layer import REPO

__all__ = ["OPENAPI", "STAGE_NAME", "THROTTLE_BURST", "THROTTLE_RATE", "JobQueueApi", "body_model_schema", "routes"]

OPENAPI = REPO / "openapi.json"
STAGE_NAME = "v1"
THROTTLE_RATE = 100  # requests per second across the stage; raise with a quota increase if needed
THROTTLE_BURST = 200
_METHODS = ("get", "put", "post", "delete", "patch")
_DRAFT4 = "http://json-schema.org/draft-04/schema#"
BEARER_REASON = (
    "Authorized by the API function before any work: the bearer token is compared in constant time with the service "
    "token from Secrets Manager, the same check the local runtime serves (-c managementAuth=iam puts this method "
    "behind AWS_IAM instead); a Lambda authorizer would repeat that check in another function"
)
SCRAPE_REASON = (
    "Open to a Prometheus scraper under -c managementAuth=iam -c metricsToken=true: the function answers it only to "
    "the scrape token from Secrets Manager (constant time), which opens this route alone"
)
METRICS_ROUTE = ("GET", "/metrics")
PUBLIC_REASONS = {  # the routes the document leaves open, each with what guards it instead
    ("POST", "/webhooks/{source}"): "Public by design: webhook senders cannot sign AWS requests; the function checks "
    "the body's HMAC signature with the source's secret (constant time) and refuses an unsigned body before any work",
    ("GET", "/health"): "Public by design: uptime probes call it without credentials; it answers liveness and the "
    "backends' state (reachability, memory use) only, no job data, and stage throttling bounds its rate",
    ("GET", "/dashboard"): "Public by design: the dashboard's page holds no data; a browser loads it before signing "
    "in, and every call it then makes carries the bearer token the function checks",
    ("GET", "/dashboard/{asset}"): "Public by design: the dashboard's fixed script and style sheet, packaged files "
    "named in the function (any other name is a 404), no data",
}


def routes(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, METHOD, operation) for every operation of an OpenAPI document."""
    return [
        (path, method.upper(), operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in _METHODS
    ]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not ref:
        return schema
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return _resolve(document, node)


def _shape(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The top level of a body schema: its type and required fields (the function validates the rest)."""
    schema = _resolve(document, schema)
    branches = schema.get("oneOf") or schema.get("anyOf")
    if branches:
        # anyOf, not oneOf: top-level shapes may overlap where the full schemas do not.
        return {"anyOf": [_shape(document, b) for b in branches]}
    shape: dict[str, Any] = {key: schema[key] for key in ("type", "required") if key in schema}
    return shape or {"type": "object"}


def body_model_schema(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    """A JSON-schema draft-4 model for an operation whose body is required, or None (body optional or absent).

    API Gateway rejects a body that is not JSON or misses a required field before the function runs; the
    function's own validation (pydantic, from the same models that wrote openapi.json) checks everything else.
    """
    body = operation.get("requestBody")
    if not body or not body.get("required"):
        return None
    schema = body["content"]["application/json"]["schema"]
    return {"$schema": _DRAFT4, "title": operation["operationId"], **_shape(document, schema)}


def _json_schema(shape: dict[str, Any]) -> apigw.JsonSchema:
    """`body_model_schema`'s dict as CDK's JsonSchema (it renders back the same JSON)."""
    kind = shape.get("type")
    return apigw.JsonSchema(
        schema=apigw.JsonSchemaVersion.DRAFT4 if "$schema" in shape else None,
        title=shape.get("title"),
        type=apigw.JsonSchemaType[kind.upper()] if kind else None,
        required=shape.get("required"),
        any_of=[_json_schema(b) for b in shape["anyOf"]] if "anyOf" in shape else None,
    )


class JobQueueApi(Construct):
    """API Gateway REST API -> `handler` (proxy integration) with throttling, JSON access logs, X-Ray and
    request validation. Routes the document secures (the service token) use IAM authorization when
    `iam_management`; otherwise the function checks the bearer token. Webhooks and /health stay public, and so
    does GET /metrics under IAM when `metrics_token` (the function checks the scrape token there).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        handler: lambda_.IFunction,
        iam_management: bool,
        name: str,
        metrics_token: bool = False,
        document_path: Path = OPENAPI,
    ) -> None:
        super().__init__(scope, id)
        document: dict[str, Any] = json.loads(document_path.read_text())
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH)
        skip_checks(self.access_logs, CKV_AWS_158=LOG_GROUP_KMS)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=name,
            description=document["info"].get("description", name),
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                throttling_rate_limit=THROTTLE_RATE,
                throttling_burst_limit=THROTTLE_BURST,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # request bodies carry job data and tokens: never into the logs
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True, http_method=True, ip=True, protocol=True, request_time=True,
                    resource_path=True, response_length=True, status=True, user=True,
                ),
            ),
        )
        # One permission for the whole API instead of one per method (the function's policy has a size limit).
        integration = apigw.LambdaIntegration(handler, scope_permission_to_method=False)
        parameters_only = self.api.add_request_validator("Parameters", validate_request_parameters=True)
        with_body = self.api.add_request_validator(
            "Body", validate_request_body=True, validate_request_parameters=True
        )
        self.public: list[tuple[str, str]] = []
        for path, method, operation in routes(document):
            secured = bool(operation.get("security", document.get("security")))
            scraped = metrics_token and (method, path) == METRICS_ROUTE
            iam = iam_management and secured and not scraped
            if not iam:
                self.public.append((method, path))
            schema = body_model_schema(document, operation)
            models = None
            if schema is not None:
                model = self.api.add_model(
                    f"{operation['operationId']}Body", content_type="application/json",
                    schema=_json_schema(schema),
                )
                models = {"application/json": model}
            added = self.api.root.resource_for_path(path).add_method(
                method,
                integration,
                operation_name=operation.get("operationId"),
                authorization_type=apigw.AuthorizationType.IAM if iam else apigw.AuthorizationType.NONE,
                request_validator=with_body if schema is not None else parameters_only,
                request_models=models,
                request_parameters={f"method.request.path.{p}": True for p in re.findall(r"\{(\w+)\}", path)},
            )
            if not iam:  # a route the document leaves open without a reason here fails checkov's test
                reason = SCRAPE_REASON if scraped and iam_management else (
                    BEARER_REASON if secured else PUBLIC_REASONS.get((method, path)))
                if reason:
                    skip_checks(added, CKV_AWS_59=reason)
        self._acknowledge(iam_management)

    def _acknowledge(self, iam_management: bool) -> None:
        """What cdk-nag flags by design here, with why it holds."""
        auth = (
            "Management routes use IAM authorization; the rest are public by design: webhooks are verified by "
            "their HMAC signature in the function and /health reveals nothing"
            if iam_management else
            "Management routes are authorized in the function by the bearer service token from Secrets Manager "
            "(-c managementAuth=iam moves them to IAM); webhooks are verified by their HMAC signature and "
            "/health reveals nothing"
        )
        Validations.of(self.api).acknowledge(
            Acknowledgment(id="AwsSolutions-APIG4", reason=auth),
            Acknowledgment(id="AwsSolutions-COG4", reason="No Cognito user pool: callers are services. " + auth),
            Acknowledgment(
                id="AwsSolutions-APIG3",
                reason="No WAF by default: stage throttling bounds the rate, every management call is "
                "authenticated and webhooks are signed; attach a WebACL to the stage where the API faces "
                "untrusted traffic at volume",
            ),
        )
        skip_checks(
            self.api.deployment_stage,
            CKV_AWS_120="Answers are live job state (counts, progress, results) for authorized callers: a stage "
            "cache would serve stale state across callers, and API Gateway bills its cache by the hour",
        )
        Validations.of(self.api.node.find_child("CloudWatchRole")).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                reason="API Gateway's account-level logging role: AWS's managed policy is the documented one, it "
                "is scoped to logs actions, and API Gateway names the log groups itself",
            )
        )
