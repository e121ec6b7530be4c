"""Deletes the S3 payload objects of removed jobs: the part of the claim check the Lua scripts cannot do.

The scripts that delete a job hash (remove, clean, drain, retention, a producer's rollback) or a dead-letter record
push the job's placeholder to its queue's `payloads:gone` list (`QueueKeys.payloads_gone`); so does a producer
for an object it put and no job took. The sweeper (every minute) reads each list, keeps the objects a job hash
or a dead-letter record still names (a failed job kept while its record waits in the DLQ, a record redriven back
into its queue), deletes the others with DeleteObjects and trims what it handled. A delete S3 refuses leaves the
list as it is, for the next sweep.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools import Logger

from jobqueue.keys import dead_letter_record_id
from jobqueue.payloads import Claim, PayloadStore, PayloadStoreError, claim_of

if TYPE_CHECKING:
    from redis import Redis

    from jobqueue.catalog import Catalog
    from jobqueue.settings import Settings

__all__ = ["GONE_BATCH", "sweep_payloads"]

logger = Logger(service="jobqueue")

GONE_BATCH = 1000
"""Entries read from one list per round: one DeleteObjects call's worth."""


def _parse(queue: str, entry: str) -> tuple[str, str, Claim] | None:
    """An entry's (source queue, job id, claim): "<jobId>\\n<job data>" from a queue ("\\n<placeholder>" for an
    object no job took), "\\n<record data>" from a dead-letter queue; None for an entry naming no object."""
    job_id, _, data = entry.partition("\n")
    try:
        value: Any = json.loads(data)
    except ValueError:
        return None
    claim = claim_of(value)
    if claim is not None or job_id or not isinstance(value, dict):
        return (queue, job_id, claim) if claim else None
    claim = claim_of(value.get("data"))
    source, original = value.get("queue"), value.get("originalJobId")
    if claim is None or not isinstance(source, str) or not isinstance(original, str):
        return None
    return source, original, claim


def sweep_payloads(catalog: Catalog, redis: Redis, store: PayloadStore, settings: Settings) -> int:
    """Delete the objects of every queue's and dead-letter queue's gone list that nothing names; how many."""
    deleted = 0
    for name in sorted({*catalog.queues, *catalog.dead_letters}):
        key = settings.queue_keys(name).payloads_gone
        while True:
            entries = cast("list[str]", redis.lrange(key, 0, GONE_BATCH - 1))
            if not entries:
                break
            try:
                deleted += store.delete(_unreferenced(catalog, redis, settings, name, entries))
            except PayloadStoreError as exc:
                logger.warning("payload objects not deleted", extra={"queue": name, "error": str(exc)})
                break
            redis.ltrim(key, len(entries), -1)
            if len(entries) < GONE_BATCH:
                break
    return deleted


def _unreferenced(catalog: Catalog, redis: Redis, settings: Settings, queue: str, entries: list[str]) -> list[Claim]:
    """The entries' claims that no job hash and no dead-letter record names (one round trip)."""
    parsed = [p for p in (_parse(queue, e) for e in entries) if p is not None]
    pipe = redis.pipeline(transaction=False)
    for source, job_id, _ in parsed:
        pipe.hget(settings.queue_keys(source).job(job_id), "data")
        config = catalog.queues.get(source)
        dead_letter = config.dead_letter if config else source
        pipe.hget(settings.queue_keys(dead_letter).job(dead_letter_record_id(source, job_id)), "data")
    found = pipe.execute() if parsed else []
    unnamed: dict[str, Claim] = {}
    for n, (_, _, claim) in enumerate(parsed):
        job_data, record_data = found[2 * n], found[2 * n + 1]
        if not any(held and claim.url in held for held in (job_data, record_data)):
            unnamed[claim.url] = claim
    return list(unnamed.values())
