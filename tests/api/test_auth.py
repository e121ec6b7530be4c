"""Management routes need the bearer service token; secrets come from Secrets Manager or the environment and
never show in logs or answers."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from jobqueue.api import openapi_document
from jobqueue.api.app import logger as api_logger
from jobqueue.connection import aws_client
from tests.api.conftest import GHL_SECRET, TOKEN, ApiClient, ghl_contact_event
from tests.conftest import Namespace

EXAMPLE_PARAMS = {"queue": "email", "job_id": "123", "record_id": "email-123", "source": "gohighlevel",
                  "name": "daily-digest", "entity": "ticket"}


def secured_operations() -> list[tuple[str, str]]:
    document = openapi_document()
    return sorted((method.upper(), re.sub(r"\{(\w+)\}", lambda m: EXAMPLE_PARAMS[m.group(1)], template))
                  for template, item in document["paths"].items() for method, op in item.items()
                  if "security" in op)


def test_every_management_route_refuses_a_missing_or_wrong_token(ns: Namespace, api: ApiClient) -> None:
    operations = secured_operations()
    assert len(operations) == 29
    for method, path in operations:
        for token, scheme in ((None, None), ("wrong-token", "Bearer"), (TOKEN[:-1], "Bearer"), (TOKEN, "Basic")):
            headers = {"Authorization": f"{scheme} {token}"} if scheme else {}
            answer = api.call(method, path, token=None, headers=headers, body={"oops": True})
            assert answer.status == 401, (method, path, token, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
            assert answer.json == {"error": "Unauthorized", "message": "a valid bearer service token is required"}


def test_token_is_checked_before_routing_and_validation(ns: Namespace, api: ApiClient) -> None:
    # Without the token an invalid body and an unknown route look alike: nothing is revealed.
    assert api.call("POST", "/jobs", token=None, raw=b"{broken").status == 401
    assert api.call("GET", "/admin/secret-route", token=None).status == 401
    # With it, the same requests get their real answers.
    assert api.call("POST", "/jobs", raw=b"{broken").status == 400
    assert api.call("GET", "/admin/secret-route").status == 404
    assert api.call("GET", "/queues", headers={"Authorization": f"bearer {TOKEN}"}, token=None).status == 200


def test_public_routes_need_no_token(ns: Namespace, api: ApiClient) -> None:
    assert api.call("GET", "/health", token=None).status == 200
    assert api.call("GET", "/openapi.json", token=None).status == 200
    assert api.call("GET", "/dashboard", token=None).status == 200
    assert api.webhook(ghl_contact_event("wh-public")).status == 202


def test_no_configured_token_refuses_everyone(ns: Namespace, api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERVICE_TOKEN")
    assert api.call("GET", "/queues").status == 401
    assert api.call("GET", "/queues", token="").status == 401
    monkeypatch.delenv("GHL_WEBHOOK_SECRET")
    assert api.webhook(ghl_contact_event("wh-nosecret")).status == 401


def test_secrets_come_from_secrets_manager_when_their_id_is_set(ns: Namespace, api: ApiClient,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = aws_client("secretsmanager")
    name = f"{ns.settings.prefix}/service-token"
    token = secrets.create_secret(Name=name, SecretString="token-from-secrets-manager")["ARN"]
    hook = secrets.create_secret(Name=f"{ns.settings.prefix}/ghl", SecretString="ghl-from-secrets-manager")["ARN"]
    monkeypatch.setenv("SERVICE_TOKEN_SECRET_ID", token)
    monkeypatch.setenv("GHL_WEBHOOK_SECRET_SECRET_ID", hook)
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    try:
        # The _SECRET_ID form wins: the environment's value no longer opens anything.
        assert api.call("GET", "/queues").status == 401
        assert api.call("GET", "/queues", token="token-from-secrets-manager").status == 200
        assert api.webhook(ghl_contact_event("wh-sm")).status == 401
        assert api.webhook(ghl_contact_event("wh-sm"), secret="ghl-from-secrets-manager").status == 202
        # A secret id that cannot be read refuses (fail closed) and does not crash.
        monkeypatch.setenv("SERVICE_TOKEN_SECRET_ID", "arn:aws:secretsmanager:us-east-1:000000000000:secret:none")
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        assert api.call("GET", "/queues", token="token-from-secrets-manager").status == 401
    finally:
        secrets.delete_secret(SecretId=token, ForceDeleteWithoutRecovery=True)
        secrets.delete_secret(SecretId=hook, ForceDeleteWithoutRecovery=True)
        parameters.clear_caches()  # type: ignore[no-untyped-call]


def test_no_secret_appears_in_logs_or_answers(ns: Namespace, api: ApiClient, capsys: pytest.CaptureFixture[str],
                                             caplog: pytest.LogCaptureFixture,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Everything that could print an event is asked to: Powertools' event logging and debug mode.
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    monkeypatch.setenv("POWERTOOLS_DEV", "true")
    monkeypatch.setenv("POWERTOOLS_EVENT_HANDLER_DEBUG", "true")
    caplog.set_level(logging.DEBUG, logger="aws_lambda_powertools")
    caplog.set_level(logging.DEBUG, logger="jobqueue-api")
    level = api_logger.log_level
    api_logger.setLevel("DEBUG")
    answers: list[Any] = []
    try:
        body = json.dumps(ghl_contact_event("wh-logs")).encode()
        answers += [
            api.call("GET", "/stats"),
            api.call("GET", "/queues", token="wrong"),
            api.call("POST", "/jobs", body={"queue": "email", "name": "generic", "data": {"to": "a@b.c"}}),
            api.call("POST", "/jobs", body={"queue": "email"}),
            api.call("GET", "/queues/nope"),
            api.webhook(ghl_contact_event("wh-logs")),
            api.webhook(ghl_contact_event("wh-logs")),
            api.webhook({}, raw=body.replace(b"Ada", b"Eve")),
            api.webhook(ghl_contact_event("wh-logs-2"), secret="wrong"),
            api.call("GET", "/health", token=None),
            api.call("GET", "/metrics"),
        ]
    finally:
        api_logger.setLevel(level)
    printed = capsys.readouterr()
    logged = printed.out + printed.err + "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str)
                                                   for r in caplog.records)
    assert "Found a registered route" in logged  # the debug logs were captured
    for secret in (TOKEN, GHL_SECRET):
        assert secret not in logged
        for answer in answers:
            assert secret not in answer.text and secret not in json.dumps(answer.headers)
