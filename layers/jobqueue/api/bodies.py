"""JSON request bodies as the API takes them: one JSON object of finite numbers and valid Unicode, nested at most
MAX_DEPTH levels, of at most MAX_VALUES values. Anything else is a 400 here, before pydantic, Lua's cjson or SQS
could fail on it with a 5xx, or validating it could outlast the invocation."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from jobqueue.api.errors import BadRequestError

__all__ = ["MAX_DEPTH", "MAX_VALUES", "parse_object", "shape"]

MAX_DEPTH = 64
"""Deepest JSON body taken (Python's json recursion and Lua's cjson, 1000 levels, stay far away)."""
MAX_VALUES = 50_000
"""Most values (keys' values and array items, nested ones included) in one body: a full bulk add of 1,000 jobs
fits; 100,000 unknown keys, whose validation errors alone take seconds to list, do not."""

_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def shape(value: Any) -> tuple[int, int]:
    """How deep containers nest in a parsed JSON value (a scalar is 0, `{}` 1) and how many values it holds, both
    counted until they pass MAX_DEPTH and MAX_VALUES."""
    depth, values, level = 0, 0, [value]
    while depth <= MAX_DEPTH and values <= MAX_VALUES:
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            break
        depth += 1
        level = [v for c in containers for v in (c.values() if isinstance(c, dict) else c)]
        values += len(level)
    return depth, values


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text[:20]} is out of range for a number")
    return value


def _encodable(value: Any) -> bool:
    """False when a string holds a lone surrogate (`\\ud800`), which no UTF-8 encoder (SQS, Redis) takes."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_object(text: str) -> dict[str, Any] | None:
    """The body's JSON object (None for `null`); a BadRequestError saying what is wrong otherwise.

    >>> parse_object('{"limit": 1e999}')
    Traceback (most recent call last):
    jobqueue.api.errors.BadRequestError: body: not valid JSON (1e999 is out of range for a number)
    """
    too_deep = BadRequestError(f"body: JSON nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except RecursionError:
        raise too_deep from None
    except ValueError as exc:  # malformed, NaN/Infinity, 1e999, or an integer of more than 4,300 digits
        raise BadRequestError(f"body: not valid JSON ({str(exc).split(':')[0]})") from None
    if value is not None and not isinstance(value, dict):
        raise BadRequestError("body: must be a JSON object")
    if _SURROGATE.search(text) and not _encodable(value):
        raise BadRequestError("body: strings must be valid Unicode (no lone surrogate escapes such as \\ud800)")
    depth, values = shape(value)
    if depth > MAX_DEPTH:
        raise too_deep
    if values > MAX_VALUES:
        raise BadRequestError(f"body: more than {MAX_VALUES} JSON values")
    return value
