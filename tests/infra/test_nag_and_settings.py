"""cdk-nag's AwsSolutions pack on every stage variant, and the stage settings read from CDK context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from infra.settings import StageSettings
from infra.stack import JobQueueStack
from tests.infra.conftest import EXISTING_VPC, VARIANTS


def findings(stack: JobQueueStack) -> list[str]:
    report = AwsSolutionsChecks().validate_scope(stack)
    return [f"{v.rule_name}: {[r.construct_path for r in v.violating_resources]}" for v in report.violations]


def test_aws_solutions_checks_find_nothing_unacknowledged(stack: JobQueueStack) -> None:
    assert findings(stack) == []


@pytest.mark.parametrize("settings", VARIANTS, ids=[",".join(v) for v in VARIANTS])
def test_aws_solutions_checks_find_nothing_in_other_stages(
    variant: Callable[..., tuple[JobQueueStack, Template]], settings: dict[str, Any]
) -> None:
    stack, _ = variant(**settings)
    assert findings(stack) == []


def test_stage_settings_come_from_context() -> None:
    assert StageSettings.from_context(App().node) == StageSettings()
    context = {"stage": "prod", "name_prefix": "prod-", "vpcId": EXISTING_VPC, "natGateways": "1",
               "alarmEmail": "ops@example.com", "managementAuth": "iam", "cache": "serverless",
               "cacheNodeType": "cache.r7g.large", "logLevel": "WARNING"}
    assert StageSettings.from_context(App(context=context).node) == StageSettings(
        stage="prod", name_prefix="prod-", vpc_id=EXISTING_VPC, nat_gateways=1, alarm_email="ops@example.com",
        management_auth="iam", cache="serverless", cache_node_type="cache.r7g.large", log_level="WARNING",
    )
    assert StageSettings.from_context(App(context={"redisShards": "3"}).node) == StageSettings(redis_shards=3)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"stage": "Prod!"}, "stage 'Prod!'"),
        ({"vpcId": "my-vpc"}, "vpcId 'my-vpc': expected vpc-<hex>"),
        ({"natGateways": "two"}, "natGateways 'two'"),
        ({"natGateways": "5"}, "natGateways 5: expected 0 to 3"),
        ({"redisShards": "three"}, "redisShards 'three': expected a number"),
        ({"redisShards": "46"}, "redisShards 46: expected 0 to 45"),
        ({"redisShards": "3", "cache": "serverless"}, "redisShards: needs cache=node"),
        ({"alarmEmail": "ops"}, "alarmEmail 'ops': not an email address"),
        ({"managementAuth": "cognito"}, "managementAuth 'cognito': expected token or iam"),
        ({"cache": "memcached"}, "cache 'memcached': expected node or serverless"),
        ({"cacheNodeType": "t4g.small"}, "cacheNodeType 't4g.small'"),
        ({"logLevel": "LOUD"}, "logLevel 'LOUD'"),
    ],
)
def test_bad_context_is_refused_by_name(context: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=f"invalid stage settings: .*{message}"):
        StageSettings.from_context(App(context=context).node)


def acknowledgements(stack: JobQueueStack) -> dict[str, dict[str, str]]:
    """Construct path -> {rule: reason} of every cdk-nag acknowledgement in the stack."""
    found: dict[str, dict[str, str]] = {}
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == "aws:cdk:acknowledged-rules":
                found.setdefault(construct.node.path, {}).update(
                    {rule: reason for rule, reason in entry.data.items() if "AwsSolutions-" in rule})
    return {path: rules for path, rules in found.items() if rules}


def test_every_acknowledgement_is_scoped_to_one_construct_and_gives_a_reason(stack: JobQueueStack) -> None:
    """Never a stack-wide waiver: each names the construct it excuses (the tests beside each construct check
    the reason's claim: Resource '*' only for X-Ray and ENIs, the cache port open to the functions only, ...)."""
    found = acknowledgements(stack)
    assert stack.node.path not in found
    rules = {rule.removeprefix("Annotation::").split("[")[0] for rules in found.values() for rule in rules}
    assert rules == {"AwsSolutions-IAM5", "AwsSolutions-IAM4", "AwsSolutions-SMG4", "AwsSolutions-AEC5",
                     "AwsSolutions-APIG3", "AwsSolutions-APIG4", "AwsSolutions-COG4", "AwsSolutions-SQS3",
                     "AwsSolutions-S1", "AwsSolutions-L1"}
    for path, reasons in found.items():
        assert path.startswith(f"{stack.node.path}/"), path
        assert all(len(reason) >= 60 for reason in reasons.values()), (path, reasons)
