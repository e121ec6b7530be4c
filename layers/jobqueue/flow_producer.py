"""Flows: a parent job that runs after all its children completed (BullMQ's FlowProducer), in any queues.

>>> from jobqueue import FlowProducer
>>> FlowProducer().add({"name": "report", "queueName": "email", "children": [
...     {"name": "fetch", "queueName": "lead-processing", "data": {"page": 1}}]})  # doctest: +SKIP
AddedFlow(id='4f1c...', queue='email', children=[AddedFlow(id='9a2e...', queue='lead-processing', children=[])])

State is BullMQ's: a parent waits in `waiting-children` with its children's keys in `<parent>:dependencies`;
each child's return value lands in `<parent>:processed` (its processor reads them with
`job.get_children_values()`), and a child carries `parentKey` and `parent`. A child that dies fails its parent
(`failParentOnFailure`, the default here: BullMQ would leave the parent waiting for good), or lets it run
(`continueParentOnFailure`), or counts as done (`ignoreDependencyOnFailure`, `removeDependencyOnFailure`).

Adding is all or nothing for the caller. A script touches one queue's keys, so a flow is recorded in one call
per level and queue, deepest level first and the root last, every job marked unsent; the jobs without children
are then sent and the marks cleared. A failure before the root is recorded, or an SQS refusal, rolls the flow
back (the root is marked first, so a rollback cut short still counts as one); a producer that dies leaves an
uncommitted flow the sweeper removes, or a committed one it completes (`jobqueue.flow_commit`); until then a
worker holds back any delivery of an uncommitted flow's job, so no part of it runs. The one thing a
rollback cannot undo is a job a worker took already (SQS had its message after all): it runs alone, and its
caller is told that part of the flow may run.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from aws_lambda_powertools import Logger
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError
from redis.exceptions import RedisError

from jobqueue.catalog import Catalog, default_catalog
from jobqueue.connection import aws_client, redis_for
from jobqueue.errors import EnqueueError, InvalidJobError, PayloadTooLargeError, Rejection
from jobqueue.flow_commit import ROLLBACK_FIELD
from jobqueue.flow_parents import FAILURE_POLICIES
from jobqueue.queue import Queue, send_jobs
from jobqueue.scripts import FlowNode, NewJob
from jobqueue.settings import Settings, get_settings

if TYPE_CHECKING:
    from redis import Redis

    from jobqueue.job import JobMessage

__all__ = ["MAX_FLOW_DEPTH", "MAX_FLOW_JOBS", "AddedFlow", "FlowJob", "FlowProducer"]

logger = Logger(service="jobqueue")

MAX_FLOW_DEPTH = 10
"""Levels a flow may have (the root is level 1): npm bullmq's `getFlow` reads ten by default."""
MAX_FLOW_JOBS = 500
"""Jobs a flow may have: one add's worth of Redis work (Queue.add_bulk's batch)."""


class FlowJob(BaseModel):
    """One node of a flow, in BullMQ's FlowJob shape: `name`, `queueName`, `data`, `opts`, `children`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    name: str = Field(min_length=1, max_length=256)
    queue_name: str = Field(min_length=1, validation_alias=AliasChoices("queueName", "queue"),
                            serialization_alias="queueName")
    data: Any = None
    opts: dict[str, Any] = Field(default_factory=dict)
    children: list[FlowJob] = Field(default_factory=list)


@dataclass(frozen=True)
class AddedFlow:
    """The ids a flow's jobs got, in the flow's shape (BullMQ's JobNode without the jobs)."""

    id: str
    queue: str
    children: list[AddedFlow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "queue": self.queue, "children": [c.to_dict() for c in self.children]}


@dataclass
class _Planned:
    """A flow job ready to record: its message (with its id), level (0 = root), parent, children's keys."""

    message: JobMessage
    level: int
    added: AddedFlow
    parent_key: str = ""
    parent: str = ""
    children: list[str] = field(default_factory=list)

    @property
    def is_parent(self) -> bool:
        return bool(self.children)


def check_shape(raw: Any) -> None:
    """Refuse a flow deeper than MAX_FLOW_DEPTH or larger than MAX_FLOW_JOBS before parsing it (no recursion)."""
    stack, count = [(raw, 1)], 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_FLOW_DEPTH:
            raise InvalidJobError(f"flow is deeper than {MAX_FLOW_DEPTH} levels")
        if count > MAX_FLOW_JOBS:
            raise InvalidJobError(f"flow has more than {MAX_FLOW_JOBS} jobs")
        children = node.get("children") if isinstance(node, dict) else None
        if isinstance(children, list):
            stack += [(child, depth + 1) for child in children]


def parse_flow(raw: Any) -> FlowJob:
    """A flow body validated: its shape bounded first, then every node's fields; the error names the node."""
    if isinstance(raw, FlowJob):
        raw = raw.model_dump(by_alias=True)
    check_shape(raw)
    try:
        return FlowJob.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'flow'}: {e['msg']}" for e in exc.errors())
        raise InvalidJobError(f"invalid flow: {problems}") from exc


