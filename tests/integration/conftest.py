"""The integration suite's fixtures: every scenario runs once against moto's server and once against LocalStack.

LocalStack is started for the session (or taken from LOCALSTACK_ENDPOINT). It is a requirement, not an
option: when it is missing or does not start, its tests fail and say how to install it.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from jobqueue.connection import aws_client
from jobqueue.local.http import ApiServer
from jobqueue.local.services import EmbeddedRedis
from tests.api.conftest import GHL_SECRET, TOKEN
from tests.conftest import REDIS_URL, Namespace, namespace
from tests.integration.localstack import LocalStack, LocalStackError, localstack_ready

EMULATORS = ["moto", "localstack"]


@dataclass
class Emulator:
    """Which emulator a test runs against, its endpoint, and the test's private namespace on it."""

    name: str
    endpoint: str
    ns: Namespace


@pytest.fixture(scope="session")
def localstack_endpoint() -> Iterator[str]:
    """LocalStack for the whole run: LOCALSTACK_ENDPOINT if given (and answering), else one started here."""
    given = os.environ.get("LOCALSTACK_ENDPOINT")
    if given:
        if not localstack_ready(given.rstrip("/")):
            pytest.fail(f"LOCALSTACK_ENDPOINT={given} does not answer as a ready LocalStack", pytrace=False)
        yield given.rstrip("/")
        return
    stack = LocalStack()
    try:
        endpoint = stack.start()
    except LocalStackError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield endpoint
    stack.stop()


@pytest.fixture
def own_redis() -> Iterator[EmbeddedRedis]:
    """A Redis of the test's own, for tests that crash, stop or restart it (the shared one is never touched)."""
    server = EmbeddedRedis().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    """The Redis of the test's namespace: the shared one, or the test's `own_redis` when it asks for one."""
    if "own_redis" in request.fixturenames:
        server: EmbeddedRedis = request.getfixturevalue("own_redis")
        return server.url
    return REDIS_URL


@pytest.fixture(params=EMULATORS)
def emulator(request: pytest.FixtureRequest, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """The test's world on one emulator: AWS_ENDPOINT_URL points at it for this process and the processes the
    test starts (`emulator.ns.env`), and the catalog's topology exists there under the test's own prefix."""
    endpoint: str = request.getfixturevalue(f"{request.param}_endpoint")
    # LocalStack's DynamoDB runs DynamoDB Local, a download these machines cannot make: the seed tables (where the
    # lead hooks write) live on moto, through botocore's per-service endpoint variable. Started before the
    # environment is set, as the moto fixture sets AWS_ENDPOINT_URL when it starts.
    tables: str = request.getfixturevalue("moto_endpoint")
    request.getfixturevalue("local_lambda")  # event source mappings: always the local runtime's API
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    if request.param == "localstack":
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", tables)
    aws_client.cache_clear()
    try:
        with namespace(monkeypatch, redis_url) as ns:
            yield Emulator(request.param, endpoint, ns)
    finally:
        monkeypatch.undo()
        aws_client.cache_clear()


@dataclass
class HttpApi:
    """The API function behind the local HTTP adapter, called over real HTTP as a client of API Gateway would."""

    url: str

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                *, token: bool = True) -> tuple[int, Any]:
        """(status, decoded JSON body); management calls carry the service token unless `token` is False."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {TOKEN}"
        request = urllib.request.Request(f"{self.url}{path}", data=body, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def api(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpApi]:
    """The API on a free loopback port, in the emulator's namespace, with the test token and webhook secret."""
    monkeypatch.setenv("SERVICE_TOKEN", TOKEN)
    monkeypatch.setenv("GHL_WEBHOOK_SECRET", GHL_SECRET)
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    server = ApiServer(port=0).start()
    yield HttpApi(server.url)
    server.stop()
    parameters.clear_caches()  # type: ignore[no-untyped-call]
