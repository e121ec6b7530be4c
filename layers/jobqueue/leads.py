"""Lead statuses of seeds 000/001 (PROCESSING, SUCCEEDED, FAILED_FINAL, PERMANENTLY_FAILED).

An interim store on a Redis hash, one field per lead; the lead-processing queue's `on_dead` hook writes
PERMANENTLY_FAILED with the dead job's failure metadata.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools import Logger

from jobqueue.connection import redis_client
from jobqueue.keys import app_key
from jobqueue.settings import get_settings

if TYPE_CHECKING:
    from redis import Redis

    from jobqueue.job import DeadLetter

__all__ = ["LeadStatus", "LeadStatusStore", "mark_permanently_failed"]

logger = Logger(service="jobqueue")

LeadStatus = Literal["PROCESSING", "SUCCEEDED", "FAILED_FINAL", "PERMANENTLY_FAILED"]


class LeadStatusStore:
    """Lead id -> `{status, ...details}`."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.key = app_key(prefix, "lead-status")

    @classmethod
    def from_settings(cls) -> LeadStatusStore:
        settings = get_settings()
        return cls(redis_client(settings.redis_url), settings.prefix)

    def set(self, lead_id: str, status: LeadStatus, **details: Any) -> None:
        self.redis.hset(self.key, lead_id, json.dumps({"status": status, **details}))

    def get(self, lead_id: str) -> dict[str, Any] | None:
        raw = self.redis.hget(self.key, lead_id)
        return json.loads(raw) if raw else None


def mark_permanently_failed(letter: DeadLetter) -> None:
    """Seed 000's DLQ processor: the lead of a dead lead-processing job is PERMANENTLY_FAILED."""
    lead_id = letter.data.get("leadId") if isinstance(letter.data, dict) else None
    if lead_id is None:
        # Retrying cannot add a lead id; the dead-letter record and the archive still hold the job.
        logger.warning("dead lead job without leadId", extra={"jobId": letter.originalJobId})
        return
    LeadStatusStore.from_settings().set(
        str(lead_id), "PERMANENTLY_FAILED", error=letter.error, attemptsMade=letter.attemptsMade,
        failedAt=letter.failedAt, originalJobId=letter.originalJobId,
    )
