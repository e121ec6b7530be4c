"""Processors: the functions that do a queue's work, registered with a decorator.

>>> from jobqueue import Job, processor
>>> @processor("lead-processing")
... def process_lead(job: Job) -> dict[str, bool]:
...     return {"enriched": True}

Users' modules are imported by name from configuration (JOBQUEUE_PROCESSORS or the catalog's
`processors`), so adding queues and processors never means editing this package.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from jobqueue.errors import CatalogError

if TYPE_CHECKING:
    from jobqueue.job import Job

__all__ = ["ProcessorFn", "Registry", "import_attribute", "import_callable", "processor", "registry"]

ProcessorFn = Callable[["Job"], Any]
F = TypeVar("F", bound=ProcessorFn)


class Registry:
    """Processors by (queue, job name); a processor registered without a name serves every name."""

    def __init__(self) -> None:
        self._processors: dict[tuple[str, str | None], ProcessorFn] = {}
        self._imported: set[str] = set()

    def processor(self, queue: str, name: str | None = None) -> Callable[[F], F]:
        def register(fn: F) -> F:
            self._processors[(queue, name)] = fn
            return fn

        return register

    def lookup(self, queue: str, name: str) -> ProcessorFn | None:
        return self._processors.get((queue, name)) or self._processors.get((queue, None))

    def load(self, modules: list[str]) -> None:
        """Import processor modules (their decorators register them); each module once."""
        for module in modules:
            if module in self._imported:
                continue
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise CatalogError(f"processor module {module!r} cannot be imported: {exc}") from exc
            self._imported.add(module)


def import_attribute(path: str) -> Any:
    """Resolve "package.module:attribute", as the catalog names hooks and API routers."""
    module_name, _, attribute = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise CatalogError(f"{path!r} cannot be imported: {exc}") from exc


def import_callable(path: str) -> Callable[..., Any]:
    """Resolve "package.module:function", as the catalog's `on_dead` names hooks."""
    target = import_attribute(path)
    if not callable(target):
        raise CatalogError(f"{path!r} is not callable")
    return target  # type: ignore[no-any-return]


registry = Registry()
processor = registry.processor
