"""`POST /jobs`: one job, seed 002's `{jobType, data}`, or a bulk list; 202 once every job is durable."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel

from jobqueue.api.docs import responses
from jobqueue.api.inline import NotInline, run_inline
from jobqueue.api.models import (
    Accepted,
    AddJobRequest,
    BulkAccepted,
    BulkJobRequest,
    BulkPartial,
    InlineResult,
    JobRequest,
    JobTypeRequest,
    RejectedJob,
)
from jobqueue.api.router import invocation_deadline, new_router
from jobqueue.api.services import services
from jobqueue.errors import EnqueueError
from jobqueue.job import JobOptions

router = new_router()
logger = Logger(service="jobqueue-api")


def _opts(opts: JobOptions | None) -> dict[str, Any]:
    """Only the options the caller set, so the queue's and the job name's defaults fill the rest."""
    return opts.model_dump(mode="json", by_alias=True, exclude_unset=True) if opts else {}


def add_bulk(request: BulkJobRequest, *, deadline: float | None = None) -> BulkAccepted | BulkPartial:
    """Add a bulk request's jobs: all accepted, or which were not and why (EnqueueError, a 503, when none was)."""
    try:
        ids = services().queue(request.queue).add_bulk(
            [{"name": j.name, "data": j.data, "opts": _opts(j.opts)} for j in request.jobs], deadline=deadline)
    except EnqueueError as exc:
        if not exc.accepted:
            raise
        logger.warning("bulk add partly accepted", extra={"queue": request.queue, "accepted": len(exc.accepted),
                                                         "rejected": len(exc.rejections)})
        return BulkPartial(queue=request.queue, jobIds=exc.ids, rejected=[
            RejectedJob(index=r.index, jobId=r.job_id, reason=r.reason, mayRun=r.may_run) for r in exc.rejections])
    return BulkAccepted(queue=request.queue, jobIds=ids)


def _answer(status: int, body: BaseModel) -> Response[str]:
    return Response(status, "application/json", body.model_dump_json())


@router.post(
    "/jobs", status_code=202, tags=["jobs"], operation_id="addJobs",
    summary="Add one job, a seed-002 job type, or many jobs",
    description="Three forms: `{queue, name, data, opts}`; `{jobType, data}` (the catalog maps job types to "
                "queues); `{queue, jobs: [{name, data, opts}]}`. A `bulk-availability-check` of 10 `leadIds` or "
                "fewer is checked during the request and answered 200 with the result (seed 002); more are queued.",
    responses=responses({200: ("a small bulk availability check, done", InlineResult),
                         202: ("accepted: the jobs are durable and will run", Accepted | BulkAccepted),
                         207: ("a bulk add partly accepted: which jobs were not, and whether they may run",
                               BulkPartial)},
                        400, 401, 404, 413, 503),
)
def add_jobs(request: Annotated[AddJobRequest, Body()]) -> Response[str]:
    svc = services()
    if isinstance(request, BulkJobRequest):
        answer = add_bulk(request, deadline=invocation_deadline(router))
        return _answer(207 if isinstance(answer, BulkPartial) else 202, answer)
    if isinstance(request, JobTypeRequest):
        queue = svc.queue(svc.catalog.queue_for_job_type(request.jobType).name)
        if request.opts is None:
            try:
                result = run_inline(svc.catalog, queue.config, request.jobType, request.data, queue.scripts)
            except NotInline as why:
                logger.debug("queued, not inline", extra={"jobType": request.jobType, "reason": str(why)})
            else:
                return _answer(200, InlineResult(queue=queue.name, jobType=request.jobType, result=result))
        job_id = queue.add(request.jobType, request.data, **_opts(request.opts))
        return _answer(202, Accepted(jobId=job_id, queue=queue.name))
    assert isinstance(request, JobRequest)
    job_id = svc.queue(request.queue).add(request.name, request.data, **_opts(request.opts))
    return _answer(202, Accepted(jobId=job_id, queue=request.queue))