class FlowProducer:
    """Adds flows: trees of jobs in which every parent runs after all its children completed."""

    def __init__(self, *, catalog: Catalog | None = None, settings: Settings | None = None,
                 redis: Redis | None = None, sqs: Any = None) -> None:
        self.settings = settings or get_settings()
        self.catalog = catalog or default_catalog()
        self.redis = redis or redis_for(self.settings)
        self.sqs = sqs or aws_client("sqs")
        self._queues: dict[str, Queue] = {}

    def queue(self, name: str) -> Queue:
        if name not in self._queues:
            self._queues[name] = Queue(name, catalog=self.catalog, settings=self.settings, redis=self.redis,
                                       sqs=self.sqs)
        return self._queues[name]

    def add(self, flow: dict[str, Any] | FlowJob) -> AddedFlow:
        """Add a flow (BullMQ's FlowJob shape); returns its jobs' ids. Raises InvalidJobError (nothing written)
        or EnqueueError (not accepted; `may_run` says whether part of it may still run)."""
        plan = self._plan(parse_flow(flow))
        stamp = int(time.time() * 1000)
        for planned in plan:
            planned.message = planned.message.model_copy(update={"timestamp": stamp})
        self._record(plan, stamp)
        self._send(plan, stamp)
        return plan[0].added

    # -- planning: ids, options, parents -----------------------------------------------------------------

    def _plan(self, root: FlowJob) -> list[_Planned]:
        """Every job of the flow, breadth first (the root first), validated as Queue.add validates a job."""
        plan: list[_Planned] = []
        pending: deque[tuple[FlowJob, int, _Planned | None]] = deque([(root, 0, None)])
        while pending:
            node, level, parent = pending.popleft()
            if "parent" in node.opts:
                raise InvalidJobError(f"flow job {node.name!r}: `parent` is set by the flow's shape, not by opts")
            job_id = node.opts.get("jobId") or str(uuid.uuid4())
            opts = dict(node.opts, jobId=job_id)
            planned_parent = ""
            if parent is not None:
                self._check_sends_to(node.queue_name, parent.message.queue)
                opts["parent"] = {"id": parent.message.id,
                                  "queue": self.settings.queue_keys(parent.message.queue).queue_key}
                chosen = [short for name, short in FAILURE_POLICIES.items() if node.opts.get(name)]
                if len(chosen) > 1:
                    raise InvalidJobError(f"flow job {node.name!r}: at most one of {sorted(FAILURE_POLICIES)}")
                planned_parent = json.dumps({"id": parent.message.id, "queueKey": opts["parent"]["queue"],
                                             chosen[0] if chosen else "fpof": True}, separators=(",", ":"))
                if not chosen:
                    opts["failParentOnFailure"] = True
            elif set(FAILURE_POLICIES) & set(node.opts):
                raise InvalidJobError(f"flow root {node.name!r}: {sorted(FAILURE_POLICIES)} apply to children only")
            queue = self.queue(node.queue_name)
            message = queue._draft(len(plan), {"name": node.name, "data": node.data, "opts": opts})
            if queue.payloads.is_large(message.data_json):
                raise PayloadTooLargeError(
                    f"flow job {node.name!r}: data of {len(message.data_json.encode())} bytes is over the payload "
                    f"threshold of {queue.payloads.threshold} bytes; a flow's jobs carry their data in the message, "
                    f"so pass large data by reference (or add it with Queue.add, which keeps it in S3)")
            planned = _Planned(message, level, AddedFlow(job_id, node.queue_name),
                               parent_key="" if parent is None else self._key(parent.message), parent=planned_parent)
            if parent is not None:
                parent.children.append(self._key(message))
                parent.added.children.append(planned.added)
            if any(p.message.queue == message.queue and p.message.id == job_id for p in plan):
                raise InvalidJobError(f"flow job id {job_id!r} appears twice in queue {message.queue!r}")
            plan.append(planned)
            pending += [(child, level + 1, planned) for child in node.children]
        return plan

    def _check_sends_to(self, child_queue: str, parent_queue: str) -> None:
        """A child's worker sends its parent's message when the child finishes; deployed, it may only send to the
        queues its catalog entry's `sends_to` names (IAM), so a flow the deployment could not release is refused."""
        config = self.catalog.queues.get(child_queue)
        if config is not None and child_queue != parent_queue and parent_queue not in config.sends_to:
            raise InvalidJobError(f"flow: a child in queue {child_queue!r} cannot have its parent in queue "
                                  f"{parent_queue!r}: add {parent_queue!r} to {child_queue!r}'s sends_to in the "
                                  f"catalog")

    def _key(self, message: JobMessage) -> str:
        return self.queue(message.queue).keys.job(message.id)

    # -- recording: deepest level first, the root last ---------------------------------------------------

    def _record(self, plan: list[_Planned], stamp: int) -> None:
        groups: dict[tuple[int, str], list[_Planned]] = defaultdict(list)
        for p in plan:
            groups[(p.level, p.message.queue)].append(p)
        root_key = self._key(plan[0].message)
        for (_, queue), members in sorted(groups.items(), key=lambda item: -item[0][0]):
            nodes = [FlowNode(NewJob(m.message.id, m.message.name, m.message.data_json,
                                     m.message.opts.to_bullmq_json(), m.message.opts.delay, m.message.opts.priority),
                              m.parent_key, m.parent, tuple(m.children)) for m in members]
            try:
                taken = self.queue(queue).scripts.add_flow_jobs(nodes, stamp, root_key)
            except RedisError as exc:
                self._fail(plan, stamp, f"could not record the flow in Redis: {exc}")
            if taken:
                self._fail(plan, stamp, f"job {taken!r} exists in queue {queue!r}", invalid=True)

    def _fail(self, plan: list[_Planned], stamp: int, reason: str, *, invalid: bool = False) -> NoReturn:
        """Roll back a flow not committed (or whose root's write is unknown), root first; raise why."""
        try:
            self._remove(plan, stamp)
        except RedisError as exc:
            self._raise(plan, f"{reason}; rolling it back failed ({exc}): the sweeper removes it unless its "
                              f"root was recorded", may_run=True)
        if invalid:
            raise InvalidJobError(f"flow not added: {reason}")
        self._raise(plan, f"flow not added: {reason}", may_run=False)

    def _remove(self, plan: list[_Planned], stamp: int) -> list[int]:
        """Remove the flow's jobs queue by queue, the root's queue first; a code per job (removeFlowJobs)."""
        by_queue: dict[str, list[str]] = defaultdict(list)
        for p in plan:
            by_queue[p.message.queue].append(p.message.id)
        now = int(time.time() * 1000)
        codes: list[int] = []
        for queue, ids in by_queue.items():
            codes += self.queue(queue).scripts.remove_flow_jobs(ids, stamp, now)
        return codes

    def _raise(self, plan: list[_Planned], reason: str, *, may_run: bool) -> NoReturn:
        raise EnqueueError(reason, [None] * len(plan), [Rejection(0, plan[0].message.id, reason, may_run)])

    # -- sending the jobs without children -----------------------------------------------------------------

    def _send(self, plan: list[_Planned], stamp: int) -> None:
        """Send every job without children, then clear the marks; SQS refusing any rolls the flow back."""
        leaves: dict[str, dict[str, JobMessage]] = defaultdict(dict)
        for p in plan:
            if not p.is_parent:
                leaves[p.message.queue][p.message.id] = p.message
        refused = {queue: send_jobs(self.queue(queue).transport, self.queue(queue).config, messages)
                   for queue, messages in leaves.items()}
        if any(refused.values()):
            why = next(reason for reasons in refused.values() for reason in reasons.values())
            self._roll_back_sent(plan, stamp, why)
        for queue, messages in leaves.items():
            try:
                self.queue(queue).scripts.confirm_sent(list(messages))
            except RedisError as exc:  # they are in SQS: the sweeper's later copy is dropped as a duplicate
                logger.warning("unsent marks not cleared", extra={"queue": queue, "error": str(exc)})
        self._confirm_parents(plan, stamp)

    def _confirm_parents(self, plan: list[_Planned], stamp: int) -> None:
        by_queue: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for p in plan:
            if p.is_parent:
                by_queue[p.message.queue].append((p.message.id, stamp))
        for queue, parents in by_queue.items():
            try:
                self.queue(queue).scripts.confirm_flow_parents(parents)
            except RedisError as exc:  # the sweeper clears them
                logger.warning("flow parents' marks not cleared", extra={"queue": queue, "error": str(exc)})

    def _roll_back_sent(self, plan: list[_Planned], stamp: int, why: str) -> NoReturn:
        """SQS refused some of the flow's jobs: roll the flow back. The root is marked first, so a rollback cut
        short leaves an uncommitted flow, which the sweeper removes. A job a worker took already (SQS had its
        message after all) cannot be undone: it runs alone, its parent gone, and the caller is told so."""
        try:
            self.redis.hset(self._key(plan[0].message), ROLLBACK_FIELD, 1)
        except RedisError as exc:
            self._raise(plan, f"SQS refused part of the flow ({why}) and it could not be rolled back ({exc}): "
                              f"it is sent within a minute", may_run=True)
        try:
            taken = 0 in self._remove(plan, stamp)
        except RedisError as exc:
            self._raise(plan, f"SQS refused part of the flow ({why}) and rolling it back failed ({exc}); the "
                              f"sweeper removes what is left unless a worker took part of it", may_run=True)
        if taken:
            self._raise(plan, f"flow not added: SQS refused part of it ({why}); a worker had already taken a job "
                              f"SQS did take, which runs alone", may_run=True)
        self._raise(plan, f"flow not added: SQS refused part of it: {why}", may_run=False)
