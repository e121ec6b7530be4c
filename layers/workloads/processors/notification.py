"""Seed 004's notification worker: one Web Push (VAPID) per `push` job."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from jobqueue.registry import processor
from workloads.clients.push import Subscription, WebPush
from workloads.jobdata import parse

if TYPE_CHECKING:
    from jobqueue.job import Job

__all__ = ["push"]


class PushJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subscription: Subscription
    payload: dict[str, Any]
    ttl: int = Field(3600, ge=0, le=28 * 24 * 3600)


@processor("notification", "push")
def push(job: Job) -> dict[str, int]:
    request = parse(job, PushJob)
    return {"status": WebPush.from_env().send(request.subscription, request.payload, request.ttl)}
