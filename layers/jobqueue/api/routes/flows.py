"""`POST /flows`: a parent job and its children (in any queues), BullMQ's FlowProducer.add; 202 once durable."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from jobqueue.api.docs import responses
from jobqueue.api.models import FlowNodeIds
from jobqueue.api.router import new_router
from jobqueue.api.services import services
from jobqueue.flow_producer import MAX_FLOW_DEPTH, MAX_FLOW_JOBS, AddedFlow, FlowJob

router = new_router()


def flow_ids(added: AddedFlow) -> FlowNodeIds:
    return FlowNodeIds(id=added.id, queue=added.queue, children=[flow_ids(c) for c in added.children])


@router.post(
    "/flows", status_code=202, tags=["jobs"], operation_id="addFlow",
    summary="Add a flow: a parent job that runs after all its children completed",
    description=f"BullMQ's FlowJob: `{{name, queueName, data, opts, children: [...]}}`, children in any catalog "
                f"queue, at most {MAX_FLOW_DEPTH} levels and {MAX_FLOW_JOBS} jobs. A parent reads its children's "
                "return values; a child that dies fails its parent unless its opts say `continueParentOnFailure`, "
                "`ignoreDependencyOnFailure` or `removeDependencyOnFailure`. All or nothing: a 503 says whether "
                "any of it may still run (`mayRun`).",
    responses=responses({202: ("accepted: every job of the flow is durable", FlowNodeIds)}, 400, 401, 404, 413, 503),
)
def add_flow(request: Annotated[FlowJob, Body()]) -> Response[str]:
    added = services().flow_producer().add(request)
    return Response(202, "application/json", flow_ids(added).model_dump_json())
