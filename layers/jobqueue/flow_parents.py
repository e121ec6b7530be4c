"""Tell flow parents how their children ended: the second call of a child's finish, in the parent's queue.

A script touches one queue's keys, and a child may live in another queue than its parent. So moveToFinished
records, in the child's queue, the update the parent needs (`QueueKeys.parent_updates`), and `ParentUpdates`
applies it in the parent's queue (updateParent-11.lua), then deletes the record. The worker does this right
after it commits the child's outcome; if it dies in between, the sweeper does it a minute later. Applying is
idempotent, so both may. A parent whose last child finished is marked unsent by that same call and then sent,
as producers send; if the send fails, the sweeper's `resend_unsent` sends it.

>>> ParentUpdates(catalog=catalog, settings=settings, redis=redis, sqs=sqs).sweep()  # doctest: +SKIP
2
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools import Logger

from jobqueue.connection import QueueUrls
from jobqueue.keys import queue_of_key
from jobqueue.queue import send_jobs, stored_message
from jobqueue.scripts import ParentUpdate, Scripts
from jobqueue.transport import SqsTransport

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from redis import Redis

    from jobqueue.catalog import Catalog
    from jobqueue.settings import Settings

__all__ = ["FAILURE_POLICIES", "ParentUpdates", "policy_of"]

logger = Logger(service="jobqueue")

FAILURE_POLICIES = {"failParentOnFailure": "fpof", "continueParentOnFailure": "cpof",
                    "ignoreDependencyOnFailure": "idof", "removeDependencyOnFailure": "rdof"}
"""BullMQ's options for a child that fails for good, and the short names its `parent` field keeps them under."""
RELEASED, FAILED = 1, 3  # updateParent-11.lua's answers that need a next step
SCAN_COUNT = 200


def policy_of(parent: dict[str, Any]) -> str:
    """The failure policy a child's `parent` field names; failing the parent when it names none."""
    return next((short for short in ("cpof", "idof", "rdof") if parent.get(short)), "fpof")


class ParentUpdates:
    """Applies the recorded updates of finished children to their parents, in whatever queue each parent is."""

    def __init__(self, *, catalog: Catalog, settings: Settings, redis: Redis, sqs: Any) -> None:
        self.catalog = catalog
        self.settings = settings
        self.redis = redis
        self.transport = SqsTransport(sqs, QueueUrls(sqs, settings.sqs_name_prefix))
        self._scripts: dict[str, Scripts] = {}

    def scripts(self, queue: str) -> Scripts:
        if queue not in self._scripts:
            self._scripts[queue] = Scripts(self.redis, self.settings.queue_keys(queue),
                                           self.settings.max_len_events)
        return self._scripts[queue]

    def apply(self, queue: str, child_ids: Sequence[str]) -> int:
        """Apply the recorded updates of these children of `queue` (one without a record has none); how many."""
        if not child_ids:
            return 0
        key = self.scripts(queue).keys.parent_updates
        entries = cast("list[str | None]", self.redis.hmget(key, list(child_ids)))
        return self._apply(queue, {c: e for c, e in zip(child_ids, entries, strict=True) if e})

    def sweep(self) -> int:
        """Apply every recorded update of every catalog queue: those a worker died before applying."""
        applied = 0
        for queue in self.catalog.queues:
            key = self.scripts(queue).keys.parent_updates
            for page in _pages(self.redis, key):
                applied += self._apply(queue, page)
        return applied

    def _apply(self, queue: str, pending: dict[str, str]) -> int:
        for child_id, entry in pending.items():
            self._apply_one(queue, child_id, json.loads(entry))
            self.redis.hdel(self.scripts(queue).keys.parent_updates, child_id)
        return len(pending)

    def _apply_one(self, queue: str, child_id: str, entry: dict[str, Any]) -> None:
        parent = json.loads(entry["parent"])
        parent_queue = queue_of_key(self.settings.prefix, str(parent["queueKey"]))
        if parent_queue not in self.catalog.queues:
            logger.warning("flow parent in an unknown queue: update dropped",
                           extra={"queue": queue, "jobId": child_id, "parent": parent})
            return
        update = ParentUpdate(str(parent["id"]), self.scripts(queue).keys.job(child_id), entry["outcome"],
                              entry["value"], policy_of(parent))
        code = self.scripts(parent_queue).update_parent(update, int(time.time() * 1000))
        if code == RELEASED:
            self._send(parent_queue, update.parent_id)
        elif code == FAILED:
            self.apply(parent_queue, [update.parent_id])

    def _send(self, queue: str, job_id: str) -> None:
        """Send a released parent's message and clear its mark; one SQS refused stays marked for the sweeper."""
        scripts, config = self.scripts(queue), self.catalog.queue(queue)
        message = stored_message(config, job_id, cast("dict[str, str]", self.redis.hgetall(scripts.keys.job(job_id))))
        if message is None:
            return
        refused = send_jobs(self.transport, config, {job_id: message})
        if refused:
            logger.warning("released flow parent not sent: the sweeper sends it",
                           extra={"queue": queue, "jobId": job_id, "error": refused[job_id]})
            return
        scripts.confirm_sent([job_id])


def _pages(redis: Redis, key: str) -> Iterator[dict[str, str]]:
    """The hash `key` read in HSCAN pages."""
    cursor = 0
    while True:
        cursor, page = cast("tuple[int, dict[str, str]]", redis.hscan(key, cursor, count=SCAN_COUNT))
        if page:
            yield page
        if cursor == 0:
            return
