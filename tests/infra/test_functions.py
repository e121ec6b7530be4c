"""Template tests of the engine layer and the functions: exactly `function_specs(catalog)`, lanes included.

The stack bundles the layer for real (pip for manylinux2014_aarch64, about 7 s), once per run (conftest.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, FileSystem, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from infra.functions import ENI_ACTIONS, MIN_EVENT_SOURCE_CONCURRENCY
from infra.layer import ASSET_EXCLUDE, RUNTIME, EngineLayer, bytecode_python, runtime_deps
from infra.payloads import KEY_PATTERN
from infra.settings import cdk_json_context
from infra.stack import JobQueueStack
from jobqueue.catalog import load_catalog
from jobqueue.deployment import function_specs
from jobqueue.prebuilt import load_prebuilt
from tests.infra.conftest import CATALOG, PREFIX
from tests.infra.helpers import (
    actions,
    actions_on,
    event_sources,
    function,
    function_by_description,
    job_functions,
    queue,
    queue_name_of,
    resources,
    statements,
)

SPECS = function_specs(CATALOG)
DEAD_LETTERS = sorted(CATALOG.dead_letters)
XRAY_ACTIONS = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
STAGE_ENV = {"JOBQUEUE_SQS_PREFIX", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL", "POWERTOOLS_METRICS_NAMESPACE",
             "REDIS_HOST", "REDIS_PORT", "REDIS_AUTH_SECRET_ID"}


def arn(template: Template, name: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [queue(template, name)[0], "Arn"]}


def assert_concurrency(function_props: dict[str, Any], mappings: list[dict[str, Any]], concurrency: int) -> None:
    for mapping in mappings:
        if concurrency < MIN_EVENT_SOURCE_CONCURRENCY:
            assert function_props["ReservedConcurrentExecutions"] == 1
            assert "ScalingConfig" not in mapping
        else:
            assert mapping["ScalingConfig"] == {"MaximumConcurrency": concurrency}
            assert "ReservedConcurrentExecutions" not in function_props


def test_one_function_per_spec_and_one_event_source_per_spec_source(template: Template) -> None:
    functions = job_functions(template)
    assert len(functions) == len(SPECS)
    template.resource_count_is("AWS::Lambda::EventSourceMapping", sum(len(s.event_sources) for s in SPECS))
    template.resource_count_is("AWS::Lambda::LayerVersion", 1)
    assert {f["Description"] for f in functions.values()} == {s.description for s in SPECS}


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_function_matches_its_spec(template: Template, spec: Any) -> None:
    """Environment, timeout, code and every event source (queue, batch, window, concurrency) as the spec says."""
    function_id, props = function_by_description(template, spec.description)
    variables = props["Environment"]["Variables"]
    assert {k: variables[k] for k in spec.environment} == spec.environment
    assert set(variables) >= STAGE_ENV
    assert variables["JOBQUEUE_SQS_PREFIX"] == PREFIX
    assert props["Timeout"] == spec.timeout
    mappings = event_sources(template, function_id)
    assert len(mappings) == len(spec.event_sources)
    by_queue = {queue_name_of(template, m["EventSourceArn"]): m for m in mappings}
    for source in spec.event_sources:
        mapping = by_queue[source.sqs_name]
        assert mapping["BatchSize"] == source.batch_size
        assert mapping.get("MaximumBatchingWindowInSeconds", 0) == source.batching_window
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert_concurrency(props, [mapping], source.max_concurrency)


def test_email_worker_consumes_both_lanes(template: Template) -> None:
    function_id, _ = function(template, "QUEUE_NAME", "email")
    sources = {queue_name_of(template, m["EventSourceArn"]) for m in event_sources(template, function_id)}
    assert sources == {"email-p1", "email"}


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
    assert props.get("ReservedConcurrentExecutions") == reserved
    for mapping in event_sources(template, function_id):
        assert mapping.get("ScalingConfig", {}).get("MaximumConcurrency") == maximum


def test_every_function_runs_python_on_arm64_traced_with_the_layer_in_private_subnets(template: Template) -> None:
    [layer_id] = template.find_resources("AWS::Lambda::LayerVersion")
    for props in job_functions(template).values():
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Layers"] == [{"Ref": layer_id}]
        assert props["Handler"] == "handler.lambda_handler"
        assert "LogGroup" in props["LoggingConfig"]
        assert len(props["VpcConfig"]["SubnetIds"]) == 2 and len(props["VpcConfig"]["SecurityGroupIds"]) == 1
        assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "jobqueue"
    template.has_resource_properties(
        "AWS::Lambda::LayerVersion", {"CompatibleRuntimes": ["python3.13"], "CompatibleArchitectures": ["arm64"]}
    )


def test_runtime_is_the_newest_python_whose_bytecode_the_build_writes() -> None:
    """The layer ships bytecode of the runtime's Python (infra.layer), so the runtime is the newest Python both the
    CDK offers and this machine has: when a newer one installs here, this test says to move RUNTIME up."""
    pattern = re.compile(r"^PYTHON_(\d+)_(\d+)$")
    offered = sorted(tuple(map(int, m.groups())) for m in map(pattern.match, dir(lambda_.Runtime)) if m)
    assert RUNTIME.name == "python3.13" and bytecode_python("3.13") is not None
    assert [v for v in offered if v > (3, 13) and bytecode_python("{}.{}".format(*v))] == []


def test_queues_hide_messages_six_times_longer_than_their_function_runs(template: Template) -> None:
    queues = template.find_resources("AWS::SQS::Queue")
    functions = template.find_resources("AWS::Lambda::Function")
    for mapping in template.find_resources("AWS::Lambda::EventSourceMapping").values():
        queue_props = queues[mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]]["Properties"]
        function_props = functions[mapping["Properties"]["FunctionName"]["Ref"]]["Properties"]
        assert queue_props["VisibilityTimeout"] >= 6 * function_props["Timeout"]


@pytest.mark.parametrize("name", sorted(CATALOG.queues))
def test_worker_consumes_its_lanes_and_sends_only_to_them_and_its_dlq(template: Template, name: str) -> None:
    """...and to the queues its catalog entry's `sends_to` names (jobs its processors add, flow parents), only to
    send."""
    config = CATALOG.queues[name]
    lanes = [arn(template, lane.sqs_name) for lane in config.lanes()]
    handed_over = [arn(template, lane.sqs_name) for target in config.sends_to
                   for lane in CATALOG.queues[target].lanes()]
    dlq = arn(template, config.dead_letter)
    found = statements(template, function(template, "QUEUE_NAME", name)[1])
    for lane in lanes:
        assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                "sqs:SendMessage"} <= actions_on(found, lane)
    assert "sqs:SendMessage" in actions_on(found, dlq)
    assert "sqs:ReceiveMessage" not in actions_on(found, dlq)
    for target in handed_over:
        assert "sqs:ReceiveMessage" not in actions_on(found, target)
        assert "sqs:SendMessage" in actions_on(found, target)
    sqs_resources = {str(r) for s in found if any(a.startswith("sqs:") for a in actions(s)) for r in resources(s)}
    assert sqs_resources == {str(r) for r in [*lanes, dlq, *handed_over]}


@pytest.mark.parametrize("name", DEAD_LETTERS)
def test_dead_letter_function_only_consumes_its_queue(template: Template, name: str) -> None:
    found = statements(template, function(template, "DEAD_LETTER_QUEUE", name)[1])
    sqs_actions = {a for s in found for a in actions(s) if a.startswith("sqs:")}
    assert "sqs:SendMessage" not in sqs_actions
    assert "sqs:ReceiveMessage" in actions_on(found, arn(template, name))


def test_api_and_scheduler_may_send_to_every_lane_and_receive_from_none(template: Template) -> None:
    """The scheduler function fires cron entries and runs the sweeper, which sends any queue's unsent jobs."""
    api = statements(template, function_by_description(template, "jobqueue API and webhook intake")[1])
    scheduler = statements(template, function_by_description(
        template, "jobqueue scheduler target: turns schedule ticks into jobs")[1])
    for config in CATALOG.queues.values():
        for lane in config.lanes():
            assert "sqs:SendMessage" in actions_on(api, arn(template, lane.sqs_name))
            assert "sqs:SendMessage" in actions_on(scheduler, arn(template, lane.sqs_name))
    assert not any(a.startswith("sqs:Receive") for s in [*api, *scheduler] for a in actions(s))


