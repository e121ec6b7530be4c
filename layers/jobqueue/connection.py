"""Redis and AWS clients, created once per process so warm Lambda invocations reuse them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config
from redis import Redis
from redis.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException
from redis.exceptions import TimeoutError as RedisTimeoutError

if TYPE_CHECKING:
    from jobqueue.settings import Settings

__all__ = ["ClusterClient", "QueueUrls", "aws_client", "get_secret", "redis_client", "redis_for"]

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
        return cast("Redis", ClusterClient.from_url(url, **options))
    return Redis.from_url(url, health_check_interval=30, **options)


@contextmanager
def _outage_as_connection_error() -> Iterator[None]:
    try:
        yield
    except RedisClusterException as exc:
        if isinstance(exc.__cause__, (RedisConnectionError, RedisTimeoutError)):
            raise RedisConnectionError(f"no Redis Cluster node answers: {exc}") from exc
        raise


class ClusterClient(RedisCluster):
    """redis-py's cluster client, except that finding no node to talk to is a ConnectionError, as it is for a plain
    client. redis-py raises RedisClusterException there, which is no RedisError, so every `except RedisError` of
    the engine (a batch postponed, an add rolled back, the CLI's exit code 4, the API's 503) would miss an outage."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with _outage_as_connection_error():  # it connects as it is built
            super().__init__(*args, **kwargs)

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        with _outage_as_connection_error():
            return super().execute_command(*args, **kwargs)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)  # type: ignore[no-untyped-call]
        execute = pipe.execute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            with _outage_as_connection_error():
                return execute(*args, **kwargs)

        pipe.execute = guarded
        return pipe


def redis_for(settings: Settings) -> Redis:
    """The process's client for the Redis `settings` name (a Redis Cluster when `settings.redis_cluster`)."""
    return redis_client(settings.redis_url, settings.redis_cluster)


@lru_cache(maxsize=8)
def aws_client(service: str) -> Any:
    """A boto3 client; the endpoint comes from AWS_ENDPOINT_URL when set (moto, LocalStack)."""
    return boto3.client(service, config=_AWS_CONFIG)


def get_secret(secret_id: str, *, max_age: int | None = None) -> Any:
    """Powertools' `get_secret` (its cache and `clear_caches`, its default `max_age`) through this process's Secrets
    Manager client.

    Powertools' own default provider makes a boto3 session of its own, which loads botocore's endpoint and service
    files again: about 90 ms of CPU more on a cold start that reads a secret (the Redis AUTH token, the API's tokens).
    """
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    if "secrets" not in DEFAULT_PROVIDERS:
        DEFAULT_PROVIDERS["secrets"] = parameters.SecretsProvider(boto3_client=aws_client("secretsmanager"))
    return parameters.get_secret(secret_id, max_age=max_age)


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
