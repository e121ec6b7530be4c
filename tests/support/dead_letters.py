"""Reading what the dead-letter function recorded: DESIGN's dead-letter record, one per dead job."""

from __future__ import annotations

import json
from typing import cast

from tests.conftest import Namespace

DEAD_FIELDS = {"originalJobId", "queue", "name", "data", "error", "attemptsMade", "failedAt"}


def dlq_records(ns: Namespace, dlq: str) -> list[dict[str, object]]:
    """The records waiting in the DLQ's BullMQ queue, oldest last (the seed's `LRANGE bull:<dlq>:wait`)."""
    keys = ns.settings.queue_keys(dlq)
    ids = cast("list[str]", ns.redis.lrange(keys.wait, 0, -1))
    return [json.loads(cast("str", ns.redis.hget(keys.job(i), "data"))) for i in ids]
