"""Template tests of the engine layer and the functions: a worker per queue and a function per DLQ, as in the catalog.

The stack bundles the layer for real (pip for manylinux2014_aarch64, about 7 s), once per run (conftest.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from infra.functions import MIN_EVENT_SOURCE_CONCURRENCY
from infra.layer import EngineLayer, runtime_deps
from infra.stack import JobQueueStack, cdk_json_context
from tests.infra.conftest import CATALOG, PREFIX

DEAD_LETTERS = sorted(CATALOG.dead_letters)
COMMON_ENV = {
    "JOBQUEUE_SQS_PREFIX": PREFIX,
    "POWERTOOLS_SERVICE_NAME": "jobqueue",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_METRICS_NAMESPACE": "jobqueue",
}
XRAY_ACTIONS = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]


def one(template: Template, type_: str, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The logical id and properties of the only resource of `type_` whose properties match `props`."""
    found = template.find_resources(type_, {"Properties": props})
    assert len(found) == 1, f"{len(found)} {type_} matching {props}"
    [(logical_id, resource)] = found.items()
    return logical_id, resource["Properties"]


def function(template: Template, variable: str, name: str) -> tuple[str, dict[str, Any]]:
    return one(template, "AWS::Lambda::Function", {"Environment": {"Variables": {variable: name}}})


def event_source(template: Template, function_id: str) -> dict[str, Any]:
    return one(template, "AWS::Lambda::EventSourceMapping", {"FunctionName": {"Ref": function_id}})[1]


def queue_id(template: Template, name: str) -> str:
    return one(template, "AWS::SQS::Queue", {"QueueName": PREFIX + name})[0]


def statements(template: Template, function_props: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of the policies attached to the function's role."""
    role_id = function_props["Role"]["Fn::GetAtt"][0]
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}})
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def actions_on(statements: list[dict[str, Any]], resource: Any) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        if statement["Resource"] == resource:
            found |= set([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    return found


def assert_concurrency(function_props: dict[str, Any], mapping: dict[str, Any], concurrency: int) -> None:
    if concurrency < MIN_EVENT_SOURCE_CONCURRENCY:
        assert function_props["ReservedConcurrentExecutions"] == 1
        assert "ScalingConfig" not in mapping
    else:
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": concurrency}
        assert "ReservedConcurrentExecutions" not in function_props


def test_one_function_and_event_source_per_queue_and_dead_letter_queue(template: Template) -> None:
    count = len(CATALOG.queues) + len(DEAD_LETTERS)
    template.resource_count_is("AWS::Lambda::Function", count)
    template.resource_count_is("AWS::Lambda::EventSourceMapping", count)
    template.resource_count_is("AWS::Lambda::LayerVersion", 1)
    functions = template.find_resources("AWS::Lambda::Function").values()
    names = {
        (k, v) for f in functions for k, v in f["Properties"]["Environment"]["Variables"].items()
        if k in ("QUEUE_NAME", "DEAD_LETTER_QUEUE")
    }
    assert names == {("QUEUE_NAME", q) for q in CATALOG.queues} | {("DEAD_LETTER_QUEUE", d) for d in DEAD_LETTERS}


@pytest.mark.parametrize("name", sorted(CATALOG.queues))
def test_worker(template: Template, name: str) -> None:
    config = CATALOG.queues[name]
    function_id, props = function(template, "QUEUE_NAME", name)
    assert props["Environment"]["Variables"] == {"QUEUE_NAME": name, **COMMON_ENV}
    assert props["Timeout"] == config.timeout
    mapping = event_source(template, function_id)
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_id(template, name), "Arn"]}
    assert mapping["BatchSize"] == config.batch_size
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert_concurrency(props, mapping, config.effective_concurrency())


@pytest.mark.parametrize("name", DEAD_LETTERS)
def test_dead_letter_function(template: Template, name: str) -> None:
    function_id, props = function(template, "DEAD_LETTER_QUEUE", name)
    assert props["Environment"]["Variables"] == {"DEAD_LETTER_QUEUE": name, **COMMON_ENV}
    assert props["Timeout"] == max(q.timeout for q in CATALOG.sources_of(name))
    mapping = event_source(template, function_id)
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_id(template, name), "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert_concurrency(props, mapping, CATALOG.dead_letters[name].concurrency)


