"""The seed systems' DynamoDB tables, defined once: the CDK construct (`infra.records`) and the local runtime
(`create_tables`) both build them from `TABLES`, and `ACCESS` says which queue's processors touch which table.

>>> TABLES["leads"].partition_key
'leadId'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ACCESS", "TABLES", "Index", "TableSpec", "create_tables", "table_name"]


@dataclass(frozen=True)
class Index:
    """A global secondary index (all attributes projected); keys are strings unless numeric_sort."""

    name: str
    partition_key: str
    sort_key: str
    numeric_sort: bool = False


@dataclass(frozen=True)
class TableSpec:
    """One table: its base name, the environment variable that names it at run time, keys, indexes and TTL."""

    key: str
    base_name: str
    env: str
    partition_key: str
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None

    def attribute_types(self) -> dict[str, Literal["S", "N"]]:
        """Every key attribute of the table and its indexes, with its DynamoDB type."""
        types: dict[str, Literal["S", "N"]] = {self.partition_key: "S"}
        for index in self.indexes:
            types[index.partition_key] = "S"
            types[index.sort_key] = "N" if index.numeric_sort else "S"
        return types


TABLES: dict[str, TableSpec] = {
    spec.key: spec
    for spec in (
        # Seeds 000/001/002: a lead, its status (PROCESSING..PERMANENTLY_FAILED), enrichment, availability, failure.
        TableSpec("leads", "leads", "LEADS_TABLE", "leadId",
                  (Index("by-status", "status", "updatedAt", numeric_sort=True),)),
        # Seed 002: messages to send at `dueAt`; the index holds PENDING (and QUEUED) ones by due time.
        TableSpec("scheduled_messages", "scheduled-messages", "SCHEDULED_MESSAGES_TABLE", "messageId",
                  (Index("by-status-due", "status", "dueAt", numeric_sort=True),), ttl_attribute="expiresAt"),
        # Seed 002: messaging lines and the last health check of each.
        TableSpec("lines", "lines", "LINES_TABLE", "lineId", (Index("by-status", "status", "lineId"),)),
        # Seed 002: one record per integration sync run, with its cursor and counts.
        TableSpec("sync_runs", "sync-runs", "SYNC_RUNS_TABLE", "runId",
                  (Index("by-integration", "integrationId", "startedAt", numeric_sort=True),),
                  ttl_attribute="expiresAt"),
    )
}

Access = Literal["read", "write"]
ACCESS: dict[str, dict[str, Access]] = {
    "lead-processing": {"leads": "write"},
    "lead-processing-dlq": {"leads": "write"},  # the dead-letter function runs the on_dead hook
    "lead-enrichment": {"leads": "write"},
    "lead-enrichment-dlq": {"leads": "write"},
    "scheduled-messages": {"scheduled_messages": "write"},
    "message-processing": {"scheduled_messages": "write", "lines": "read"},
    "health-check": {"lines": "write"},
    "bulk-availability": {"leads": "write"},
    "integration-sync": {"sync_runs": "write", "leads": "write"},
}
"""Function (work queue or dead-letter queue) -> table -> access. "write" includes reading; the API function also
needs the bulk-availability grant, since it answers checks of 10 leads or fewer itself."""


def table_name(key: str, prefix: str | None = None) -> str:
    """The table's name at run time: its environment variable, else `prefix` (JOBQUEUE_TABLE_PREFIX) + base name."""
    spec = TABLES[key]
    named = os.environ.get(spec.env)
    if named:
        return named
    return f"{os.environ.get('JOBQUEUE_TABLE_PREFIX', 'jobqueue-') if prefix is None else prefix}{spec.base_name}"


def create_tables(dynamodb: Any, prefix: str) -> dict[str, str]:
    """Create every table (on-demand, TTL on) on an endpoint such as moto or LocalStack; returns env var -> name.

    Tables that exist are left as they are, so running it again is harmless.
    """
    names: dict[str, str] = {}
    for spec in TABLES.values():
        name = f"{prefix}{spec.base_name}"
        names[spec.env] = name
        request: dict[str, Any] = {
            "TableName": name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": t}
                                     for a, t in spec.attribute_types().items()],
            "KeySchema": [{"AttributeName": spec.partition_key, "KeyType": "HASH"}],
        }
        if spec.indexes:
            request["GlobalSecondaryIndexes"] = [
                {"IndexName": i.name, "Projection": {"ProjectionType": "ALL"},
                 "KeySchema": [{"AttributeName": i.partition_key, "KeyType": "HASH"},
                               {"AttributeName": i.sort_key, "KeyType": "RANGE"}]}
                for i in spec.indexes
            ]
        try:
            dynamodb.create_table(**request)
        except dynamodb.exceptions.ResourceInUseException:
            continue
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        if spec.ttl_attribute:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": spec.ttl_attribute})
    return names
