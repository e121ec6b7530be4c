"""The seed systems' own work on jobqueue: clients for their external services, stores for their records,
and the processors of their queues.

Processors register when their module is imported; name them in JOBQUEUE_PROCESSORS (or a catalog's
`processors`), e.g. `JOBQUEUE_PROCESSORS=workloads.processors.leads,workloads.processors.messaging`.
`workloads.processors.ALL` lists every module. Nothing here is imported by the engine, and each module imports
only what it needs, so a worker's cold start pays for its own queue's clients at most.
"""

from __future__ import annotations

__all__: list[str] = []
