"""Repeatable jobs: `GET /schedules`, `POST /schedules` and `DELETE /schedules/{name}` (BullMQ's repeat options
at run time), and `POST /schedules/initialize` (seed 002's `bullmq:init`), over `jobqueue.schedules`.

Creating schedules needs where they send their ticks, from the environment the CDK app sets:
`JOBQUEUE_SCHEDULER_TARGET_ARN` (the scheduler Lambda), `JOBQUEUE_SCHEDULER_ROLE_ARN` (the role Scheduler
assumes), and optionally `JOBQUEUE_SCHEDULE_GROUP` (default "default") and `JOBQUEUE_SCHEDULE_PREFIX`. Without
them the catalog's entries are still listed; run-time ones live in Scheduler and need it.
"""

from __future__ import annotations

import os
from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from jobqueue.api.docs import responses
from jobqueue.api.errors import BadRequestError, HTTPError
from jobqueue.api.models import InitializeRequest, InitializeResult, ScheduleInfoModel, ScheduleList, ScheduleRemoved
from jobqueue.api.router import new_router
from jobqueue.api.services import services
from jobqueue.connection import aws_client
from jobqueue.repeat import Repeat
from jobqueue.schedules import SchedulerTarget, add_schedule, list_schedules, remove_schedule, runtime_schedules
from jobqueue.schedules import initialize as upsert

router = new_router()


class SchedulerNotConfiguredError(HTTPError):
    """This deployment was not told where schedules deliver their ticks."""

    status = HTTPStatus.SERVICE_UNAVAILABLE


def _configured() -> SchedulerTarget | None:
    target, role = os.environ.get("JOBQUEUE_SCHEDULER_TARGET_ARN"), os.environ.get("JOBQUEUE_SCHEDULER_ROLE_ARN")
    if not target or not role:
        return None
    return SchedulerTarget(target, role, group=os.environ.get("JOBQUEUE_SCHEDULE_GROUP", "default"),
                           name_prefix=os.environ.get("JOBQUEUE_SCHEDULE_PREFIX", ""))


def _target(action: str) -> SchedulerTarget:
    where = _configured()
    if where is None:
        raise SchedulerNotConfiguredError(
            f"schedules cannot be {action} here: JOBQUEUE_SCHEDULER_TARGET_ARN and JOBQUEUE_SCHEDULER_ROLE_ARN "
            "are not set")
    return where


@router.get(
    "/schedules", tags=["schedules"], operation_id="listSchedules",
    summary="Repeatable jobs (the catalog's and those added at run time) with Scheduler expressions and next runs",
    responses=responses({200: ("every repeatable job", ScheduleList)}, 401, 503),
)
def list_all() -> ScheduleList:
    where = _configured()
    runtime = runtime_schedules(aws_client("scheduler"), where) if where else []
    return ScheduleList(schedules=[dict(s) for s in list_schedules(services().catalog, runtime=runtime)])


@router.post(
    "/schedules", status_code=201, tags=["schedules"], operation_id="addSchedule",
    summary="Add a repeatable job: an EventBridge Scheduler schedule (cron pattern in a time zone, or every N ms)",
    responses=responses({201: ("the schedule, with its Scheduler expression and next runs", ScheduleInfoModel)},
                        400, 401, 404, 409, 503),
)
def add(request: Annotated[Repeat, Body()]) -> ScheduleInfoModel:
    info = add_schedule(aws_client("scheduler"), services().catalog, request, _target("added"))
    return ScheduleInfoModel.model_validate(info)


@router.delete(
    "/schedules/<name>", tags=["schedules"], operation_id="removeSchedule",
    summary="Remove a repeatable job added at run time",
    responses=responses({200: ("removed", ScheduleRemoved)}, 401, 404, 409, 503),
)
def remove(name: Annotated[str, Path(min_length=1, max_length=80)]) -> ScheduleRemoved:
    svc = services()
    repeat = remove_schedule(aws_client("scheduler"), svc.catalog, name, _target("removed"), redis=svc.redis,
                             prefix=svc.settings.prefix)
    return ScheduleRemoved(queue=repeat.queue, name=repeat.name, removed=True)


@router.post(
    "/schedules/initialize", tags=["schedules"], operation_id="initializeSchedules",
    summary="Create or update one EventBridge Scheduler schedule per cron entry",
    responses=responses({200: ("what changed", InitializeResult)}, 400, 401, 503),
)
def initialize(request: Annotated[InitializeRequest | None, Body()] = None) -> InitializeResult:
    where = _target("initialized")
    prune = bool(request and request.prune)
    if prune and not where.name_prefix and where.group == "default":
        raise BadRequestError("body.prune: refused, this deployment has no schedule prefix or group of its own, "
                              "so pruning could delete schedules that are not jobqueue's")
    changes = upsert(aws_client("scheduler"), services().catalog, target_arn=where.target_arn,
                     role_arn=where.role_arn, group=where.group, name_prefix=where.name_prefix, prune=prune)
    return InitializeResult(changes=[dict(c) for c in changes])
