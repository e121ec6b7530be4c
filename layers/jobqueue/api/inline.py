"""Seed 002's rule for bulk availability checks: 10 leads or fewer are checked during the request.

The check is the queue's own processor, run in the API process on a job that exists only in memory (its
progress and log calls go nowhere). More leads, no processor in this process, or a failure that a retry could
cure all send the job to the queue instead, where it gets the queue's attempts and backoff.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobqueue.api.errors import BadRequestError
from jobqueue.errors import UnrecoverableError
from jobqueue.job import Job, resolve_options
from jobqueue.registry import registry
from jobqueue.scripts import Scripts

if TYPE_CHECKING:
    from jobqueue.catalog import Catalog, QueueConfig

__all__ = ["INLINE_RULES", "InlineRule", "NotInline", "run_inline"]


@dataclass(frozen=True)
class InlineRule:
    """A job type whose small requests run inline: `data[field]` is a list of at most `max_items` ids."""

    field: str
    max_items: int


INLINE_RULES: dict[str, InlineRule] = {"bulk-availability-check": InlineRule("leadIds", 10)}


class NotInline(Exception):
    """This request goes to the queue; the message says why (for the log)."""


class _Detached(Scripts):
    """Scripts for a job that is not in Redis: progress and log lines are dropped."""

    def update_progress(self, job_id: str, progress: int | float | dict[str, Any]) -> None:
        return None

    def add_log(self, job_id: str, line: str, keep: int = 0) -> int:
        return 0


def run_inline(catalog: Catalog, queue: QueueConfig, job_type: str, data: Any, scripts: Scripts) -> Any:
    """The processor's result for a small request; NotInline when it must be queued instead."""
    rule = INLINE_RULES.get(job_type)
    if rule is None:
        raise NotInline("no inline rule")
    items = data.get(rule.field) if isinstance(data, dict) else None
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
        raise BadRequestError(f"body.data.{rule.field}: required, a non-empty list of id strings")
    if len(items) > rule.max_items:
        raise NotInline(f"{len(items)} {rule.field} > {rule.max_items}")
    registry.load(catalog.processors)
    fn = registry.lookup(queue.name, job_type)
    if fn is None:
        raise NotInline("no processor registered in the API process")
    job = Job(id=f"inline-{uuid.uuid4().hex}", name=job_type, data=data, opts=resolve_options(queue, job_type, {}),
              queue=queue.name, timestamp=int(time.time() * 1000), attempt=1,
              _scripts=_Detached(scripts.client, scripts.keys, scripts.max_len_events))
    try:
        return fn(job)
    except UnrecoverableError:
        raise  # bad input: a 400, retrying cannot help
    except Exception as exc:
        raise NotInline(f"inline check failed ({type(exc).__name__}); queued for retries") from exc
