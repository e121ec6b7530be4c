"""The seed systems' part of `jobqueue dev`: the stand-ins for their third-party services, their DynamoDB
tables and the domain-event bus on the local AWS endpoint, and the environment that points the functions there.

    seeds = SeedSystems.start(catalog, sqs, queue_urls, sqs_name_prefix)   # -> seeds.environment
    ...
    seeds.stop()    # stops the stand-ins it started (tables and bus stay with the endpoint)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import standins
from jobqueue.connection import aws_client
from workloads.events import create_bus
from workloads.processors import ALL
from workloads.records import create_tables

if TYPE_CHECKING:
    from jobqueue.catalog import Catalog

__all__ = ["DEFAULT_PROCESSORS", "DEFAULT_TABLE_PREFIX", "SeedSystems", "allow_outbound"]

DEFAULT_PROCESSORS = ",".join([*ALL, "examples.processors"])
"""Unless the configuration names processors (JOBQUEUE_PROCESSORS or the catalog's `processors`): every seed
processor, and the example for 003's generic queues."""

DEFAULT_TABLE_PREFIX = "jobqueue-"
"""Table names locally: JOBQUEUE_TABLE_PREFIX (default this) + base name, as `workloads.records.table_name`."""


def allow_outbound(urls: Iterable[str]) -> dict[str, str]:
    """OUTBOUND_ALLOW_HOSTS naming each URL's `host:port` besides what the environment already allows: the
    stand-ins listen on loopback, which outgoing HTTP refuses unless the deployment allows the host, so the
    local runtime allows them the way a deployment allows a VPC-internal service."""
    entries = [e for e in os.environ.get("OUTBOUND_ALLOW_HOSTS", "").split(",") if e.strip()]
    entries += sorted({urlsplit(url).netloc for url in urls if urlsplit(url).scheme in ("http", "https")})
    return {"OUTBOUND_ALLOW_HOSTS": ",".join(dict.fromkeys(entries))}


@dataclass
class SeedSystems:
    """What `start` set up: the variables for every function, and whether the stand-ins are this runtime's."""

    environment: dict[str, str]
    owns_standins: bool

    @classmethod
    def start(cls, catalog: Catalog, sqs: Any, queue_urls: dict[str, str], sqs_name_prefix: str,
              ports: Mapping[str, int] | None = None) -> SeedSystems:
        """Start the stand-ins (unless this process already runs them; on `ports` by service name, else free
        ones), create the tables and the bus whose rule sends entity events to the search queue; the
        environment names all of it."""
        try:
            standins.running()
            owns = False
        except RuntimeError:
            standins.start_all(ports=ports)
            owns = True
        try:
            prefix = os.environ.get("JOBQUEUE_TABLE_PREFIX") or DEFAULT_TABLE_PREFIX
            urls = standins.start_all()
            env = {**standins.environment(), "JOBQUEUE_TABLE_PREFIX": prefix,
                   "WEBHOOK_RECEIVER_URL": urls["webhook-receiver"],  # for outgoing-webhook demos
                   **allow_outbound(urls.values()), **create_tables(aws_client("dynamodb"), prefix)}
            if not catalog.processors:
                env["JOBQUEUE_PROCESSORS"] = DEFAULT_PROCESSORS
            if "search" in catalog.queues:
                search_arn = sqs.get_queue_attributes(QueueUrl=queue_urls["search"], AttributeNames=["QueueArn"])[
                    "Attributes"]["QueueArn"]
                create_bus(aws_client("events"), f"{sqs_name_prefix}domain-events", search_arn, catalog)
        except BaseException:
            if owns:
                standins.stop_all()
            raise
        return cls(env, owns)

    def stop(self) -> None:
        if self.owns_standins:
            standins.stop_all()
