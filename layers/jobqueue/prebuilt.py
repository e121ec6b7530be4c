"""The packaged catalog validated once at build time, so a cold start loads it without pydantic validation.

`make` and the layer build write `catalog.json` next to `catalog.toml`: the validated catalog (every field given,
so loading computes no default) and a fingerprint of everything its validation depends on (the TOML, the modules
that define the models and their validators, pydantic's version). `default_catalog()` loads it with
`model_construct`, rebuilding nested models from the models' own field annotations; when the file is missing it
validates the TOML as before, and when the fingerprint differs (the TOML or a model changed since the build) it
says so in a warning and validates the TOML: a stale file is never used.

    $ python -m jobqueue.prebuilt            # writes layers/jobqueue/catalog.json
"""

from __future__ import annotations

import hashlib
import json
import sys
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pydantic
from aws_lambda_powertools import Logger
from pydantic import BaseModel

from jobqueue.catalog import Catalog, load_catalog

__all__ = ["PREBUILT_PATH", "fingerprint", "load_prebuilt", "write_prebuilt"]

logger = Logger(service="jobqueue")

_PACKAGE = Path(__file__).resolve().parent
PREBUILT_PATH = _PACKAGE / "catalog.json"
MODEL_SOURCES = ("catalog.toml", "catalog.py", "cron.py")
"""The packaged files whose content decides the validated catalog (tests check no other module takes part)."""


def fingerprint() -> str:
    """What the validated catalog depends on, hashed: a prebuilt file with another fingerprint is stale."""
    digest = hashlib.sha256(f"pydantic {pydantic.VERSION}\n".encode())
    for name in MODEL_SOURCES:
        digest.update(name.encode() + b"\0" + (_PACKAGE / name).read_bytes() + b"\0")
    return digest.hexdigest()


def write_prebuilt(path: Path = PREBUILT_PATH) -> Path:
    """Validate the packaged catalog (as `load_catalog()` does) and write its prebuilt form to `path`."""
    catalog = load_catalog()
    document = {"fingerprint": fingerprint(), "catalog": catalog.model_dump(mode="json")}
    path.write_text(json.dumps(document, separators=(",", ":"), sort_keys=True) + "\n")
    return path


def load_prebuilt(processors: list[str] | None = None, path: Path | None = None) -> Catalog | None:
    """The packaged catalog (with `processors`, as `load_catalog(None, processors)` returns it) from the prebuilt
    file (default PREBUILT_PATH); None when there is none, or when it is stale (logged): then the caller validates
    the TOML instead."""
    path = path or PREBUILT_PATH
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("prebuilt catalog unreadable; validating catalog.toml", extra={"path": str(path),
                                                                                    "error": str(exc)})
        return None
    if not isinstance(document, dict) or document.get("fingerprint") != fingerprint():
        logger.warning("prebuilt catalog is stale (catalog.toml or its models changed since it was written); "
                       "validating catalog.toml: run `make` or `python -m jobqueue.prebuilt`",
                       extra={"path": str(path)})
        return None
    catalog = _construct(Catalog, {**document["catalog"], "processors": list(processors or [])})
    assert isinstance(catalog, Catalog)
    return catalog


def _construct(annotation: Any, value: Any) -> Any:
    """`value` (JSON of an already validated model) rebuilt as `annotation` says, without validating it again."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _construct(get_args(annotation)[0], value)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        models = [a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(models) > 1:
            raise TypeError(f"cannot tell which model of {annotation} a prebuilt value is")
        return _construct(models[0], value) if models and isinstance(value, dict) else value
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = annotation.model_fields
        return annotation.model_construct(**{name: _construct(fields[name].annotation, field_value)
                                             for name, field_value in value.items()})
    if origin is dict:
        value_type = get_args(annotation)[1]
        return {key: _construct(value_type, item) for key, item in value.items()}
    if origin is list:
        item_type = get_args(annotation)[0]
        return [_construct(item_type, item) for item in value]
    return value


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = write_prebuilt(Path(args[0]) if args else PREBUILT_PATH)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
