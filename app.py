#!/usr/bin/env python3
"""The CDK app: `cdk synth -c stage=prod -c name_prefix=prod-`, or `.venv/bin/python app.py` (dev).

Context keys (infra.settings.CONTEXT_KEYS): stage, name_prefix, vpcId, natGateways, alarmEmail, managementAuth,
cache, cacheNodeType, logLevel.
"""

from __future__ import annotations

import os

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from infra.settings import CDK_JSON, StageSettings, cdk_json_context
from infra.stack import JobQueueStack
from jobqueue.catalog import default_catalog

# The CLI names the output directory; run directly, the app writes ./cdk.out rather than a temp dir.
app = App(context=cdk_json_context(), outdir=os.environ.get("CDK_OUTDIR") or str(CDK_JSON.parent / "cdk.out"))
settings = StageSettings.from_context(app.node)
JobQueueStack(
    app,
    f"jobqueue-{settings.stage}",
    settings=settings,
    catalog=default_catalog(),  # the packaged catalog plus JOBQUEUE_CATALOG, as the runtime reads it
    # An existing VPC is looked up in the account and region the CLI deploys to; otherwise the stack is portable.
    env=Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION"))
    if settings.vpc_id else None,
    description=f"jobqueue ({settings.stage}): BullMQ-style jobs on SQS, Lambda and Redis",
)
Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
