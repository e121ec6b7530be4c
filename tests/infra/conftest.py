"""The synthesized stacks the template tests read, each built once per run (synthesis and bundling are slow).

`stack`/`template` is the default stage with the layer bundled for real (pip for manylinux2014_aarch64);
`variant(**settings)` builds other stages without bundling (only the layer's hash is computed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk import App, Environment
from aws_cdk.assertions import Template

from infra.settings import StageSettings, cdk_json_context
from infra.stack import JobQueueStack
from jobqueue.catalog import load_catalog

CATALOG = load_catalog()
PREFIX = "test-"
ENV = Environment(account="123456789012", region="us-east-1")  # only a looked-up VPC needs one
EXISTING_VPC = "vpc-0123456789abcdef0"
VARIANTS: list[dict[str, Any]] = [  # the stage settings besides the default that change the template (-c ...)
    {"management_auth": "iam"},
    {"cache": "serverless"},
    {"nat_gateways": 1, "alarm_email": "ops@example.com"},
    {"vpc_id": EXISTING_VPC},
    {"redis_shards": 3},
]
PRIVATE_SUBNETS = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
# What `cdk synth` would cache in cdk.context.json after looking EXISTING_VPC up in the account.
VPC_LOOKUP = {
    f"vpc-provider:account=123456789012:filter.vpc-id={EXISTING_VPC}:region=us-east-1:returnAsymmetricSubnets=true": {
        "vpcId": EXISTING_VPC,
        "vpcCidrBlock": "10.1.0.0/16",
        "availabilityZones": [],
        "subnetGroups": [{
            "name": "Private", "type": "Private",
            "subnets": [{"subnetId": subnet, "cidr": f"10.1.{16 * i}.0/20", "availabilityZone": f"us-east-1{az}",
                         "routeTableId": f"rtb-0aaaaaaaaaaaaaaa{i}"}
                        for i, (subnet, az) in enumerate(zip(PRIVATE_SUBNETS, "ab", strict=True))],
        }],
    }
}


@pytest.fixture(scope="session")
def stack() -> JobQueueStack:
    app = App(context=cdk_json_context())
    return JobQueueStack(app, "jobqueue-test", settings=StageSettings(stage="test", name_prefix=PREFIX),
                         catalog=CATALOG)


@pytest.fixture(scope="session")
def template(stack: JobQueueStack) -> Template:
    return Template.from_stack(stack)


@pytest.fixture(scope="session")
def variant() -> Callable[..., tuple[JobQueueStack, Template]]:
    """A stack of other stage settings (memoized per settings), synthesized without bundling the layer."""
    built: dict[StageSettings, tuple[JobQueueStack, Template]] = {}

    def build(**settings: Any) -> tuple[JobQueueStack, Template]:
        key = StageSettings(stage="variant", name_prefix=PREFIX, **settings)
        if key not in built:
            app = App(context={**cdk_json_context(), **VPC_LOOKUP, "aws:cdk:bundling-stacks": []})
            stack = JobQueueStack(app, f"jobqueue-variant-{len(built)}", settings=key, catalog=CATALOG,
                                  env=ENV if key.vpc_id else None)
            built[key] = (stack, Template.from_stack(stack))
        return built[key]

    return build
