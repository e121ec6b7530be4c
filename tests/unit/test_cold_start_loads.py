"""What a handler's cold start loads and builds (`make bench-coldstart` times it; this keeps it from growing back).

Each handler is loaded as Lambda loads it, by file, in a fresh interpreter with its function's environment; its
clients are made but never called, so neither Redis nor AWS is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

_PROBE = """import importlib.util, json, sys
spec = importlib.util.spec_from_file_location('handler', {path!r})
spec.loader.exec_module(importlib.util.module_from_spec(spec))
from pydantic import BaseModel
def models(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from models(sub)
built = sorted({{f'{{c.__module__}}.{{c.__qualname__}}' for c in models(BaseModel)
                if c.__module__.startswith('jobqueue') and c.__pydantic_complete__}})
print(json.dumps({{'modules': sorted(m for m in sys.modules if m.startswith('jobqueue')), 'built': built}}))
"""
HANDLERS = {
    "worker": {"QUEUE_NAME": "lead-processing"},
    "dead_letter": {"DEAD_LETTER_QUEUE": "lead-processing-dlq"},
    "api": {},
    "scheduler": {},
}


@pytest.fixture(scope="module")
def loaded() -> dict[str, dict[str, list[str]]]:
    """Per handler: the jobqueue modules its cold start imported and the jobqueue models whose validator it built."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBQUEUE_", "AWS_ENDPOINT"))}
    env.update(AWS_DEFAULT_REGION="us-east-1", POWERTOOLS_LOG_LEVEL="WARNING")
    result = {}
    for name, extra in HANDLERS.items():
        code = _PROBE.format(path=str(ROOT / "functions" / name / "handler.py"))
        out = subprocess.run([sys.executable, "-c", code], env={**env, **extra}, cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
        result[name] = json.loads(out.splitlines()[-1])
    return result


@pytest.mark.parametrize("name", list(HANDLERS))
def test_a_cold_start_builds_no_validator_but_the_settings(loaded: dict[str, dict[str, list[str]]], name: str) -> None:
    # The catalog comes prebuilt; job, repeat and API body models are built by the request that validates one.
    assert loaded[name]["built"] == ["jobqueue.settings.Settings"]


def test_the_dead_letter_function_does_not_load_the_worker(loaded: dict[str, dict[str, list[str]]]) -> None:
    assert "jobqueue.worker" not in loaded["dead_letter"]["modules"]
    assert "jobqueue.deadletter" in loaded["dead_letter"]["modules"]


def test_no_handler_loads_the_openapi_document_or_the_local_runtime(loaded: dict[str, dict[str, list[str]]]) -> None:
    for name, found in loaded.items():
        assert not [m for m in found["modules"] if m.startswith(("jobqueue.local", "jobqueue.api.openapi"))], name
