"""The `on_dead` hooks of seeds 000 and 001: a dead lead job finishes its lead in the leads table.

Kept apart from `workloads.processors.leads` so that a dead-letter function neither imports the processors'
clients nor registers processors as a side effect of loading its hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from workloads.stores import LeadStatus, LeadStore

if TYPE_CHECKING:
    from jobqueue.job import DeadLetter

__all__ = ["mark_enrichment_failed", "mark_permanently_failed"]

logger = Logger(service="workloads")


def _failure(letter: DeadLetter, lead_id: str) -> dict[str, Any]:
    """Seed 000's DLQ record: {originalJobId, leadId, error, attemptsMade, failedAt}."""
    return {"originalJobId": letter.originalJobId, "leadId": lead_id, "error": letter.error,
            "attemptsMade": letter.attemptsMade, "failedAt": letter.failedAt}


def _mark(letter: DeadLetter, status: LeadStatus, key: str) -> None:
    data = letter.data if isinstance(letter.data, dict) else {}
    lead_id = data.get(key) or data.get("id")
    if lead_id is None:
        logger.warning("dead lead job without a lead id", extra={"jobId": letter.originalJobId})
        return
    if not LeadStore().set_status(str(lead_id), status, failure=_failure(letter, str(lead_id))):
        logger.warning("dead job's lead is not in the leads table", extra={"jobId": letter.originalJobId})


def mark_permanently_failed(letter: DeadLetter) -> None:
    """lead-processing's `on_dead`: the lead is PERMANENTLY_FAILED, with the DLQ record as `failure`."""
    _mark(letter, "PERMANENTLY_FAILED", "leadId")


def mark_enrichment_failed(letter: DeadLetter) -> None:
    """lead-enrichment's `on_dead`: transient failures outlasted every attempt, so the lead is FAILED_FINAL."""
    _mark(letter, "FAILED_FINAL", "contactId")
