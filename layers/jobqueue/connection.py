"""Redis and AWS clients, created once per process so warm Lambda invocations reuse them."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config
from redis import Redis

if TYPE_CHECKING:
    from jobqueue.settings import Settings

__all__ = ["QueueUrls", "aws_client", "redis_client", "redis_for"]

# Lambda's SDK retries in "standard" mode; a short connect timeout surfaces a dead endpoint quickly.
_AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)


@lru_cache(maxsize=8)
def redis_client(url: str, cluster: bool = False) -> Redis:
    """A client for `url`; strings in and out, and timeouts so a lost node fails a call instead of hanging.

    `cluster`: redis-py's `RedisCluster`, `url` being any node (ElastiCache's configuration endpoint): it routes
    each command and script by its keys' slot. It offers every command jobqueue sends (a script's keys share one
    hash tag, and pipelines are never transactions), so callers treat it as a `Redis`.
    """
    options: dict[str, Any] = {"decode_responses": True, "socket_timeout": 10, "socket_connect_timeout": 5}
    if cluster:
        from redis.cluster import RedisCluster

        return cast("Redis", RedisCluster.from_url(url, **options))
    return Redis.from_url(url, health_check_interval=30, **options)


def redis_for(settings: Settings) -> Redis:
    """The process's client for the Redis `settings` name (a Redis Cluster when `settings.redis_cluster`)."""
    return redis_client(settings.redis_url, settings.redis_cluster)


@lru_cache(maxsize=8)
def aws_client(service: str) -> Any:
    """A boto3 client; the endpoint comes from AWS_ENDPOINT_URL when set (moto, LocalStack)."""
    return boto3.client(service, config=_AWS_CONFIG)


class QueueUrls:
    """Resolves catalog queue names to SQS queue URLs once, through GetQueueUrl."""

    def __init__(self, sqs: Any, name_prefix: str = "") -> None:
        self.sqs = sqs
        self.name_prefix = name_prefix
        self._urls: dict[str, str] = {}

    def sqs_name(self, queue: str) -> str:
        return f"{self.name_prefix}{queue}"

    def url(self, queue: str) -> str:
        if queue not in self._urls:
            self._urls[queue] = self.sqs.get_queue_url(QueueName=self.sqs_name(queue))["QueueUrl"]
        return self._urls[queue]
