"""`GET /health` (public, for load balancers), `GET /metrics` (Prometheus) and `GET /openapi.json`."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from botocore.config import Config

from jobqueue.api.docs import responses
from jobqueue.api.metrics import CONTENT_TYPE, render_metrics
from jobqueue.api.models import Dependency, Health, RedisMemory
from jobqueue.api.router import new_router
from jobqueue.api.services import Services, services
from jobqueue.connection import QueueUrls

router = new_router()
logger = Logger(service="jobqueue-api")

# A health check must answer while a dependency hangs: one try, short timeouts.
_HEALTH_AWS = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=3)


@cache
def _health_sqs() -> Any:
    import boto3

    return boto3.client("sqs", config=_HEALTH_AWS)


def _check(name: str, probe: Any) -> Dependency:
    try:
        probe()
    except Exception as exc:  # whatever the failure, the answer is "down", with its class for the operator
        logger.warning("health check failed", extra={"dependency": name, "error": type(exc).__name__})
        return Dependency(ok=False, error=f"{type(exc).__name__}")
    return Dependency(ok=True)


def _size(n: float) -> str:
    """Bytes in binary units, e.g. '1.2 MiB'."""
    unit = "B"
    for larger in ("KiB", "MiB", "GiB"):
        if n < 1024:
            break
        n, unit = n / 1024, larger
    return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"


def redis_memory(info: dict[str, Any]) -> RedisMemory:
    """Memory use against the limit, from INFO memory (maxmemory 0 is no limit, said so)."""
    used, limit = int(info["used_memory"]), int(info.get("maxmemory") or 0)
    policy = str(info.get("maxmemory_policy", "unknown"))
    if limit:
        percent = round(100 * used / limit, 1)
        summary = f"{_size(used)} of {_size(limit)} ({percent} %), {policy}"
    else:
        percent, summary = None, f"{_size(used)}, no limit (maxmemory 0), {policy}"
    return RedisMemory(usedBytes=used, maxBytes=limit or None, usedPercent=percent, policy=policy, summary=summary)


def check_health(svc: Services, sqs: Any | None = None) -> Health:
    """Redis answers INFO memory (its use against maxmemory is reported); SQS answers GetQueueAttributes for the
    catalog's first queue."""
    client = sqs or _health_sqs()
    first = next(iter(svc.catalog.queues))

    def probe_sqs() -> None:
        url = QueueUrls(client, svc.settings.sqs_name_prefix).url(first)
        client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])

    info: dict[str, Any] = {}
    redis, queue = _check("redis", lambda: info.update(svc.redis.info("memory"))), _check("sqs", probe_sqs)
    return Health(status="ok" if redis.ok and queue.ok else "degraded", redis=redis, sqs=queue,
                  memory=redis_memory(info) if redis.ok else None)


@router.get(
    "/health", tags=["operations"], operation_id="health", summary="Whether Redis and SQS answer",
    responses=responses({200: ("both answer", Health), 503: ("at least one is down; the body says which", Health)}),
)
def health() -> Response[str]:
    report = check_health(services())
    return Response(200 if report.status == "ok" else 503, "application/json", report.model_dump_json())


@router.get(
    "/metrics", tags=["operations"], operation_id="metrics", summary="Prometheus metrics",
    description="Takes the service token, or the scrape token `METRICS_TOKEN` when the deployment sets one (it "
                "opens this route and no other).",
    responses={200: {"description": "Prometheus text exposition format 0.0.4",
                     "content": {"text/plain": {"schema": {"type": "string"}}}},
               **responses({}, 401, 503)},
)
def metrics() -> Response[str]:
    return Response(200, CONTENT_TYPE, render_metrics(services()))
