"""Seed 002's integration sync: page through a HubSpot / Salesforce / Google Sheets style source, upsert its
contacts as leads, and report progress; the run record keeps the cursor, so a retry resumes where it stopped."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from jobqueue.errors import UnrecoverableError
from jobqueue.registry import processor
from workloads.clients.integrations import Source, source_client
from workloads.jobdata import parse
from workloads.stores import LeadStore, SyncRunStore

if TYPE_CHECKING:
    from jobqueue.job import Job

__all__ = ["sync_integration"]


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    integration_id: str = Field(alias="integrationId", min_length=1, max_length=128)
    source: Source
    spreadsheet_id: str | None = Field(None, alias="spreadsheetId")


@processor("integration-sync")
def sync_integration(job: Job) -> dict[str, Any]:
    request = parse(job, SyncRequest)
    runs, leads = SyncRunStore(), LeadStore()
    run = runs.start(job.id, request.integration_id, request.source)
    pages, records = int(run.get("pages", 0)), int(run.get("records", 0))
    settings = request.model_dump(by_alias=True)
    try:
        for page in source_client(request.source).pages(run.get("cursor"), settings):
            for record in page.records:
                leads.upsert_contact(f"{request.source}-{record['externalId']}",
                                     {**record, "source": request.source, "integrationId": request.integration_id})
            pages, records = pages + 1, records + len(page.records)
            runs.page_done(job.id, page.next_cursor, pages, records)
            job.update_progress({"pages": pages, "records": records, "done": page.next_cursor is None})
    except UnrecoverableError as exc:
        runs.finish(job.id, "FAILED", error=str(exc))
        raise
    runs.finish(job.id, "SUCCEEDED")
    return {"runId": job.id, "pages": pages, "records": records}
