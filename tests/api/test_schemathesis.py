"""Property-based tests from the OpenAPI document (schemathesis, positive and negative cases), over loopback HTTP
through the local adapter: whatever the generated request, with the service token or without, the API answers a
documented status with a documented body, and never a 5xx. The counts are printed (`pytest -s`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from jobqueue.api import openapi_document
from jobqueue.local.http import ApiServer
from jobqueue.local.runner import FunctionRunner
from tests.api.conftest import TOKEN, ApiClient

schema = schemathesis.openapi.from_dict(openapi_document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]
STATUSES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def counts() -> Iterator[None]:
    yield
    print(f"\nschemathesis: {STATUSES['requests']} requests, {STATUSES['4xx']} 4xx, {STATUSES['5xx']} 5xx")


def tally(status: int) -> None:
    STATUSES["requests"] += 1
    STATUSES[f"{status // 100}xx"] += 1


@pytest.fixture
def base_url(api: ApiClient, api_runner: FunctionRunner) -> Iterator[str]:
    server = ApiServer(port=0, runner=api_runner).start()
    try:
        yield server.url
    finally:
        server.stop()


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case[Any], base_url: str) -> None:
    response = case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"},
                                      checks=CHECKS, timeout=10)
    tally(response.status_code)


@schema.parametrize()
@settings(max_examples=4, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_without_the_token_every_route_answers_as_documented(case: schemathesis.Case[Any], base_url: str) -> None:
    response = case.call_and_validate(base_url=base_url, checks=[not_a_server_error, status_code_conformance,
                                                                 content_type_conformance], timeout=10)
    tally(response.status_code)
