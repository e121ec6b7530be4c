"""The integration sources of seed 002, each paged its own way: HubSpot (`after` cursor), Salesforce
(`nextRecordsUrl`), Google Sheets (row ranges). Every source yields pages of contacts in one shape."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from workloads.config import service_config
from workloads.errors import RejectedError, TransientServiceError
from workloads.http import JsonService

__all__ = ["SOURCES", "Page", "Source", "source_client"]

Source = Literal["hubspot", "salesforce", "google-sheets"]
SOURCES: tuple[Source, ...] = ("hubspot", "salesforce", "google-sheets")
PAGE_SIZE = 100
_SHEET_COLUMNS = {"id": "externalId", "email": "email", "phone": "phone",
                  "first name": "firstName", "last name": "lastName"}


@dataclass(frozen=True)
class Page:
    """One page of contacts, and the cursor that fetches the next one (None: this was the last)."""

    records: list[dict[str, Any]]
    next_cursor: str | None


def _contact(external_id: Any, email: Any, phone: Any, first: Any, last: Any) -> dict[str, Any]:
    return {"externalId": str(external_id), "email": email or None, "phone": phone or None,
            "firstName": first or None, "lastName": last or None}


def _expect(body: Any, key: str, kind: type, source: str) -> Any:
    value = body.get(key) if isinstance(body, dict) else None
    if not isinstance(value, kind):
        raise TransientServiceError(f"{source}: answer without {key!r}")
    return value


class _HubSpot:
    def __init__(self, api: JsonService) -> None:
        self.api = api

    def page(self, cursor: str | None, settings: dict[str, Any]) -> Page:
        body = self.api.call("GET", "/crm/v3/objects/contacts", params={"limit": PAGE_SIZE, "after": cursor}).json()
        results = _expect(body, "results", list, "hubspot")
        records = [_contact(r.get("id"), *(r.get("properties", {}).get(k)
                                           for k in ("email", "phone", "firstname", "lastname"))) for r in results]
        after = ((body.get("paging") or {}).get("next") or {}).get("after")
        return Page(records, str(after) if after else None)


class _Salesforce:
    def __init__(self, api: JsonService) -> None:
        self.api = api

    def page(self, cursor: str | None, settings: dict[str, Any]) -> Page:
        if cursor:
            answer = self.api.call("GET", cursor)
        else:
            query = "SELECT Id, Email, Phone, FirstName, LastName FROM Lead"
            answer = self.api.call("GET", "/services/data/v59.0/query", params={"q": query})
        body = answer.json()
        results = _expect(body, "records", list, "salesforce")
        records = [_contact(r.get("Id"), r.get("Email"), r.get("Phone"), r.get("FirstName"), r.get("LastName"))
                   for r in results]
        return Page(records, None if body.get("done", True) else body.get("nextRecordsUrl"))


class _Sheets:
    def __init__(self, api: JsonService) -> None:
        self.api = api

    def page(self, cursor: str | None, settings: dict[str, Any]) -> Page:
        sheet = settings.get("spreadsheetId")
        if not isinstance(sheet, str) or not sheet:
            raise RejectedError("google-sheets: job data needs a spreadsheetId")
        header_rows = self._rows(sheet, 1, 1)
        if not header_rows:
            return Page([], None)
        header = [str(h).strip().lower() for h in header_rows[0]]
        start = int(cursor) if cursor else 2
        rows = self._rows(sheet, start, start + PAGE_SIZE - 1)
        records = []
        for number, row in enumerate(rows, start):
            named = {_SHEET_COLUMNS[h]: v for h, v in zip(header, row, strict=False) if h in _SHEET_COLUMNS}
            records.append(_contact(named.get("externalId") or f"row-{number}", named.get("email"),
                                    named.get("phone"), named.get("firstName"), named.get("lastName")))
        return Page(records, str(start + PAGE_SIZE) if len(rows) == PAGE_SIZE else None)

    def _rows(self, sheet: str, first: int, last: int) -> list[list[Any]]:
        """Sheets leaves `values` out of an empty range."""
        body = self.api.call("GET", f"/v4/spreadsheets/{sheet}/values/A{first}:E{last}").json() or {}
        return [] if "values" not in body else list(_expect(body, "values", list, "google-sheets"))


_Paged = _HubSpot | _Salesforce | _Sheets
_CLIENTS: dict[str, tuple[str, type[_Paged]]] = {
    "hubspot": ("HUBSPOT", _HubSpot), "salesforce": ("SALESFORCE", _Salesforce), "google-sheets": ("SHEETS", _Sheets),
}


class SourceClient:
    """Pages through one source from a cursor (None: the start), so a retried sync resumes where it stopped."""

    def __init__(self, impl: _Paged) -> None:
        self.impl = impl

    def pages(self, cursor: str | None, settings: dict[str, Any]) -> Iterator[Page]:
        while True:
            page = self.impl.page(cursor, settings)
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor


def source_client(source: Source) -> SourceClient:
    """`HUBSPOT_API_URL`/`_API_KEY`, `SALESFORCE_API_URL`/`_API_KEY`, `SHEETS_API_URL`/`_API_KEY` (bearer)."""
    prefix, impl = _CLIENTS[source]
    config = service_config(prefix)
    return SourceClient(impl(JsonService(config, {"Authorization": f"Bearer {config.api_key or ''}"})))
