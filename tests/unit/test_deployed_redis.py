"""The deployed Redis endpoint: REDIS_HOST/PORT plus the AUTH token read from Secrets Manager at cold start."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from jobqueue.connection import aws_client
from jobqueue.errors import CatalogError
from jobqueue.settings import Settings, deployed_redis_url

TOKEN = "t0k/en+with=odd&chars"


@pytest.fixture
def secret_id(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Secrets Manager secret in an in-process mock, read through a fresh Powertools provider and client."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        aws_client.cache_clear()
        arn = boto3.client("secretsmanager").create_secret(Name="redis-auth", SecretString=TOKEN)["ARN"]
        yield str(arn)
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        aws_client.cache_clear()


def test_deployed_url_is_tls_with_the_token_from_secrets_manager(secret_id: str) -> None:
    env = {"REDIS_HOST": "master.jq.cache.amazonaws.com", "REDIS_PORT": "6380", "REDIS_AUTH_SECRET_ID": secret_id}
    url = deployed_redis_url(env)
    assert url == "rediss://:t0k%2Fen%2Bwith%3Dodd%26chars@master.jq.cache.amazonaws.com:6380/0"


def test_the_token_is_read_through_the_process_s_boto3_session(secret_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Powertools' default provider would make a session of its own, loading botocore's files again at cold start.
    def own_session(*args: object, **kwargs: object) -> None:
        raise AssertionError("a boto3 session of its own")

    monkeypatch.setattr(boto3.session, "Session", own_session)
    assert deployed_redis_url({"REDIS_HOST": "h", "REDIS_AUTH_SECRET_ID": secret_id}) == (
        "rediss://:t0k%2Fen%2Bwith%3Dodd%26chars@h:6379/0")


def test_settings_use_it_and_never_show_it(secret_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_HOST", "cache.internal")
    monkeypatch.setenv("REDIS_AUTH_SECRET_ID", secret_id)
    settings = Settings.from_env()
    assert settings.redis_url.startswith("rediss://:t0k%2F") and settings.redis_url.endswith("@cache.internal:6379/0")
    assert "t0k" not in repr(settings) and "t0k" not in str(settings)


def test_local_runs_keep_redis_url() -> None:
    assert deployed_redis_url({"REDIS_URL": "redis://127.0.0.1:6379/0"}) is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_HOST": "h", "REDIS_URL": "redis://x"}, "REDIS_URL or REDIS_HOST, not both"),
        ({"REDIS_HOST": "h", "REDIS_PORT": "63a"}, "REDIS_PORT '63a' is not a TCP port"),
        ({"REDIS_HOST": "h", "REDIS_AUTH_SECRET_ID": "missing"}, r"REDIS_AUTH_SECRET_ID: .* cannot be read"),
    ],
)
def test_bad_deployed_settings_are_named(secret_id: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        deployed_redis_url(env)
