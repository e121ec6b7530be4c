"""Claim check: job data too large for an SQS message is kept in S3, and the job carries a small placeholder.

A producer puts the data in the payload bucket before it records the job, under a key of its own
(`payloads/<queue>/<jobId>/<random>`, so a retried add never overwrites the object a job already points at); the
SQS message and the job hash's `data` then hold the placeholder, which BullMQ clients read as the job's data:

    {"jobqueuePayload": "s3://<bucket>/payloads/<queue>/<jobId>/<hex>", "bytes": 12582912, "sha256": "<hex>"}

The worker reads the object when it starts the job. The scripts that delete job hashes (remove, clean, retention,
rollback) and dead-letter records push the placeholder to the queue's `payloads:gone` list; the sweeper deletes
those objects no job hash or dead-letter record still points at (`jobqueue.payload_sweep`).

>>> claim_of({"jobqueuePayload": "s3://b/payloads/q/_/1", "bytes": 3, "sha256": "ab"}).key
'payloads/q/_/1'
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from jobqueue.connection import aws_client
from jobqueue.errors import JobQueueError, UnrecoverableError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["MARKER", "Claim", "PayloadMissingError", "PayloadStore", "PayloadStoreError", "claim_of", "object_key"]

logger = Logger(service="jobqueue")

MARKER = "jobqueuePayload"
"""The placeholder's one identifying field; the scripts test a job's data for the prefix `{"jobqueuePayload":"`."""
DELETE_BATCH = 1000
"""Keys per DeleteObjects call: S3's limit."""
_FIELDS = frozenset({MARKER, "bytes", "sha256"})
_URL = re.compile(r"^s3://([^/]+)/(.+)$")


class PayloadStoreError(JobQueueError):
    """The payload bucket could not store, read or delete an object (S3 refused or could not be reached)."""


class PayloadMissingError(UnrecoverableError):
    """A job's payload object is gone or not what was stored: no attempt can succeed, so the job fails at once."""


@dataclass(frozen=True)
class Claim:
    """Where a job's data is: the object and what it must hold."""

    bucket: str
    key: str
    size: int
    sha256: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def placeholder(self) -> dict[str, Any]:
        """What the message and the job hash carry as the job's data."""
        return {MARKER: self.url, "bytes": self.size, "sha256": self.sha256}


def claim_of(data: Any) -> Claim | None:
    """The claim a job's data is the placeholder of, or None for ordinary data."""
    if not isinstance(data, dict) or set(data) != _FIELDS or not isinstance(data[MARKER], str):
        return None
    match = _URL.match(data[MARKER])
    if not match or not isinstance(data["bytes"], int) or not isinstance(data["sha256"], str):
        return None
    return Claim(match[1], match[2], data["bytes"], data["sha256"])


def object_key(queue: str, job_id: str | None) -> str:
    """A new object's key: queue and job id (`_` for an id Redis gives later) and a random part."""
    return f"payloads/{queue}/{job_id or '_'}/{uuid.uuid4().hex}"


class PayloadStore:
    """The payload bucket: puts data that is too large for a message, reads it back, deletes what is gone."""

    def __init__(self, bucket: str | None, threshold: int, s3: Any = None) -> None:
        self.bucket = bucket
        self.threshold = threshold
        self._s3 = s3

    @property
    def s3(self) -> Any:
        """The S3 client, made on first use: a function that never meets a large job never pays for it."""
        if self._s3 is None:
            self._s3 = aws_client("s3")
        return self._s3

    def is_large(self, data_json: str) -> bool:
        """Whether data (its JSON) goes to the bucket: over the threshold, when a bucket is configured."""
        return bool(self.bucket) and len(data_json.encode()) > self.threshold

    def put(self, queue: str, job_id: str | None, data_json: bytes) -> Claim:
        """Store one job's data (its JSON); the claim to carry instead."""
        if not self.bucket:
            raise PayloadStoreError("no payload bucket is configured (JOBQUEUE_PAYLOAD_BUCKET)")
        claim = Claim(self.bucket, object_key(queue, job_id), len(data_json), hashlib.sha256(data_json).hexdigest())
        try:
            self.s3.put_object(Bucket=claim.bucket, Key=claim.key, Body=data_json, ContentType="application/json")
        except (BotoCoreError, ClientError) as exc:
            raise PayloadStoreError(f"could not store the job's data at {claim.url}: {exc}") from exc
        return claim

    def fetch(self, claim: Claim) -> Any:
        """The job's data. A missing or altered object is a PayloadMissingError (unrecoverable); any other S3
        error a PayloadStoreError, which fails the attempt like any error, to be retried."""
        try:
            body = self.s3.get_object(Bucket=claim.bucket, Key=claim.key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
                raise PayloadMissingError(f"payload object {claim.url} is missing") from exc
            raise PayloadStoreError(f"could not read the payload object {claim.url}: {exc}") from exc
        except BotoCoreError as exc:
            raise PayloadStoreError(f"could not read the payload object {claim.url}: {exc}") from exc
        if len(body) != claim.size or hashlib.sha256(body).hexdigest() != claim.sha256:
            raise PayloadMissingError(f"payload object {claim.url} does not hold what was stored "
                                      f"({len(body)} bytes, expected {claim.size} with sha256 {claim.sha256})")
        return json.loads(body)

    def delete(self, claims: Sequence[Claim]) -> int:
        """Delete the claims' objects, DELETE_BATCH per call; how many S3 confirmed (an object already gone
        counts). Raises PayloadStoreError when a call fails: the caller keeps the claims to try again."""
        deleted = 0
        for start in range(0, len(claims), DELETE_BATCH):
            batch = claims[start:start + DELETE_BATCH]
            by_bucket: dict[str, list[str]] = {}
            for claim in batch:
                by_bucket.setdefault(claim.bucket, []).append(claim.key)
            for bucket, keys in by_bucket.items():
                try:
                    response = self.s3.delete_objects(
                        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
                except (BotoCoreError, ClientError) as exc:
                    raise PayloadStoreError(f"could not delete payload objects in {bucket}: {exc}") from exc
                errors = response.get("Errors", [])
                if errors:
                    raise PayloadStoreError(f"S3 refused to delete {len(errors)} payload objects in {bucket}: "
                                            f"{errors[0].get('Code')}")
                deleted += len(keys)
        return deleted
