"""Typed access to the seed systems' records in DynamoDB (tables from `workloads.records`).

Every write that must happen once is conditional: a scheduled message is claimed by exactly one tick, and a
lead that reached a final status is not set back to PROCESSING by a late duplicate delivery.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any, Literal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from jobqueue.connection import aws_client
from workloads.records import TABLES, table_name

__all__ = ["LeadStatus", "LeadStore", "LineStore", "ScheduledMessageStore", "SyncRunStore", "now_ms"]

LeadStatus = Literal["PROCESSING", "SUCCEEDED", "FAILED_FINAL", "PERMANENTLY_FAILED"]
_serializer, _deserializer = TypeSerializer(), TypeDeserializer()
_DAY_S = 24 * 3600


def now_ms() -> int:
    return int(time.time() * 1000)


def _dynamo_value(value: Any) -> dict[str, Any]:
    """DynamoDB takes no floats: numbers travel as Decimal."""
    serialized: dict[str, Any] = _serializer.serialize(json.loads(json.dumps(value, default=str), parse_float=Decimal))
    return serialized


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


class _Table:
    def __init__(self, key: str, client: Any = None, name: str | None = None) -> None:
        self.spec = TABLES[key]
        self.client = client or aws_client("dynamodb")
        self.name = name or table_name(key)

    def _key(self, value: str) -> dict[str, Any]:
        return {self.spec.partition_key: {"S": value}}

    def get(self, key: str) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.name, Key=self._key(key), ConsistentRead=True).get("Item")
        return _item(item) if item else None

    def put(self, record: dict[str, Any]) -> None:
        self.client.put_item(TableName=self.name, Item={k: _dynamo_value(v) for k, v in record.items()})

    def update(self, key: str, fields: dict[str, Any], condition: str | None = None,
               values: dict[str, Any] | None = None, *, must_exist: bool = True) -> bool:
        """SET every field of an existing record (or, unless `must_exist`, a new one); False when the
        condition did not hold (nothing written)."""
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        attribute_values = {f":v{i}": _dynamo_value(v) for i, v in enumerate(fields.values())}
        attribute_values.update({k: _dynamo_value(v) for k, v in (values or {}).items()})
        request: dict[str, Any] = {
            "TableName": self.name, "Key": self._key(key),
            "UpdateExpression": "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": attribute_values,
        }
        conditions = [f"({condition})"] if condition else []
        if must_exist:
            conditions.insert(0, "attribute_exists(#pk)")
            names["#pk"] = self.spec.partition_key
        if conditions:
            request["ConditionExpression"] = " AND ".join(conditions)
        try:
            self.client.update_item(**request)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def query_index(self, index: str, partition: str, sort_below: int | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
        spec = next(i for i in self.spec.indexes if i.name == index)
        condition, values = "#p = :p", {":p": {"S": partition}}
        names = {"#p": spec.partition_key}
        if sort_below is not None:
            condition += " AND #s <= :s"
            names["#s"], values[":s"] = spec.sort_key, {"N": str(sort_below)}
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": self.name, "IndexName": index, "KeyConditionExpression": condition,
                                   "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}
        while len(items) < limit:
            page = self.client.query(**request, Limit=limit - len(items))
            items += [_item(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return items

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """BatchGetItem, 100 keys a call, unprocessed keys asked again."""
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 100):
            pending: dict[str, Any] = {self.name: {"Keys": [self._key(k) for k in unique[start:start + 100]],
                                                   "ConsistentRead": True}}
            while pending:
                answer = self.client.batch_get_item(RequestItems=pending)
                for item in answer.get("Responses", {}).get(self.name, []):
                    record = _item(item)
                    found[record[self.spec.partition_key]] = record
                pending = answer.get("UnprocessedKeys") or {}
        return found


def _item(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in raw.items()}


class LeadStore(_Table):
    """Leads by id: contact data, `status`, `enrichment`, `availability`, `failure` (seed 000's DLQ fields)."""

    def __init__(self, client: Any = None, name: str | None = None) -> None:
        super().__init__("leads", client, name)

    def ensure(self, lead_id: str, fields: dict[str, Any]) -> None:
        """Create the lead if it does not exist (a webhook's contact), else leave it as it is."""
        item = {k: _dynamo_value(v) for k, v in {**fields, "leadId": lead_id, "createdAt": now_ms(),
                                                  "updatedAt": now_ms()}.items()}
        try:
            self.client.put_item(TableName=self.name, Item=item, ConditionExpression="attribute_not_exists(leadId)")
        except self.client.exceptions.ConditionalCheckFailedException:
            return

    def set_status(self, lead_id: str, status: LeadStatus, **fields: Any) -> bool:
        """PROCESSING never overwrites SUCCEEDED (a late duplicate delivery); final statuses always win."""
        condition, values = None, None
        if status == "PROCESSING":
            condition, values = "NOT (#f0 IN (:s1, :s2))", {":s1": "SUCCEEDED", ":s2": "PERMANENTLY_FAILED"}
        return self.update(lead_id, {"status": status, **fields, "updatedAt": now_ms()}, condition, values)

    def upsert_contact(self, lead_id: str, fields: dict[str, Any]) -> None:
        """Write contact fields (an integration's record), keeping status and enrichment."""
        self.update(lead_id, {**fields, "updatedAt": now_ms()}, must_exist=False)

    def by_status(self, status: LeadStatus, limit: int = 100) -> list[dict[str, Any]]:
        return self.query_index("by-status", status, limit=limit)


class ScheduledMessageStore(_Table):
    """Messages due at `dueAt` (ms): PENDING -> QUEUED (claimed by one tick) -> SENT, or FAILED if refused."""

    def __init__(self, client: Any = None, name: str | None = None) -> None:
        super().__init__("scheduled_messages", client, name)

    def schedule(self, message_id: str, *, line_id: str, to: str, body: str, due_at: int, keep_days: int = 30) -> None:
        self.put({"messageId": message_id, "lineId": line_id, "to": to, "body": body, "dueAt": due_at,
                  "status": "PENDING", "expiresAt": due_at // 1000 + keep_days * _DAY_S})

    def due(self, now: int, status: str = "PENDING", limit: int = 100) -> list[dict[str, Any]]:
        return self.query_index("by-status-due", status, sort_below=now, limit=limit)

    def claim(self, message_id: str, tick: str) -> bool:
        """PENDING -> QUEUED for exactly one caller, however many ticks overlap."""
        return self.update(message_id, {"status": "QUEUED", "claimedBy": tick, "claimedAt": now_ms()},
                           "#f0 = :pending", {":pending": "PENDING"})

    def release(self, message_id: str, tick: str) -> bool:
        """Undo this tick's claim (its hand-over failed), so the next tick takes the message again."""
        return self.update(message_id, {"status": "PENDING"}, "#f0 = :queued AND claimedBy = :tick",
                           {":queued": "QUEUED", ":tick": tick})

    def mark_sent(self, message_id: str, provider_id: str) -> bool:
        return self.update(message_id, {"status": "SENT", "providerId": provider_id, "sentAt": now_ms()},
                           "#f0 <> :sent", {":sent": "SENT"})


class LineStore(_Table):
    """Messaging lines (`status` ACTIVE or INACTIVE) and the last health check of each."""

    def __init__(self, client: Any = None, name: str | None = None) -> None:
        super().__init__("lines", client, name)

    def active(self, limit: int = 1000) -> list[dict[str, Any]]:
        return self.query_index("by-status", "ACTIVE", limit=limit)

    def record_health(self, line_id: str, health: dict[str, Any]) -> None:
        self.update(line_id, {"health": {**health, "checkedAt": now_ms()}})


class SyncRunStore(_Table):
    """Integration sync runs: RUNNING (with the cursor of the last page done) -> SUCCEEDED or FAILED."""

    def __init__(self, client: Any = None, name: str | None = None) -> None:
        super().__init__("sync_runs", client, name)

    def start(self, run_id: str, integration_id: str, source: str, keep_days: int = 90) -> dict[str, Any]:
        """The run, created on its first attempt; a retry gets the existing record (and its cursor) back."""
        record = {"runId": run_id, "integrationId": integration_id, "source": source, "status": "RUNNING",
                  "startedAt": now_ms(), "pages": 0, "records": 0, "expiresAt": int(time.time()) + keep_days * _DAY_S}
        try:
            self.client.put_item(TableName=self.name, Item={k: _dynamo_value(v) for k, v in record.items()},
                                 ConditionExpression="attribute_not_exists(runId)")
        except self.client.exceptions.ConditionalCheckFailedException:
            existing = self.get(run_id)
            assert existing is not None
            return existing
        return record

    def page_done(self, run_id: str, cursor: str | None, pages: int, records: int) -> None:
        self.update(run_id, {"cursor": cursor, "pages": pages, "records": records, "updatedAt": now_ms()})

    def finish(self, run_id: str, status: Literal["SUCCEEDED", "FAILED"], **fields: Any) -> None:
        self.update(run_id, {"status": status, "finishedAt": now_ms(), **fields})
