#!/usr/bin/env python3
"""The CDK app: `cdk synth -c stage=prod -c name_prefix=prod-`, or `.venv/bin/python app.py` (dev)."""

from __future__ import annotations

import os

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.stack import CDK_JSON, JobQueueStack, StageSettings, cdk_json_context
from jobqueue.catalog import default_catalog

# The CLI names the output directory; run directly, the app writes ./cdk.out rather than a temp dir.
app = App(context=cdk_json_context(), outdir=os.environ.get("CDK_OUTDIR") or str(CDK_JSON.parent / "cdk.out"))
settings = StageSettings.from_context(app.node)
JobQueueStack(
    app,
    f"jobqueue-{settings.stage}",
    settings=settings,
    catalog=default_catalog(),  # the packaged catalog plus JOBQUEUE_CATALOG, as the runtime reads it
    description=f"jobqueue ({settings.stage}): BullMQ-style jobs on SQS, Lambda and Redis",
)
Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
