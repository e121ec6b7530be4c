"""The HTTP API Lambda: webhook intake, jobs, queue management, dead letters, schedules and operations.

>>> from jobqueue.api import handle  # handle(api_gateway_rest_proxy_event, context) -> proxy response
"""

from __future__ import annotations

from jobqueue.api.app import app, handle, logger, openapi_document

__all__ = ["app", "handle", "logger", "openapi_document"]
