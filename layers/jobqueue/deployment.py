"""What runs where: every function of the system, its own environment and its event sources, from the catalog.

The CDK app deploys exactly these functions and the local runtime runs exactly these, so the two cannot
drift apart. Stage-wide settings (SQS name prefix, Redis endpoint, log level) are added by whoever runs
them; what is here is what makes one function differ from another.

>>> from jobqueue.catalog import load_catalog
>>> [spec.name for spec in function_specs(load_catalog())][:2]
['worker-lead-processing', 'worker-lead-enrichment']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

    from jobqueue.catalog import Catalog

__all__ = [
    "API_TIMEOUT_S",
    "MIN_EVENT_SOURCE_CONCURRENCY",
    "SCHEDULER_TIMEOUT_S",
    "EventSource",
    "FunctionSpec",
    "dead_letter_timeout",
    "function_specs",
]

Handler = Literal["worker", "dead_letter", "api", "scheduler"]
API_TIMEOUT_S = 29
"""API Gateway's integration timeout: a longer function would be cut off by the gateway anyway."""
SCHEDULER_TIMEOUT_S = 60
MIN_EVENT_SOURCE_CONCURRENCY = 2
"""SQS event sources accept a MaximumConcurrency of 2 or more; concurrency 1 is the function's reserved concurrency."""


@dataclass(frozen=True)
class EventSource:
    """An SQS event source mapping: which queue (by catalog/lane name, before any stage prefix) and how."""

    sqs_name: str
    batch_size: int
    batching_window: int
    max_concurrency: int


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function: `handler` names its code directory under `functions/`."""

    name: str
    handler: Handler
    description: str
    timeout: int
    environment: dict[str, str] = field(default_factory=dict)
    event_sources: tuple[EventSource, ...] = ()

    @property
    def reserve_one(self) -> bool:
        """A source's concurrency is below what a mapping can cap: the function gets a reserved concurrency of 1
        instead, and its mappings no MaximumConcurrency."""
        return any(s.max_concurrency < MIN_EVENT_SOURCE_CONCURRENCY for s in self.event_sources)


def dead_letter_timeout(catalog: Catalog, name: str) -> int:
    """The dead-letter function of `name` runs its sources' on_dead hooks, so it gets their longest timeout."""
    return max((q.timeout for q in catalog.sources_of(name)), default=60)


def function_specs(catalog: Catalog, env: Mapping[str, str] | None = None) -> list[FunctionSpec]:
    """A worker per queue (fed by each of its lanes), a dead-letter function per DLQ, the API, the scheduler.

    `env` is where the seeds' concurrency overrides are read (default: the process environment).
    """
    specs: list[FunctionSpec] = []
    for name, queue in catalog.queues.items():
        concurrency = queue.effective_concurrency(dict(env) if env is not None else None)
        specs.append(FunctionSpec(
            name=f"worker-{name}", handler="worker", description=f"jobqueue worker of queue {name}",
            timeout=queue.timeout, environment={"QUEUE_NAME": name},
            event_sources=tuple(EventSource(lane.sqs_name, queue.batch_size, queue.batching_window, concurrency)
                                for lane in queue.lanes()),
        ))
    for name, dlq in catalog.dead_letters.items():
        specs.append(FunctionSpec(
            name=f"dead-letter-{name}", handler="dead_letter", description=f"jobqueue dead-letter function of {name}",
            timeout=dead_letter_timeout(catalog, name), environment={"DEAD_LETTER_QUEUE": name},
            event_sources=(EventSource(name, 10, 0, dlq.concurrency),),
        ))
    specs.append(FunctionSpec(name="api", handler="api", description="jobqueue API and webhook intake",
                              timeout=API_TIMEOUT_S))
    specs.append(FunctionSpec(name="scheduler", handler="scheduler",
                              description="jobqueue scheduler target: turns schedule ticks into jobs",
                              timeout=SCHEDULER_TIMEOUT_S))
    return specs