def test_every_function_reads_the_redis_token_and_only_the_api_reads_the_api_secrets(template: Template) -> None:
    """Each function reads exactly the secrets its environment names (`*_SECRET_ID`): the Redis token, the seed
    services its processors call, and for the API alone the service token and webhook secrets."""
    secrets = template.find_resources("AWS::SecretsManager::Secret")
    [token_id] = [i for i, s in secrets.items() if s["Properties"]["Description"].endswith("Redis AUTH token")]
    api_id, api_props = function_by_description(template, "jobqueue API and webhook intake")
    api_env = api_props["Environment"]["Variables"]
    api_only = {api_env["SERVICE_TOKEN_SECRET_ID"]["Ref"]} | {
        api_env[f"{source.secret}_SECRET_ID"]["Ref"] for source in CATALOG.webhooks.values()}
    for function_id, props in job_functions(template).items():
        found = statements(template, props)
        readable = {r["Ref"] for s in found if "secretsmanager:GetSecretValue" in actions(s) for r in resources(s)}
        env = props["Environment"]["Variables"]
        assert readable == {value["Ref"] for name, value in env.items() if name.endswith("_SECRET_ID")}
        assert token_id in readable
        assert function_id == api_id or not readable & api_only
        assert env["REDIS_AUTH_SECRET_ID"] == {"Ref": token_id}
    assert api_env["SERVICE_TOKEN_SECRET_ID"]["Ref"] in secrets
    for source in CATALOG.webhooks.values():
        assert api_env[f"{source.secret}_SECRET_ID"]["Ref"] in secrets


