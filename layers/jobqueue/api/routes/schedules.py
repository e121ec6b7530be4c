"""`GET /schedules` and `POST /schedules/initialize` (seed 002's `bullmq:init`), over `jobqueue.schedules`.

`initialize` needs where schedules send their ticks, from the environment the CDK app sets:
`JOBQUEUE_SCHEDULER_TARGET_ARN` (the scheduler Lambda), `JOBQUEUE_SCHEDULER_ROLE_ARN` (the role Scheduler
assumes), and optionally `JOBQUEUE_SCHEDULE_GROUP` (default "default") and `JOBQUEUE_SCHEDULE_PREFIX`.
"""

from __future__ import annotations

import os
from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body

from jobqueue.api.docs import responses
from jobqueue.api.errors import BadRequestError, HTTPError
from jobqueue.api.models import InitializeRequest, InitializeResult, ScheduleList
from jobqueue.api.router import new_router
from jobqueue.api.services import services
from jobqueue.connection import aws_client
from jobqueue.schedules import initialize as upsert
from jobqueue.schedules import list_schedules

router = new_router()


class SchedulerNotConfiguredError(HTTPError):
    """This deployment was not told where schedules deliver their ticks."""

    status = HTTPStatus.SERVICE_UNAVAILABLE


@router.get(
    "/schedules", tags=["schedules"], operation_id="listSchedules",
    summary="The catalog's cron jobs with their Scheduler expressions and next run times",
    responses=responses({200: ("every cron entry", ScheduleList)}, 401),
)
def list_all() -> ScheduleList:
    return ScheduleList(schedules=[dict(s) for s in list_schedules(services().catalog)])


@router.post(
    "/schedules/initialize", tags=["schedules"], operation_id="initializeSchedules",
    summary="Create or update one EventBridge Scheduler schedule per cron entry",
    responses=responses({200: ("what changed", InitializeResult)}, 400, 401, 503),
)
def initialize(request: Annotated[InitializeRequest | None, Body()] = None) -> InitializeResult:
    target, role = os.environ.get("JOBQUEUE_SCHEDULER_TARGET_ARN"), os.environ.get("JOBQUEUE_SCHEDULER_ROLE_ARN")
    if not target or not role:
        raise SchedulerNotConfiguredError(
            "schedules cannot be initialized here: JOBQUEUE_SCHEDULER_TARGET_ARN and JOBQUEUE_SCHEDULER_ROLE_ARN "
            "are not set")
    prefix = os.environ.get("JOBQUEUE_SCHEDULE_PREFIX", "")
    group = os.environ.get("JOBQUEUE_SCHEDULE_GROUP", "default")
    prune = bool(request and request.prune)
    if prune and not prefix and group == "default":
        raise BadRequestError("body.prune: refused, this deployment has no schedule prefix or group of its own, "
                              "so pruning could delete schedules that are not jobqueue's")
    changes = upsert(aws_client("scheduler"), services().catalog, target_arn=target, role_arn=role, group=group,
                     name_prefix=prefix, prune=prune)
    return InitializeResult(changes=[dict(c) for c in changes])
