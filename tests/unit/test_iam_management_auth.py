"""Under `-c managementAuth=iam` API Gateway authenticates management callers; the function trusts only that."""

from __future__ import annotations

from typing import Any

import pytest

from jobqueue.api.auth import authorized


def event(identity: dict[str, Any], authorization: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": authorization} if authorization else {}
    return {"httpMethod": "GET", "path": "/stats", "headers": headers, "requestContext": {"identity": identity}}


def test_iam_mode_accepts_a_caller_api_gateway_authenticated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBQUEUE_MANAGEMENT_AUTH", "iam")
    signed = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/execute-api/aws4_request, Signature=ab"
    assert authorized(event({"userArn": "arn:aws:iam::123456789012:user/ops"}, signed))


def test_iam_mode_refuses_a_request_without_an_iam_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBQUEUE_MANAGEMENT_AUTH", "iam")
    monkeypatch.setenv("SERVICE_TOKEN", "t")
    assert not authorized(event({"userArn": None}, "Bearer t"))  # the token no longer opens anything
    assert not authorized({"httpMethod": "GET", "path": "/stats"})


def test_token_mode_ignores_the_iam_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOBQUEUE_MANAGEMENT_AUTH", raising=False)
    monkeypatch.setenv("SERVICE_TOKEN", "t")
    assert not authorized(event({"userArn": "arn:aws:iam::123456789012:user/ops"}))
    assert authorized(event({}, "Bearer t"))
