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
from tests.infra.conftest import EXISTING_VPC

VARIANTS: list[dict[str, Any]] = [
    {"management_auth": "iam"},
    {"cache": "serverless"},
    {"nat_gateways": 1, "alarm_email": "ops@example.com"},
    {"vpc_id": EXISTING_VPC},
]


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


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"stage": "Prod!"}, "stage 'Prod!'"),
        ({"vpcId": "my-vpc"}, "vpcId 'my-vpc': expected vpc-<hex>"),
        ({"natGateways": "two"}, "natGateways 'two'"),
        ({"natGateways": "5"}, "natGateways 5: expected 0 to 3"),
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
