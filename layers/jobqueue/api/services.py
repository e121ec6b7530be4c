"""The engine objects the routes use, built once per process (a warm Lambda reuses them).

They are rebuilt when the process's settings or catalog change (tests switch namespaces that way).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from jobqueue.api.errors import NotFoundError
from jobqueue.catalog import Catalog, default_catalog
from jobqueue.connection import aws_client, redis_for
from jobqueue.keys import app_key
from jobqueue.queue import Queue
from jobqueue.settings import Settings, get_settings

if TYPE_CHECKING:
    from redis import Redis

    from jobqueue.admin import QueueAdmin
    from jobqueue.api.intake import WebhookIntake
    from jobqueue.flow_producer import FlowProducer

__all__ = ["Services", "services"]


@dataclass
class Services:
    """Settings, catalog, clients, and one producer / admin / webhook intake per name."""

    settings: Settings
    catalog: Catalog
    sqs: Any
    _queues: dict[str, Queue] = field(default_factory=dict)
    _admins: dict[str, QueueAdmin] = field(default_factory=dict)
    _intakes: dict[str, WebhookIntake] = field(default_factory=dict)
    _flows: list[FlowProducer] = field(default_factory=list)

    @cached_property
    def redis(self) -> Redis:
        """The Redis client, built on first use: a Redis Cluster client connects as it is built, and an unreachable
        cluster must fail the routes that use Redis (a 503; `/health` reports it down), as a plain Redis does."""
        return redis_for(self.settings)

    def queue(self, name: str) -> Queue:
        """The producer of a catalog queue (UnknownQueueError, a 404, for any other name)."""
        if name not in self._queues:
            self._queues[name] = Queue(name, catalog=self.catalog, settings=self.settings, redis=self.redis,
                                       sqs=self.sqs)
        return self._queues[name]

    def flow_producer(self) -> FlowProducer:
        """The producer of flows (parent and child jobs), sharing this process's clients."""
        from jobqueue.flow_producer import FlowProducer

        if not self._flows:
            self._flows.append(FlowProducer(catalog=self.catalog, settings=self.settings, redis=self.redis,
                                            sqs=self.sqs))
        return self._flows[0]

    def admin(self, name: str) -> QueueAdmin:
        from jobqueue.admin import QueueAdmin

        if name not in self._admins:
            self._admins[name] = QueueAdmin(name, catalog=self.catalog, settings=self.settings, redis=self.redis,
                                            sqs=self.sqs)
        return self._admins[name]

    def intake(self, source: str) -> WebhookIntake:
        """The intake of a configured webhook source; an unknown source is a 404."""
        from jobqueue.api.intake import WebhookIntake

        config = self.catalog.webhooks.get(source)
        if config is None:
            raise NotFoundError(f"unknown webhook source {source!r}")
        if source not in self._intakes:
            self._intakes[source] = WebhookIntake(
                config, self.queue(config.queue), self.redis,
                key_prefix=app_key(self.settings.prefix, f"webhook:{source}"),
            )
        return self._intakes[source]


_lock = threading.Lock()
_current: list[Services] = []


def services() -> Services:
    """The process's services for the current settings and catalog."""
    settings, catalog = get_settings(), default_catalog()
    with _lock:
        if not _current or _current[0].settings is not settings or _current[0].catalog is not catalog:
            _current[:] = [Services(settings, catalog, aws_client("sqs"))]
        return _current[0]
