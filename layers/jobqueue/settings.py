"""Runtime settings, read once from the environment and validated."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field, ValidationError, field_validator

from jobqueue.errors import CatalogError

__all__ = ["Settings", "get_settings"]


class Settings(BaseModel):
    """Where Redis and SQS are and how jobqueue names things there.

    Every field comes from an environment variable (shown in its description) so that Lambda, the local
    runtime and the CLI configure the engine the same way.
    """

    redis_url: str = Field("redis://127.0.0.1:6379/0", description="REDIS_URL")
    prefix: str = Field("bull", min_length=1, description="JOBQUEUE_PREFIX: BullMQ's key prefix")
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

    @field_validator("prefix")
    @classmethod
    def _no_separator_at_end(cls, value: str) -> str:
        if value.endswith(":"):
            raise ValueError("must not end with ':' (jobqueue adds the separator)")
        return value

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        raw: dict[str, object] = {
            "redis_url": env.get("REDIS_URL"),
            "prefix": env.get("JOBQUEUE_PREFIX"),
            "sqs_name_prefix": env.get("JOBQUEUE_SQS_PREFIX"),
            "catalog_path": env.get("JOBQUEUE_CATALOG"),
            "archive_bucket": env.get("JOBQUEUE_ARCHIVE_BUCKET"),
            "max_payload_bytes": env.get("JOBQUEUE_MAX_PAYLOAD_BYTES"),
            "max_len_events": env.get("JOBQUEUE_MAX_LEN_EVENTS"),
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
