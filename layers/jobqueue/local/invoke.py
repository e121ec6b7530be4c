"""`jobqueue invoke FUNCTION EVENT.json`: one invocation of a function with an event, like `sam local invoke`.

FUNCTION is a function of `jobqueue.deployment.function_specs` (`worker-lead-processing`, `dead-letter-dead`,
`api`, `scheduler`), which brings its own environment, or a handler directory under `functions/` (`worker`,
`dead_letter`, ...) whose environment `--env` gives. Everything else comes from this process's environment
(REDIS_URL, AWS_ENDPOINT_URL, ...), as for `jobqueue dev`. The handler's response is printed as JSON; a
function error is printed as Lambda reports it (errorType, errorMessage, stackTrace) and exits 1.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from jobqueue.catalog import default_catalog
from jobqueue.deployment import FunctionSpec, Handler, function_specs
from jobqueue.errors import JobQueueError
from jobqueue.local.runner import FUNCTIONS_DIR, FunctionRunner, LocalContext
from jobqueue.local.sandbox import error_payload
from jobqueue.settings import get_settings

__all__ = ["InvokeUsageError", "invoke", "parse_env", "read_event", "resolve_function"]


class InvokeUsageError(JobQueueError):
    """The function, the event file or an --env pair given to `jobqueue invoke` is not usable."""


def resolve_function(name: str) -> FunctionSpec:
    """The catalog's function called `name`, else a bare handler directory (environment from --env only)."""
    specs = {spec.name: spec for spec in function_specs(default_catalog())}
    if name in specs:
        return specs[name]
    if (FUNCTIONS_DIR / name / "handler.py").is_file():
        return FunctionSpec(name=name, handler=cast("Handler", name), description=f"handler {name}", timeout=60)
    handlers = sorted(p.parent.name for p in FUNCTIONS_DIR.glob("*/handler.py"))
    raise InvokeUsageError(f"unknown function {name!r}: expected one of {sorted(specs)} or a handler {handlers}")


def read_event(path: str) -> dict[str, Any]:
    """The event in a JSON file; `-` reads it from stdin."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise InvokeUsageError(f"event file {path}: {exc.strerror or exc}") from exc
    try:
        event = json.loads(text)
    except ValueError as exc:
        raise InvokeUsageError(f"event file {path}: not JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise InvokeUsageError(f"event file {path}: a Lambda event is a JSON object, got {type(event).__name__}")
    return event


def parse_env(pairs: list[str]) -> dict[str, str]:
    """`NAME=VALUE` pairs; a pair without '=' or with an empty name is refused."""
    env: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise InvokeUsageError(f"--env {pair!r}: expected NAME=VALUE")
        env[name] = value
    return env


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in os.environ (and the engine's settings re-read) for the invocation; all restored afterwards."""
    before = dict(os.environ)
    os.environ.update(values)
    get_settings.cache_clear()
    default_catalog.cache_clear()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)
        get_settings.cache_clear()
        default_catalog.cache_clear()


def invoke(function: str, event: dict[str, Any], env: Mapping[str, str] | None = None) -> tuple[bool, Any]:
    """Import the function's handler with its environment (+ `env`) and invoke it once with `event`:
    (succeeded, the response or Lambda's error object). InvokeUsageError if there is no such function."""
    with _environment(env or {}):
        spec = resolve_function(function)
        with _environment({**spec.environment, **(env or {}), "AWS_LAMBDA_FUNCTION_NAME": spec.name}):
            try:
                runner = FunctionRunner(spec.handler)
                context = LocalContext(spec.name, deadline=time.monotonic() + spec.timeout)
                return True, runner.invoke(event, context)
            except Exception as exc:
                return False, error_payload(exc)
