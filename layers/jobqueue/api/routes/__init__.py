"""The API's routes, one Router per concern; `jobqueue.api.app` includes them all."""

from __future__ import annotations

from jobqueue.api.routes import dashboard, dead_letters, flows, jobs, ops, queues, schedules, webhooks

__all__ = ["ROUTERS"]

ROUTERS = [webhooks.router, jobs.router, flows.router, queues.router, dead_letters.router, schedules.router,
           ops.router, dashboard.router]
