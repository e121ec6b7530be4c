"""The seed systems' processors, one module per seed area; list the ones a deployment runs in
JOBQUEUE_PROCESSORS (every worker imports them all, so each keeps its imports light)."""

from __future__ import annotations

__all__ = ["ALL"]

ALL = [
    "workloads.processors.leads",
    "workloads.processors.messaging",
    "workloads.processors.integrations",
    "workloads.processors.email",
    "workloads.processors.search",
    "workloads.processors.notification",
    "workloads.processors.webhooks",
]
"""Every module, for JOBQUEUE_PROCESSORS=",".join(ALL)."""