def test_no_wildcard_actions_and_resource_star_only_where_no_resource_arns_exist(template: Template) -> None:
    """What the IAM5 acknowledgements claim: `Resource: *` only for X-Ray and network-interface actions, and
    Lambda's ListEventSourceMappings (pause and resume find the workers' mappings; it takes no resource); a
    wildcard in a resource only for the payload bucket's objects (infra.payloads: named per job)."""
    allowed_star = {*XRAY_ACTIONS, *ENI_ACTIONS, "lambda:ListEventSourceMappings"}
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert not any("*" in a for a in actions(statement)), statement
            if statement["Resource"] == "*":
                assert set(actions(statement)) <= allowed_star, statement
            elif set(actions(statement)) <= {"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}:
                [arn] = resources(statement)
                assert arn["Fn::Join"][1][-1] == f"/{KEY_PATTERN}", statement
            else:
                assert "*" not in str(resources(statement)), statement
    roles = template.find_resources("AWS::IAM::Role")
    for props in job_functions(template).values():
        assert "ManagedPolicyArns" not in roles[props["Role"]["Fn::GetAtt"][0]]["Properties"]


def test_aws_solutions_checks_do_flag_a_bare_traced_function() -> None:
    """The acknowledgement is scoped to our functions: CDK's defaults elsewhere are still reported."""
    stack = Stack(App(), "bare")
    lambda_.Function(
        stack, "Bare", runtime=RUNTIME, handler="index.handler",
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
    assert load_prebuilt(path=python / "jobqueue" / "catalog.json") == load_catalog()  # validated at build time
    assert (python / "workloads" / "templates" / "password_reset.html").is_file()
    assert not (python / "standins").exists()  # local only
    assert list((python / "jobqueue" / "commands").glob("*.lua"))
    # Bytecode of the runtime's Python for every module, hash-based and unchecked (PEP 552: flags 0b01), since
    # Lambda cannot write it beside the layer's files and zipping changes their time stamps.
    def compiled(source: Path) -> bool:
        return (source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc").is_file()

    assert [p for p in python.rglob("*.py") if not compiled(p)] == []
    assert {int.from_bytes(p.read_bytes()[4:8], "little") for p in python.rglob("*.pyc")} == {1}
    for dep in runtime_deps():
        name, version = dep.split("==")
        assert (python / f"{name.replace('-', '_')}-{version}.dist-info").is_dir(), dep
    assert list(python.glob("pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so"))


def test_layer_asset_hash_changes_with_python_version_and_architecture() -> None:
    app = App(context={**cdk_json_context(), "aws:cdk:bundling-stacks": []})  # hash only, no pip
    stack = Stack(app, "layers")
    variants = [
        EngineLayer(stack, "Default"),
        EngineLayer(stack, "Same"),
        EngineLayer(stack, "Py312", runtime=lambda_.Runtime.PYTHON_3_12),
        EngineLayer(stack, "X86", architecture=lambda_.Architecture.X86_64),
    ]
    template = Template.from_stack(stack)
    layers = template.find_resources("AWS::Lambda::LayerVersion")
    by_id = {stack.get_logical_id(v.layer.node.default_child): v for v in variants}  # type: ignore[arg-type]
    key = {by_id[i].node.id: layers[i]["Properties"]["Content"]["S3Key"] for i in layers}
    assert key["Default"] == key["Same"]
    assert len({key["Default"], key["Py312"], key["X86"]}) == 3


def test_layer_hash_follows_the_shipped_packages_and_pins_and_nothing_else(tmp_path: Path) -> None:
    """The layer's asset hash reads only what the layer is built from: a local venv, a test or another folder
    neither slows every synth down nor changes the layer from one machine to the next."""
    shipped = ["pyproject.toml", "layers/jobqueue/queue.py", "layers/jobqueue/commands/addJobs-8.lua",
               "layers/workloads/leads.py"]
    ignored = [".localstack/venv/lib/site.py", ".checkov/venv/x.py", ".venv/x.py", ".jobqueue/redis.aof",
               "tests/test_x.py", "functions/worker/handler.py", "layers/standins/ghl.py", "README.md",
               "layers/jobqueue/__pycache__/queue.cpython-311.pyc", "layers/jobqueue/catalog.json"]
    for path in shipped + ignored:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("v1")

    def changes_the_hash(path: str) -> bool:
        before = FileSystem.fingerprint(str(tmp_path), exclude=ASSET_EXCLUDE)
        (tmp_path / path).write_text("v2")
        after = FileSystem.fingerprint(str(tmp_path), exclude=ASSET_EXCLUDE)
        (tmp_path / path).write_text("v1")
        return before != after

    assert [p for p in shipped if not changes_the_hash(p)] == []
    assert [p for p in ignored if changes_the_hash(p)] == []


def test_runtime_deps_must_be_exact_pins(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["redis==8.1.0", "boto3>=1.40"]\n')
    with pytest.raises(ValueError, match=r"pinned exactly .*boto3>=1.40"):
        runtime_deps(pyproject)
    assert runtime_deps()  # the project's own pins pass
