"""Seed 002's messaging work: the scheduled-messages tick (every minute), sending one message, the line health
check (every 5 minutes) and bulk iMessage availability checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from jobqueue.errors import JobQueueError, UnrecoverableError
from jobqueue.registry import processor
from workloads.clients.messaging import Messaging
from workloads.jobdata import parse
from workloads.stores import LeadStore, LineStore, ScheduledMessageStore, now_ms

if TYPE_CHECKING:
    from jobqueue.job import Job

__all__ = ["check_availability", "check_lines", "hand_over_due_messages", "send_message"]

STALE_CLAIM_MS = 10 * 60 * 1000
"""A message QUEUED this long ago whose job may never have been made durable is handed over again (the job id
makes that a no-op when the first hand-over did succeed)."""
AVAILABILITY_CHUNK = 100


def message_job_id(message_id: str) -> str:
    return f"scheduled-{message_id}"


@processor("scheduled-messages")
def hand_over_due_messages(job: Job) -> dict[str, int]:
    """Claim every due PENDING message (a conditional write: one tick wins each) and queue one
    message-processing job for it, with a job id derived from the message so it runs once."""
    from jobqueue.queue import Queue

    store, now = ScheduledMessageStore(), now_ms()
    claimed = [m["messageId"] for m in store.due(now) if store.claim(m["messageId"], job.id)]
    stale = [m["messageId"] for m in store.due(now - STALE_CLAIM_MS, status="QUEUED")
             if int(m.get("claimedAt", 0)) < now - STALE_CLAIM_MS]
    jobs = [{"name": "send-scheduled", "data": {"messageId": m}, "opts": {"jobId": message_job_id(m)}}
            for m in claimed + stale]
    try:
        if jobs:
            Queue("message-processing").add_bulk(jobs)
    except Exception:
        for message_id in claimed:
            store.release(message_id, job.id)
        raise
    return {"queued": len(claimed), "requeued": len(stale)}


class SendMessage(BaseModel):
    """A scheduled message by id, or an immediate one: `{lineId, to, body}`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    message_id: str | None = Field(None, alias="messageId", min_length=1, max_length=128)
    line_id: str | None = Field(None, alias="lineId", min_length=1)
    to: str | None = Field(None, min_length=3, max_length=254)
    body: str | None = Field(None, min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _one_form(self) -> SendMessage:
        if self.message_id is None and not (self.line_id and self.to and self.body):
            raise ValueError("either messageId, or lineId, to and body")
        return self


@processor("message-processing")
def send_message(job: Job) -> dict[str, Any]:
    """Send one message; a scheduled one only if not yet SENT, with its id as the provider's idempotency key."""
    request = parse(job, SendMessage)
    messaging = Messaging.from_env()
    if request.message_id is None:
        assert request.line_id and request.to and request.body
        return {"providerId": messaging.send_message(request.line_id, request.to, request.body, job.id)}
    store = ScheduledMessageStore()
    message = store.get(request.message_id)
    if message is None:
        raise UnrecoverableError(f"scheduled message {request.message_id} does not exist")
    if message.get("status") == "SENT":
        return {"messageId": request.message_id, "skipped": "already sent"}
    try:
        provider_id = messaging.send_message(message["lineId"], message["to"], message["body"], request.message_id)
    except UnrecoverableError as exc:
        # Refused for good: FAILED, so no later tick hands it over again.
        store.update(request.message_id, {"status": "FAILED", "error": str(exc)[:500]})
        raise
    store.mark_sent(request.message_id, provider_id)
    return {"messageId": request.message_id, "providerId": provider_id}


@processor("health-check")
def check_lines(job: Job) -> dict[str, int]:
    """Check every ACTIVE line and record the result on it; a line the provider cannot answer for is recorded
    unreachable (the other lines are still checked)."""
    lines, messaging = LineStore(), Messaging.from_env()
    healthy = 0
    active = lines.active()
    for number, line in enumerate(active, 1):
        try:
            health = messaging.line_health(line["lineId"])
            record: dict[str, Any] = {"status": health.status, "imessage": health.imessage,
                                      "ok": health.status == "ok"}
        except JobQueueError as exc:
            record = {"status": "unreachable", "ok": False, "error": str(exc)[:500]}
        lines.record_health(line["lineId"], record)
        healthy += bool(record["ok"])
        job.update_progress(round(100 * number / len(active)))
    return {"checked": len(active), "healthy": healthy}


class AvailabilityCheck(BaseModel):
    """Seed 002's `bulk-availability-check`: lead ids only; the leads are read fresh from the table."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    lead_ids: list[str] = Field(alias="leadIds", min_length=1, max_length=10_000)
    user_id: str | None = Field(None, alias="userId")
    workspace_id: str | None = Field(None, alias="workspaceId")


@processor("bulk-availability")
def check_availability(job: Job) -> dict[str, Any]:
    """iMessage availability of each lead's phone (else email), recorded on the lead. A lead with neither is
    reported `skipped`, an unknown id `missing`."""
    request = parse(job, AvailabilityCheck)
    leads, messaging = LeadStore(), Messaging.from_env()
    found = leads.get_many(request.lead_ids)
    handles = {lead_id: found[lead_id].get("phone") or found[lead_id].get("email")
               for lead_id in request.lead_ids if lead_id in found}
    skipped = sorted(lead_id for lead_id, handle in handles.items() if not handle)
    checkable = [(lead_id, str(handle)) for lead_id, handle in handles.items() if handle]
    available: dict[str, bool] = {}
    for start in range(0, len(checkable), AVAILABILITY_CHUNK):
        chunk = checkable[start:start + AVAILABILITY_CHUNK]
        answers = messaging.availability(sorted({handle for _, handle in chunk}))
        for lead_id, handle in chunk:
            available[lead_id] = answers[handle]
            leads.update(lead_id, {"availability": {"imessage": answers[handle], "handle": handle,
                                                    "checkedAt": now_ms()}})
        job.update_progress(round(100 * (start + len(chunk)) / len(checkable)))
    for lead_id in skipped:
        leads.update(lead_id, {"availability": {"status": "NO_HANDLE", "checkedAt": now_ms()}})
    return {"checked": len(available), "available": available, "skipped": skipped,
            "missing": sorted(set(request.lead_ids) - set(found))}
