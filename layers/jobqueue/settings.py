"""Runtime settings, read once from the environment and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import quote

from pydantic import BaseModel, Field, ValidationError, field_validator

from jobqueue.errors import CatalogError
from jobqueue.keys import QueueKeys

__all__ = ["Settings", "deployed_redis_url", "get_settings"]


def deployed_redis_url(env: Mapping[str, str]) -> str | None:
    """The `rediss://` URL of the deployed cache, or None when REDIS_HOST is not set (local runs use REDIS_URL).

    The CDK app gives each function REDIS_HOST, REDIS_PORT and REDIS_AUTH_SECRET_ID (the AUTH token's secret),
    never the token itself; it is read once, at cold start, through Powertools' `get_secret` on the process's
    Secrets Manager client (`jobqueue.connection.get_secret`).
    """
    host = env.get("REDIS_HOST")
    if not host:
        return None
    if env.get("REDIS_URL"):
        raise CatalogError("invalid environment settings: set REDIS_URL or REDIS_HOST, not both")
    port = env.get("REDIS_PORT", "6379")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise CatalogError(f"invalid environment settings: REDIS_PORT {port!r} is not a TCP port")
    secret_id = env.get("REDIS_AUTH_SECRET_ID")
    if not secret_id:
        return f"rediss://{host}:{port}/0"
    from jobqueue.connection import get_secret

    try:
        token = get_secret(secret_id)
    except Exception as exc:  # never the value: the variable that named the secret and the error's class
        raise CatalogError(f"REDIS_AUTH_SECRET_ID: the Redis AUTH token cannot be read ({type(exc).__name__})") from exc
    if isinstance(token, bytes):
        token = token.decode()
    if not isinstance(token, str) or not token:
        raise CatalogError("REDIS_AUTH_SECRET_ID: the Redis AUTH token's secret is empty")
    return f"rediss://:{quote(token, safe='')}@{host}:{port}/0"


class Settings(BaseModel):
    """Where Redis and SQS are and how jobqueue names things there.

    Every field comes from an environment variable (shown in its description) so that Lambda, the local
    runtime and the CLI configure the engine the same way.
    """

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", repr=False, description="REDIS_URL, or built from REDIS_HOST (deployed_redis_url)"
    )
    prefix: str = Field("bull", min_length=1, description="JOBQUEUE_PREFIX: BullMQ's key prefix")
    redis_cluster: bool = Field(
        False, description="JOBQUEUE_REDIS_CLUSTER: Redis Cluster (1/true): the cluster client, and each queue's "
                           "keys under its hash tag `{<queue>}` (jobqueue.keys)")
    sqs_name_prefix: str = Field("", description="JOBQUEUE_SQS_PREFIX: prepended to every SQS queue name")
    catalog_path: str | None = Field(None, description="JOBQUEUE_CATALOG: TOML file extending the catalog")
    processors: list[str] = Field(
        default_factory=list, description="JOBQUEUE_PROCESSORS: comma-separated modules to import"
    )
    archive_bucket: str | None = Field(None, description="JOBQUEUE_ARCHIVE_BUCKET: S3 bucket for dead jobs")
    max_payload_bytes: int = Field(
        256 * 1024, gt=0, le=1024 * 1024, description="JOBQUEUE_MAX_PAYLOAD_BYTES: largest job message"
    )
    max_len_events: int = Field(10_000, gt=0, description="JOBQUEUE_MAX_LEN_EVENTS: events stream cap")
    payload_bucket: str | None = Field(
        None, description="JOBQUEUE_PAYLOAD_BUCKET: S3 bucket for job data over the threshold (jobqueue.payloads)")
    payload_threshold_bytes: int = Field(
        240 * 1024, gt=0, le=1024 * 1024,
        description="JOBQUEUE_PAYLOAD_THRESHOLD_BYTES: job data (JSON) larger than this goes to the payload bucket; "
                    "SQS's 256 KiB less room for the message's envelope")
    max_data_bytes: int = Field(
        64 * 1024 * 1024, gt=0, description="JOBQUEUE_MAX_DATA_BYTES: largest job data stored in the payload bucket")

    @field_validator("prefix")
    @classmethod
    def _no_separator_at_end(cls, value: str) -> str:
        if value.endswith(":"):
            raise ValueError("must not end with ':' (jobqueue adds the separator)")
        return value

    def queue_keys(self, queue: str) -> QueueKeys:
        """The key names of `queue` under these settings' prefix and layout."""
        return QueueKeys(self.prefix, queue, self.redis_cluster)

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        raw: dict[str, object] = {
            "redis_url": deployed_redis_url(env) or env.get("REDIS_URL"),
            "prefix": env.get("JOBQUEUE_PREFIX"),
            "redis_cluster": env.get("JOBQUEUE_REDIS_CLUSTER") or None,
            "sqs_name_prefix": env.get("JOBQUEUE_SQS_PREFIX"),
            "catalog_path": env.get("JOBQUEUE_CATALOG"),
            "archive_bucket": env.get("JOBQUEUE_ARCHIVE_BUCKET"),
            "max_payload_bytes": env.get("JOBQUEUE_MAX_PAYLOAD_BYTES"),
            "max_len_events": env.get("JOBQUEUE_MAX_LEN_EVENTS"),
            "payload_bucket": env.get("JOBQUEUE_PAYLOAD_BUCKET") or None,
            "payload_threshold_bytes": env.get("JOBQUEUE_PAYLOAD_THRESHOLD_BYTES"),
            "max_data_bytes": env.get("JOBQUEUE_MAX_DATA_BYTES"),
        }
        modules = env.get("JOBQUEUE_PROCESSORS")
        if modules:
            raw["processors"] = [m.strip() for m in modules.split(",") if m.strip()]
        try:
            return cls.model_validate({k: v for k, v in raw.items() if v is not None})
        except ValidationError as exc:
            raise CatalogError(f"invalid environment settings: {exc}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call `get_settings.cache_clear()` after changing the environment."""
    return Settings.from_env()
