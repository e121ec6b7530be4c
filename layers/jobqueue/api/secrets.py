"""Where the API's secrets come from: Secrets Manager when deployed, the environment when local.

The rule, for a secret called NAME (``SERVICE_TOKEN``, ``METRICS_TOKEN``, ``READ_ONLY_TOKEN``, or a webhook
source's ``secret`` such as ``GHL_WEBHOOK_SECRET``):

1. if the environment variable ``NAME_SECRET_ID`` is set (the deployed form: the CDK app sets it to the
   secret's ARN or name), the value is the Secrets Manager secret it names, read through Powertools'
   ``get_secret`` on the process's client (``jobqueue.connection.get_secret``) and cached for
   ``SECRET_MAX_AGE_S`` so warm invocations do not call Secrets Manager;
2. otherwise the value is the environment variable ``NAME`` itself (local runs, tests; seed 002's
   ``SERVICE_TOKEN``).

A secret that is missing, empty, or unreadable is ``None``: what it guards then refuses everyone (fail
closed). Values are never logged; a failed read logs the variable's name and the error class only.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

__all__ = ["METRICS_TOKEN", "READ_ONLY_TOKEN", "SECRET_MAX_AGE_S", "SERVICE_TOKEN", "read_secret"]

logger = Logger(service="jobqueue-api")

SERVICE_TOKEN = "SERVICE_TOKEN"
METRICS_TOKEN = "METRICS_TOKEN"
"""Optional: a bearer token accepted on `GET /metrics` alone, for Prometheus scrapers (see `jobqueue.api.auth`)."""
READ_ONLY_TOKEN = "READ_ONLY_TOKEN"
"""Optional: a bearer token answered on GET routes only, for a viewer of the dashboard (see `jobqueue.api.auth`)."""
SECRET_MAX_AGE_S = 300


def read_secret(name: str) -> str | None:
    """The secret called `name` by the rule above, or None when it is not configured or cannot be read."""
    secret_id = os.environ.get(f"{name}_SECRET_ID")
    if secret_id:
        from jobqueue.connection import get_secret

        try:
            value = get_secret(secret_id, max_age=SECRET_MAX_AGE_S)
        except Exception as exc:  # any SDK or transform failure: refuse, and say which secret, never its value
            logger.error("secret unavailable", extra={"secret": f"{name}_SECRET_ID", "error": type(exc).__name__})
            return None
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="strict")
        return value if isinstance(value, str) and value else None
    return os.environ.get(name) or None
