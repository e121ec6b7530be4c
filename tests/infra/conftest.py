"""The synthesized stack every template test reads: built once per test run (layer bundling takes seconds)."""

from __future__ import annotations

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from infra.stack import JobQueueStack, StageSettings, cdk_json_context
from jobqueue.catalog import load_catalog

CATALOG = load_catalog()
PREFIX = "test-"


@pytest.fixture(scope="session")
def stack() -> JobQueueStack:
    app = App(context=cdk_json_context())
    return JobQueueStack(app, "jobqueue-test", settings=StageSettings(stage="test", name_prefix=PREFIX),
                         catalog=CATALOG)


@pytest.fixture(scope="session")
def template(stack: JobQueueStack) -> Template:
    return Template.from_stack(stack)
