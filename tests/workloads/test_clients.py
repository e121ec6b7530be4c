"""The clients' contract with the engine: which failures retry (and how long they wait), which fail the job
at once; and the configuration errors that name the variable."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from jobqueue.connection import aws_client
from jobqueue.errors import RetryAfterError, UnrecoverableError
from standins.server import Reply, StandIn
from tests.conftest import Namespace
from workloads.config import service_config
from workloads.errors import ConfigurationError, RejectedError, TransientServiceError
from workloads.http import retry_after_ms, send
from workloads.records import create_tables
from workloads.stores import LeadStore, ScheduledMessageStore, now_ms


@pytest.fixture(scope="module")
def echo() -> Iterator[StandIn]:
    service = StandIn("echo")
    service.route("GET", "/ok", lambda request: Reply(200, {"ok": True}))
    service.route("GET", "/missing", lambda request: Reply(404, {"message": "not found"}))
    service.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OUTBOUND_ALLOW_HOSTS", "127.0.0.1")  # loopback, as the local runtime allows its stand-ins
        yield service
    service.stop()


def _get(service: StandIn, path: str, timeout: float = 2.0) -> int:
    return send("GET", f"{service.url}{path}", timeout=timeout, service="echo").status


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    assert retry_after_ms("2") == 2000
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert 28_000 <= (retry_after_ms(format_datetime(later, usegmt=True)) or 0) <= 30_000
    assert retry_after_ms("soon") is None
    assert retry_after_ms(None) is None


def test_429_with_retry_after_asks_the_engine_to_wait(echo: StandIn) -> None:
    echo.fail("/ok", status=429, retry_after=3)
    with pytest.raises(RetryAfterError) as caught:
        _get(echo, "/ok")
    assert caught.value.delay_ms == 3000
    assert _get(echo, "/ok") == 200


@pytest.mark.parametrize("status", [429, 500, 503, 408])
def test_5xx_and_throttling_without_retry_after_are_transient(echo: StandIn, status: int) -> None:
    echo.fail("/ok", status=status)
    with pytest.raises(TransientServiceError, match=f"HTTP {status}"):
        _get(echo, "/ok")


@pytest.mark.parametrize("status", [400, 401, 422])
def test_4xx_are_unrecoverable(echo: StandIn, status: int) -> None:
    echo.fail("/ok", status=status)
    with pytest.raises(RejectedError) as caught:
        _get(echo, "/ok")
    assert isinstance(caught.value, UnrecoverableError) and caught.value.status == status


def test_an_expected_status_is_the_callers_to_handle(echo: StandIn) -> None:
    assert send("GET", f"{echo.url}/missing", timeout=2, service="echo", expect=(404,)).status == 404


def test_timeouts_and_refused_connections_are_transient(echo: StandIn) -> None:
    echo.fail("/ok", delay=1.0)
    with pytest.raises(TransientServiceError, match=r"no answer within 0\.2 s"):
        _get(echo, "/ok", timeout=0.2)
    closed = StandIn("closed")
    closed.start()
    url = closed.url
    closed.stop()
    with pytest.raises(TransientServiceError, match="unreachable"):
        send("GET", f"{url}/ok", timeout=1, service="closed")


def test_configuration_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRM_API_URL", raising=False)
    with pytest.raises(ConfigurationError, match="CRM_API_URL"):
        service_config("CRM")
    monkeypatch.setenv("CRM_API_URL", "http://crm.local")
    monkeypatch.setenv("CRM_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError, match="CRM_TIMEOUT='soon' is not a number"):
        service_config("CRM")
    monkeypatch.setenv("CRM_TIMEOUT", "3")
    monkeypatch.setenv("CRM_API_KEY", "s3cret-value")
    assert "s3cret" not in repr(service_config("CRM"))


def test_a_key_can_come_from_secrets_manager(ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities import parameters

    secret_id = f"{ns.settings.prefix}/crm-key"
    aws_client("secretsmanager").create_secret(Name=secret_id, SecretString="from-secrets-manager")
    monkeypatch.setenv("CRM_API_URL", "https://crm.example.com")
    monkeypatch.delenv("CRM_API_KEY", raising=False)
    monkeypatch.setenv("CRM_API_KEY_SECRET_ID", secret_id)
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    assert service_config("CRM").api_key == "from-secrets-manager"
    parameters.clear_caches()  # type: ignore[no-untyped-call]


def test_tables_are_created_once_and_again_harmlessly(ns: Namespace) -> None:
    names = create_tables(aws_client("dynamodb"), ns.env["JOBQUEUE_TABLE_PREFIX"])
    assert sorted(names) == ["LEADS_TABLE", "LINES_TABLE", "SCHEDULED_MESSAGES_TABLE", "SYNC_RUNS_TABLE"]


def test_one_claim_wins_however_many_race(ns: Namespace) -> None:
    store = ScheduledMessageStore()
    store.schedule("m-race", line_id="l", to="+1555", body="hi", due_at=now_ms())
    start, wins = threading.Barrier(8), []

    def claim(n: int) -> None:
        start.wait()
        if store.claim("m-race", f"tick-{n}"):
            wins.append(n)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert not store.release("m-race", "tick-other")  # only the winner may give it back
    assert store.release("m-race", f"tick-{wins[0]}")


def test_a_late_duplicate_does_not_reopen_a_finished_lead(ns: Namespace) -> None:
    leads = LeadStore()
    leads.ensure("L1", {"email": "l1@example.com"})
    leads.ensure("L1", {"email": "other@example.com"})  # exists: left as it is
    assert leads.set_status("L1", "SUCCEEDED")
    assert not leads.set_status("L1", "PROCESSING")
    lead = leads.get("L1")
    assert lead is not None and lead["status"] == "SUCCEEDED" and lead["email"] == "l1@example.com"
    assert [found["leadId"] for found in leads.by_status("SUCCEEDED")] == ["L1"]