@pytest.mark.parametrize(
    ("variable", "name", "reserved", "maximum"),
    [
        ("QUEUE_NAME", "lead-processing", 1, None),  # seed 000: BullMQ's default concurrency 1
        ("QUEUE_NAME", "scheduled-messages", 1, None),  # seed 002
        ("QUEUE_NAME", "lead-enrichment", None, 5),  # seed 001
        ("QUEUE_NAME", "workflow", None, 5),  # seed 003
        ("QUEUE_NAME", "notifications", None, 20),
        ("DEAD_LETTER_QUEUE", "dead-letter", 1, None),  # seed 003: DEAD_LETTER runs one at a time
        ("DEAD_LETTER_QUEUE", "dead", None, 2),  # seed 004
    ],
)
def test_seed_concurrency(
    template: Template, variable: str, name: str, reserved: int | None, maximum: int | None
) -> None:
    function_id, props = function(template, variable, name)
    mapping = event_source(template, function_id)
    assert props.get("ReservedConcurrentExecutions") == reserved
    assert mapping.get("ScalingConfig", {}).get("MaximumConcurrency") == maximum


def test_every_function_runs_python_on_arm64_traced_with_the_layer(template: Template) -> None:
    [layer_id] = template.find_resources("AWS::Lambda::LayerVersion")
    for props in (f["Properties"] for f in template.find_resources("AWS::Lambda::Function").values()):
        assert props["Runtime"] == "python3.14"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Layers"] == [{"Ref": layer_id}]
        assert props["Handler"] == "handler.lambda_handler"
        assert "LogGroup" in props["LoggingConfig"]
    template.has_resource_properties(
        "AWS::Lambda::LayerVersion", {"CompatibleRuntimes": ["python3.14"], "CompatibleArchitectures": ["arm64"]}
    )


def test_runtime_is_the_newest_python_the_cdk_offers() -> None:
    pattern = re.compile(r"^PYTHON_(\d+)_(\d+)$")
    versions = [tuple(map(int, m.groups())) for m in map(pattern.match, dir(lambda_.Runtime)) if m]
    assert "python{}.{}".format(*max(versions)) == "python3.14"


def test_queues_hide_messages_six_times_longer_than_their_function_runs(template: Template) -> None:
    queues = template.find_resources("AWS::SQS::Queue")
    functions = template.find_resources("AWS::Lambda::Function")
    for mapping in template.find_resources("AWS::Lambda::EventSourceMapping").values():
        queue = queues[mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]]["Properties"]
        function_ = functions[mapping["Properties"]["FunctionName"]["Ref"]]["Properties"]
        assert queue["VisibilityTimeout"] >= 6 * function_["Timeout"]


@pytest.mark.parametrize("name", sorted(CATALOG.queues))
def test_worker_consumes_its_queue_and_sends_only_to_it_and_its_dlq(template: Template, name: str) -> None:
    own, dlq = queue_id(template, name), queue_id(template, CATALOG.queues[name].dead_letter)
    found = statements(template, function(template, "QUEUE_NAME", name)[1])
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:SendMessage"} <= actions_on(
        found, {"Fn::GetAtt": [own, "Arn"]}
    )
    assert "sqs:SendMessage" in actions_on(found, {"Fn::GetAtt": [dlq, "Arn"]})
    assert "sqs:ReceiveMessage" not in actions_on(found, {"Fn::GetAtt": [dlq, "Arn"]})
    sqs_resources = {str(s["Resource"]) for s in found if any(a.startswith("sqs:") for a in s["Action"])}
    assert sqs_resources == {str({"Fn::GetAtt": [own, "Arn"]}), str({"Fn::GetAtt": [dlq, "Arn"]})}


