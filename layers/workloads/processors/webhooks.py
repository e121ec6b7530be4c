"""Seed 003's `webhooks` queue: deliver one signed event to a subscriber's URL, retried with backoff."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from jobqueue.registry import processor
from workloads.clients.webhooks import WebhookSender
from workloads.jobdata import parse

if TYPE_CHECKING:
    from jobqueue.job import Job

__all__ = ["deliver"]


class Delivery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2048)
    event: str = Field(min_length=1, max_length=128)
    payload: Any = None


@processor("webhooks")
def deliver(job: Job) -> dict[str, Any]:
    """The job id is the delivery id, the same on every retry, so receivers can drop duplicates."""
    request = parse(job, Delivery)
    status = WebhookSender.from_env().deliver(request.url, job.id, request.event, request.payload)
    return {"url": request.url, "status": status}
