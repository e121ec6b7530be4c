"""Shared fixtures: a moto server over HTTP, a real Redis, and a private namespace for every test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from jobqueue.catalog import Catalog, default_catalog
from jobqueue.connection import aws_client, redis_client
from jobqueue.local.lambda_api import LambdaApi
from jobqueue.local.services import EmbeddedMoto, EmbeddedRedisCluster, free_port
from jobqueue.local.topology import create_topology
from jobqueue.settings import Settings, get_settings
from workloads.records import create_tables

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server on a free loopback port; every AWS client of the run (and its subprocesses) uses it."""
    server = EmbeddedMoto(free_port()).start()
    aws_client.cache_clear()
    yield server.endpoint
    server.stop()


@pytest.fixture(scope="session")
def local_lambda(moto_endpoint: str) -> Iterator[LambdaApi]:
    """The local runtime's Lambda API (event source mappings) for the run, as `jobqueue dev` serves it: every
    Lambda client of the run and its subprocesses use it (AWS_ENDPOINT_URL_LAMBDA), never an emulator's; the
    region and credentials are the moto fixture's."""
    server = LambdaApi("us-east-1").start()
    os.environ["AWS_ENDPOINT_URL_LAMBDA"] = server.endpoint
    aws_client.cache_clear()
    yield server
    server.stop()
    os.environ.pop("AWS_ENDPOINT_URL_LAMBDA", None)


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis Cluster of three masters for the run (one per xdist worker that needs it), stopped at the end."""
    cluster = EmbeddedRedisCluster(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster.url
    cluster.stop()


@pytest.fixture
def redis_target(request: pytest.FixtureRequest) -> tuple[str, bool]:
    """The Redis a test's namespace uses: (URL, cluster?). REDIS_URL, or for the `[cluster]` run of a test file
    marked `cluster` (pytest_generate_tests), the Redis Cluster."""
    if getattr(request, "param", "redis") == "cluster":
        return request.getfixturevalue("redis_cluster_url"), True
    return REDIS_URL, False


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--redis-cluster", action="store_true",
                     help="run every test with a namespace on a Redis Cluster too, not only the files marked cluster")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `cluster`, or in a file marked so (every test, with --redis-cluster), runs twice: on
    REDIS_URL, and on a real Redis Cluster (`redis_target`)."""
    marked = metafunc.definition.get_closest_marker("cluster") or metafunc.config.getoption("--redis-cluster")
    if "redis_target" in metafunc.fixturenames and marked:
        metafunc.parametrize("redis_target", ["redis", "cluster"], indirect=True)


def delete_prefix(client: Redis, prefix: str) -> None:
    for batch in _chunks(list(client.scan_iter(match=f"{prefix}:*", count=1000)), 500):
        client.unlink(*batch)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass
class Namespace:
    """One test's world: its Redis prefix, SQS queue names, catalog, and the environment a subprocess needs."""

    settings: Settings
    catalog: Catalog
    queue_urls: dict[str, str]
    env: dict[str, str]
    redis: Redis
    sqs: Any


@contextmanager
def namespace(monkeypatch: pytest.MonkeyPatch, redis_url: str = REDIS_URL, cluster: bool = False
              ) -> Iterator[Namespace]:
    """A private world on the AWS endpoint in AWS_ENDPOINT_URL and the Redis at `redis_url` (a Redis Cluster:
    `cluster`): its own key prefix, SQS name prefix, DynamoDB tables (the leads table is where the catalog's lead
    hooks write) and the test catalog overlay, with the catalog's topology created; keys removed after."""
    token = uuid.uuid4().hex[:10]
    env = {
        "REDIS_URL": redis_url,
        "JOBQUEUE_REDIS_CLUSTER": "1" if cluster else "",
        "JOBQUEUE_PREFIX": f"test-{token}",
        "JOBQUEUE_SQS_PREFIX": f"t{token}-",
        "JOBQUEUE_TABLE_PREFIX": f"t{token}-",
        "JOBQUEUE_CATALOG": str(ROOT / "tests" / "support" / "catalog.toml"),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    default_catalog.cache_clear()
    settings, catalog = get_settings(), default_catalog()
    sqs = aws_client("sqs")
    urls = create_topology(sqs, catalog, settings.sqs_name_prefix)
    create_tables(aws_client("dynamodb"), env["JOBQUEUE_TABLE_PREFIX"])
    client = redis_client(redis_url, cluster)
    yield Namespace(settings, catalog, urls, {**os.environ, **env}, client, sqs)
    delete_prefix(client, settings.prefix)
    get_settings.cache_clear()
    default_catalog.cache_clear()


@pytest.fixture
def ns(moto_endpoint: str, local_lambda: LambdaApi, monkeypatch: pytest.MonkeyPatch,
       redis_target: tuple[str, bool]) -> Iterator[Namespace]:
    with namespace(monkeypatch, *redis_target) as world:
        yield world


SLOW_SUITES = ("infra", "integration")
"""Suites of long files (CDK synths, checkov, LocalStack): `make test` starts them first, so no long file is
the last one left running."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs `-n 4 --dist loadfile`: a file runs on one worker, in order, so its module fixtures are
    built once (a browser the file's first test signed in stays signed in). Workers take files in collection
    order, so SLOW_SUITES go first (the sort is stable: each file keeps its own order)."""
    items.sort(key=lambda item: item.path.relative_to(ROOT / "tests").parts[0] not in SLOW_SUITES)


# Secrets a test may hand the code under test; none may reach what that code logs or prints.
SECRET_VARIABLES = ("SERVICE_TOKEN", "METRICS_TOKEN", "READ_ONLY_TOKEN", "GHL_WEBHOOK_SECRET",
                    "WEBHOOK_SIGNING_SECRET", "VAPID_PRIVATE_KEY", "SMTP_PASS")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """The test suite's logs are secret-free: a passing test fails if a secret set in the environment while it
    ran (at least 8 characters, so no placeholder matches by chance) is in its captured output or log records."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.passed:
        return
    secrets = {name: value for name in SECRET_VARIABLES if len(value := os.environ.get(name, "")) >= 8}
    leaks = sorted({f"{name} in {section.lower()}" for section, text in report.sections
                    for name, value in secrets.items() if value in text})
    if leaks:
        report.outcome = "failed"
        report.longrepr = f"secret value in the test's output: {', '.join(leaks)}"