@pytest.mark.parametrize("name", DEAD_LETTERS)
def test_dead_letter_function_only_consumes_its_queue(template: Template, name: str) -> None:
    found = statements(template, function(template, "DEAD_LETTER_QUEUE", name)[1])
    sqs_actions = {a for s in found for a in s["Action"] if a.startswith("sqs:")}
    assert "sqs:SendMessage" not in sqs_actions
    assert "sqs:ReceiveMessage" in actions_on(found, {"Fn::GetAtt": [queue_id(template, name), "Arn"]})


def test_no_wildcard_actions_and_resource_star_only_for_xray(template: Template) -> None:
    """What the IAM5 acknowledgement claims: the only `Resource: *` is X-Ray's, which has no resource ARNs."""
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            assert not any("*" in a for a in actions), statement
            if statement["Resource"] == "*":
                assert sorted(actions) == XRAY_ACTIONS, statement
            else:
                assert "*" not in str(statement["Resource"]), statement
    for role in template.find_resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]


def test_aws_solutions_checks_find_nothing(stack: JobQueueStack) -> None:
    report = AwsSolutionsChecks().validate_scope(stack)
    findings = [f"{v.rule_name}: {[r.construct_path for r in v.violating_resources]}" for v in report.violations]
    assert findings == []


def test_aws_solutions_checks_do_flag_a_bare_traced_function() -> None:
    """The acknowledgement is scoped to our functions: CDK's defaults elsewhere are still reported."""
    stack = Stack(App(), "bare")
    lambda_.Function(
        stack, "Bare", runtime=lambda_.Runtime.PYTHON_3_14, handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context): pass"), tracing=lambda_.Tracing.ACTIVE,
    )
    report = AwsSolutionsChecks().validate_scope(stack)
    rules = {v.rule_name for v in report.violations}
    assert "AwsSolutions-IAM5[Resource::*]" in rules
    assert any(r.startswith("AwsSolutions-IAM4[") and "AWSLambdaBasicExecutionRole" in r for r in rules)


def test_layer_holds_the_engine_and_aarch64_wheels_of_the_pinned_deps(stack: JobQueueStack, template: Template) -> None:
    assembly = Path(App.of(stack).synth().directory)  # type: ignore[union-attr]
    [python] = [p for p in assembly.glob("asset.*/python") if (p / "jobqueue").is_dir()]
    assert (python / "jobqueue" / "catalog.toml").is_file()
    assert list((python / "jobqueue" / "commands").glob("*.lua"))
    assert not list(python.glob("jobqueue/**/__pycache__"))
    for dep in runtime_deps():
        name, version = dep.split("==")
        assert (python / f"{name.replace('-', '_')}-{version}.dist-info").is_dir(), dep
    assert list(python.glob("pydantic_core/_pydantic_core.cpython-314-aarch64-linux-gnu.so"))


def test_layer_asset_hash_changes_with_python_version_and_architecture() -> None:
    app = App(context={**cdk_json_context(), "aws:cdk:bundling-stacks": []})  # hash only, no pip
    stack = Stack(app, "layers")
    variants = [
        EngineLayer(stack, "Default"),
        EngineLayer(stack, "Same"),
        EngineLayer(stack, "Py313", runtime=lambda_.Runtime.PYTHON_3_13),
        EngineLayer(stack, "X86", architecture=lambda_.Architecture.X86_64),
    ]
    template = Template.from_stack(stack)
    layers = template.find_resources("AWS::Lambda::LayerVersion")
    by_id = {stack.get_logical_id(v.layer.node.default_child): v for v in variants}  # type: ignore[arg-type]
    key = {by_id[i].node.id: layers[i]["Properties"]["Content"]["S3Key"] for i in layers}
    assert key["Default"] == key["Same"]
    assert len({key["Default"], key["Py313"], key["X86"]}) == 3


def test_runtime_deps_must_be_exact_pins(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["redis==8.1.0", "boto3>=1.40"]\n')
    with pytest.raises(ValueError, match=r"pinned exactly .*boto3>=1.40"):
        runtime_deps(pyproject)
    assert runtime_deps()  # the project's own pins pass
