"""The web dashboard's files (public: they hold no data) and `GET /session`, which tells the dashboard whether its
token is read-only. The files are read by `jobqueue.dashboard`, imported only when one is asked for, so the
API's cold start does not grow."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from jobqueue.api.auth import authorized
from jobqueue.api.docs import responses
from jobqueue.api.errors import NotFoundError
from jobqueue.api.models import EventSources, Overview, QueueOverview, Session
from jobqueue.api.router import new_router
from jobqueue.api.routes.queues import event_sources
from jobqueue.api.services import services
from jobqueue.throughput import finished_within, read_metrics

router = new_router()
logger = Logger(service="jobqueue-api")

HOUR_MINUTES = 60
LAMBDA_CALLS = 4
"""Event source lookups the overview makes at once (Lambda's control plane throttles bursts)."""

_FILE: OpenAPIResponse = {"description": "the file", "content": {"text/html": {"schema": {"type": "string"}},
                                                "text/javascript": {"schema": {"type": "string"}},
                                                "text/css": {"schema": {"type": "string"}}}}


def _serve(name: str) -> Response[str]:
    from jobqueue.dashboard import asset  # only now: the dashboard's files stay off the cold start

    found = asset(name)
    if found is None:
        raise NotFoundError(f"the dashboard has no file {name!r}")
    content_type, body, headers = found
    return Response(200, content_type, body, headers=headers)


@router.get("/dashboard", tags=["dashboard"], operation_id="dashboard", summary="The web dashboard",
            description="A single page (no build step, nothing fetched from elsewhere) that signs in with a token "
                        "kept in the tab's sessionStorage and calls this API's routes with it.",
            responses={200: _FILE})
def dashboard() -> Response[str]:
    return _serve("index.html")


@router.get("/dashboard/<asset>", tags=["dashboard"], operation_id="dashboardAsset",
            summary="A file of the web dashboard (its script and style sheet)",
            responses={200: _FILE, **responses({}, 404)})
def dashboard_asset(asset: Annotated[str, Path(min_length=1, max_length=40)]) -> Response[str]:
    return _serve(asset)


@router.get("/session", tags=["dashboard"], operation_id="getSession",
            summary="What the caller's token may do (the dashboard hides actions for a read-only token)",
            responses=responses({200: ("the token's access", Session)}, 401))
def session() -> Session:
    # The request got here with a token `refusal` let through: the service token, or else the read-only one.
    return Session(readOnly=not authorized(router.current_event.raw_event))


@router.get("/overview", tags=["dashboard"], operation_id="getOverview",
            summary="Every queue's counts, dead letters, last hour and event sources (the dashboard's overview)",
            description="The last hour's figures come from BullMQ's per-minute metrics (`metrics:completed`, "
                        "`metrics:failed` and their `:data` lists, what BullMQ's `getMetrics` reads), so jobs "
                        "already removed (`removeOnComplete`, `clean`) still count.",
            responses=responses({200: ("every queue of the catalog", Overview)}, 401, 503))
def overview() -> Overview:
    svc = services()
    now = int(time.time() * 1000)
    pipe = svc.redis.pipeline(transaction=False)
    for name, config in svc.catalog.queues.items():
        keys = svc.settings.queue_keys(name)
        pipe.llen(svc.settings.queue_keys(config.dead_letter).wait)
        for kind in ("completed", "failed"):
            read_metrics(pipe, keys, kind, HOUR_MINUTES)
    found = pipe.execute()
    names = list(svc.catalog.queues)
    with ThreadPoolExecutor(max_workers=LAMBDA_CALLS) as pool:  # one Lambda API call per queue, a few at once
        sources = list(pool.map(_event_sources, names))

    def last_hour(i: int, kind: int) -> int:
        meta, points = found[5 * i + 1 + 2 * kind], found[5 * i + 2 + 2 * kind]
        return finished_within(meta, points, now_ms=now, minutes=HOUR_MINUTES)

    return Overview(queues=[
        QueueOverview.model_validate({
            **svc.admin(name).metrics(), "deadLetters": found[5 * i], "completedLastHour": last_hour(i, 0),
            "failedLastHour": last_hour(i, 1), "eventSources": sources[i]})
        for i, name in enumerate(names)])


def _event_sources(name: str) -> EventSources | None:
    """The queue's mappings, or None when Lambda does not answer: the overview still shows the counts."""
    try:
        return event_sources(services().admin(name).event_sources())
    except Exception as exc:  # any SDK failure: unknown, said in the log by class only
        logger.warning("event sources unavailable", extra={"queue": name, "error": type(exc).__name__})
        return None
