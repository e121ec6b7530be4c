"""Stand-ins for the seed systems' HTTP APIs, each answering the calls the clients make the way the real
service does (paths, auth headers, paging, status codes), with in-memory state tests can read and seed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

from standins.server import Reply, Request, StandIn

__all__ = [
    "KEYS", "app_api", "crm", "gohighlevel", "integrations", "messaging", "realestate", "search_engine",
    "webhook_receiver",
]

KEYS = {"GHL": "standin-ghl-key", "REALESTATE": "standin-realestate-key", "CRM": "standin-crm-key",
        "MESSAGING": "standin-messaging-key", "HUBSPOT": "standin-hubspot-key",
        "SALESFORCE": "standin-salesforce-key", "SHEETS": "standin-sheets-key", "SEARCH": "admin:standin-search",
        "APP": "standin-app-key", "WEBHOOK_SIGNING_SECRET": "standin-webhook-secret"}
"""Local credentials the stand-ins accept (not secrets: nothing real is behind them)."""

_UNAUTHORIZED = Reply(401, {"message": "invalid credentials"})


def _bearer(request: Request, key: str) -> bool:
    return request.headers.get("authorization") == f"Bearer {key}"


def _number(text: str, modulo: int) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % modulo


def gohighlevel() -> StandIn:
    """`GET /contacts/{id}` -> `{contact}`; `PUT /contacts/{id}` merges customFields and tags.
    State: `service.state["contacts"]` (id -> contact)."""
    service = StandIn("gohighlevel")
    contacts: dict[str, dict[str, Any]] = {
        "demo-contact": {"id": "demo-contact", "firstName": "Ada", "email": "ada@example.com",
                         "address1": "12 Analytical Way", "city": "Austin", "state": "TX", "postalCode": "73301"},
        "demo-no-address": {"id": "demo-no-address", "firstName": "Bob", "email": "bob@example.com"},
        "demo-contact-2": {"id": "demo-contact-2", "firstName": "Grace", "email": "grace@example.com",
                           "address1": "7 Compiler Court", "city": "Arlington", "state": "VA", "postalCode": "22201"},
    }
    service.state["contacts"] = contacts

    def authorized(request: Request) -> bool:
        return _bearer(request, KEYS["GHL"]) and request.headers.get("version") == "2021-07-28"

    def get(request: Request) -> Reply:
        if not authorized(request):
            return _UNAUTHORIZED
        contact = contacts.get(request.params["id"])
        return Reply(200, {"contact": contact}) if contact else Reply(404, {"message": "Contact not found"})

    def put(request: Request) -> Reply:
        if not authorized(request):
            return _UNAUTHORIZED
        contact = contacts.get(request.params["id"])
        if contact is None:
            return Reply(404, {"message": "Contact not found"})
        body = request.json()
        for field in body.get("customFields", []):
            contact.setdefault("customFields", {})[field["key"]] = field["field_value"]
        contact["tags"] = sorted(set(contact.get("tags", [])) | set(body.get("tags", [])))
        return Reply(200, {"succeded": True, "contact": contact})

    service.route("GET", "/contacts/{id}", get)
    service.route("PUT", "/contacts/{id}", put)
    return service


def realestate() -> StandIn:
    """`POST /v2/PropertyDetail {address}`: a property (derived from the address) for a street address with a
    house number, 404 for one containing "nowhere", 400 for anything else."""
    service = StandIn("realestate")

    def detail(request: Request) -> Reply:
        if request.headers.get("x-api-key") != KEYS["REALESTATE"]:
            return _UNAUTHORIZED
        address = str((request.json() or {}).get("address", ""))
        if not re.match(r"^\s*\d+", address):
            return Reply(400, {"statusCode": 400, "message": "address must start with a house number"})
        if "nowhere" in address.lower():
            return Reply(404, {"statusCode": 404, "message": "No property found", "data": None})
        n = _number(address, 1000)
        return Reply(200, {"statusCode": 200, "data": {
            "id": f"prop-{n}", "estimatedValue": 200_000 + 1000 * n, "bedrooms": 1 + n % 5,
            "bathrooms": 1 + (n % 4) / 2, "squareFeet": 800 + n * 3, "yearBuilt": 1950 + n % 70,
            "ownerOccupied": n % 2 == 0}})

    service.route("POST", "/v2/PropertyDetail", detail)
    return service


def crm() -> StandIn:
    """`PUT /leads/{id}` upserts a lead and answers its record id. State: `state["leads"]`."""
    service = StandIn("crm")
    leads: dict[str, dict[str, Any]] = {}
    service.state["leads"] = leads

    def upsert(request: Request) -> Reply:
        if not _bearer(request, KEYS["CRM"]):
            return _UNAUTHORIZED
        leads[request.params["id"]] = request.json()
        return Reply(200, {"id": f"crm-{request.params['id']}", "success": True})

    service.route("PUT", "/leads/{id}", upsert)
    return service


def messaging() -> StandIn:
    """`POST /messages` (deduplicated by Idempotency-Key), `GET /lines/{id}/health`, `POST /availability`
    (emails have iMessage; phones whose last digit is even). State: `sent`, `lines`."""
    service = StandIn("messaging")
    sent: dict[str, dict[str, Any]] = {}
    lines: dict[str, dict[str, Any]] = {"line-1": {"status": "ok", "imessage": True}}
    service.state.update(sent=sent, lines=lines)

    def send(request: Request) -> Reply:
        if not _bearer(request, KEYS["MESSAGING"]):
            return _UNAUTHORIZED
        key = request.headers.get("idempotency-key")
        if not key:
            return Reply(400, {"error": "Idempotency-Key header required"})
        body = request.json()
        if not all(isinstance(body.get(f), str) and body[f] for f in ("lineId", "to", "body")):
            return Reply(400, {"error": "lineId, to and body are required"})
        with service.lock:
            first = sent.setdefault(key, {**body, "id": f"msg-{len(sent) + 1}"})
        return Reply(200, {"id": first["id"], "status": "sent"})

    def health(request: Request) -> Reply:
        if not _bearer(request, KEYS["MESSAGING"]):
            return _UNAUTHORIZED
        line = lines.get(request.params["id"])
        return Reply(200, line) if line else Reply(404, {"error": "unknown line"})

    def availability(request: Request) -> Reply:
        if not _bearer(request, KEYS["MESSAGING"]):
            return _UNAUTHORIZED
        handles = request.json()["handles"]
        return Reply(200, {"results": {h: "@" in h or (h[-1:].isdigit() and int(h[-1]) % 2 == 0)
                                       for h in handles}})

    service.route("POST", "/messages", send)
    service.route("GET", "/lines/{id}/health", health)
    service.route("POST", "/availability", availability)
    return service


def _people(prefix: str, count: int) -> list[dict[str, str]]:
    return [{"id": f"{prefix}{i}", "email": f"{prefix}{i}@example.com", "phone": f"+1555000{i:04d}",
             "first": f"First{i}", "last": f"Last{i}"} for i in range(1, count + 1)]


def integrations(records: int = 250) -> StandIn:
    """HubSpot (`after` paging), Salesforce (`nextRecordsUrl`) and Google Sheets (row ranges), each with
    `records` generated contacts (`state["records"]` to change them)."""
    service = StandIn("integrations")
    service.state["records"] = {"hubspot": _people("hs", records), "salesforce": _people("sf", records),
                                "google-sheets": _people("gs", records)}

    def data(source: str) -> list[dict[str, str]]:
        people: list[dict[str, str]] = service.state["records"][source]
        return people

    def hubspot(request: Request) -> Reply:
        if not _bearer(request, KEYS["HUBSPOT"]):
            return _UNAUTHORIZED
        start, limit = int(request.query.get("after", 0)), min(int(request.query.get("limit", 10)), 100)
        page = data("hubspot")[start:start + limit]
        body: dict[str, Any] = {"results": [{"id": p["id"], "properties": {
            "email": p["email"], "phone": p["phone"], "firstname": p["first"], "lastname": p["last"]}} for p in page]}
        if start + limit < len(data("hubspot")):
            body["paging"] = {"next": {"after": str(start + limit)}}
        return Reply(200, body)

    def salesforce(request: Request) -> Reply:
        if not _bearer(request, KEYS["SALESFORCE"]):
            return _UNAUTHORIZED
        token = request.params.get("token", "next-0")
        if "token" not in request.params and not request.query.get("q", "").upper().startswith("SELECT"):
            return Reply(400, [{"errorCode": "MALFORMED_QUERY", "message": "q is required"}])
        start, size = int(token.removeprefix("next-")), 100
        people = data("salesforce")
        page = people[start:start + size]
        done = start + size >= len(people)
        body: dict[str, Any] = {"totalSize": len(people), "done": done, "records": [
            {"Id": p["id"], "Email": p["email"], "Phone": p["phone"], "FirstName": p["first"],
             "LastName": p["last"]} for p in page]}
        if not done:
            body["nextRecordsUrl"] = f"/services/data/v59.0/query/next-{start + size}"
        return Reply(200, body)

    def sheets(request: Request) -> Reply:
        if not _bearer(request, KEYS["SHEETS"]):
            return _UNAUTHORIZED
        match = re.fullmatch(r"A(\d+):E(\d+)", request.params["range"])
        if not match:
            return Reply(400, {"error": {"code": 400, "message": "Unable to parse range"}})
        first, last = int(match[1]), int(match[2])
        rows = [["Id", "Email", "Phone", "First name", "Last name"]] + [
            [p["id"], p["email"], p["phone"], p["first"], p["last"]] for p in data("google-sheets")]
        values = rows[first - 1:last]
        body: dict[str, Any] = {"range": request.params["range"], "majorDimension": "ROWS"}
        if values:
            body["values"] = values
        return Reply(200, body)

    service.route("GET", "/crm/v3/objects/contacts", hubspot)
    service.route("GET", "/services/data/v59.0/query", salesforce)
    service.route("GET", "/services/data/v59.0/query/{token}", salesforce)
    service.route("GET", "/v4/spreadsheets/{sheet}/values/{range}", sheets)
    return service


def search_engine() -> StandIn:
    """ZincSearch's `POST /api/_bulk` (NDJSON, basic auth) and `GET /api/{index}/_doc/{id}`.
    State: `state["indexes"]` (index -> id -> document)."""
    service = StandIn("search")
    indexes: dict[str, dict[str, Any]] = {}
    service.state["indexes"] = indexes
    expected = "Basic " + base64.b64encode(KEYS["SEARCH"].encode()).decode()

    def bulk(request: Request) -> Reply:
        if request.headers.get("authorization") != expected:
            return _UNAUTHORIZED
        lines = [json.loads(line) for line in request.body.decode().splitlines() if line.strip()]
        for action, doc in zip(lines[::2], lines[1::2], strict=True):
            target = action["index"]
            with service.lock:
                indexes.setdefault(target["_index"], {})[str(target["_id"])] = doc
        return Reply(200, {"message": "bulk data inserted", "record_count": len(lines) // 2})

    def get(request: Request) -> Reply:
        if request.headers.get("authorization") != expected:
            return _UNAUTHORIZED
        doc = indexes.get(request.params["index"], {}).get(request.params["id"])
        return Reply(200, {"_id": request.params["id"], "_source": doc}) if doc else Reply(404, {"error": "not found"})

    service.route("POST", "/api/_bulk", bulk)
    service.route("GET", "/api/{index}/_doc/{id}", get)
    return service


def app_api(count: int = 120) -> StandIn:
    """The app's export API for search backfills: `GET /entities/{entity}?cursor=&limit=`; every entity has
    `count` generated items (`state["entities"]` to change them)."""
    service = StandIn("app")
    service.state["entities"] = {}

    def items(entity: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = service.state["entities"].setdefault(
            entity, [{"id": f"{entity}-{i}", "title": f"{entity} number {i}"} for i in range(1, count + 1)])
        return found

    def export(request: Request) -> Reply:
        if not _bearer(request, KEYS["APP"]):
            return _UNAUTHORIZED
        start, limit = int(request.query.get("cursor", 0)), int(request.query.get("limit", 100))
        everything = items(request.params["entity"])
        more = start + limit < len(everything)
        return Reply(200, {"items": everything[start:start + limit], "next": str(start + limit) if more else None})

    service.route("GET", "/entities/{entity}", export)
    return service


def webhook_receiver() -> StandIn:
    """A subscriber's endpoint: `POST /hooks/{name}` checks the HMAC-SHA256 signature (401 if wrong) and keeps
    each delivery once per X-Webhook-Id. State: `state["deliveries"]`."""
    service = StandIn("webhook-receiver")
    deliveries: dict[str, dict[str, Any]] = {}
    service.state["deliveries"] = deliveries

    def receive(request: Request) -> Reply:
        timestamp = request.headers.get("x-webhook-timestamp", "")
        digest = hmac.new(KEYS["WEBHOOK_SIGNING_SECRET"].encode(), timestamp.encode() + b"." + request.body,
                          hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("x-webhook-signature", ""), f"sha256={digest}"):
            return Reply(401, {"error": "bad signature"})
        with service.lock:
            deliveries.setdefault(request.headers.get("x-webhook-id", ""), request.json())
        return Reply(204)

    service.route("POST", "/hooks/{name}", receive)
    return service
