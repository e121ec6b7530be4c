"""Outgoing HTTP reaches public addresses only, checked after DNS resolution and on every redirect, unless
OUTBOUND_ALLOW_HOSTS names the host; failures record a status and a short reason, never the answer's body."""

from __future__ import annotations

import re
from collections.abc import Iterator
from http import HTTPStatus

import pytest

import standins
import workloads.http
from jobqueue import Queue
from standins.server import Reply, StandIn
from tests.conftest import Namespace
from tests.support.functions import LocalFunctions
from workloads.clients.webhooks import WebhookSender
from workloads.config import ServiceConfig
from workloads.errors import ConfigurationError, RejectedError
from workloads.http import JsonService, send

BODY_MARKER = "internal-detail-7f3a9c"


@pytest.fixture
def site() -> Iterator[StandIn]:
    """An HTTP service on loopback that records what reaches it; nothing allowed unless a test allows it."""
    service = StandIn("site")
    service.route("GET", "/ok", lambda request: Reply(200, {"ok": True}))
    service.route("POST", "/hook", lambda request: Reply(204))
    service.route("POST", "/leaky", lambda request: Reply(422, {"detail": BODY_MARKER}))
    service.start()
    yield service
    service.stop()


@pytest.fixture(autouse=True)
def nothing_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OUTBOUND_ALLOW_HOSTS", raising=False)


def _port(service: StandIn) -> int:
    return int(service.url.rsplit(":", 1)[1])


@pytest.mark.parametrize(("url", "kind"), [
    ("http://127.0.0.1:{port}/hook", "loopback"),
    ("http://localhost:{port}/hook", "loopback"),  # a name, resolved by the system resolver
    ("http://[::1]:{port}/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]:{port}/hook", "loopback"),
    ("http://2130706433:{port}/hook", "loopback"),  # 127.0.0.1 written as one number
    ("http://0.0.0.0:{port}/hook", "unspecified"),
    ("http://10.1.2.3/hook", "private"),
    ("http://192.168.0.10/hook", "private"),
    ("http://[fd12:3456::1]/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
    ("http://169.254.10.10/hook", "link-local"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://224.0.0.251/hook", "multicast"),
    ("http://240.0.0.1/hook", "reserved"),
    ("http://100.64.0.1/hook", "not globally routable"),  # carrier-grade NAT
])
def test_internal_addresses_are_refused_before_connecting(site: StandIn, url: str, kind: str) -> None:
    refusal = f"resolves to a non-public address ({kind}); outgoing HTTP refuses it"
    with pytest.raises(RejectedError, match=re.escape(refusal)):
        WebhookSender("s3cret").deliver(url.format(port=_port(site)), "d-1", "order.created", {})
    assert site.received == []


def test_a_public_looking_name_resolving_to_loopback_is_refused(site: StandIn, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    monkeypatch.setattr(workloads.http, "resolve", lambda host, port: ["93.184.215.14", "127.0.0.1"])
    with pytest.raises(RejectedError, match=r"hooks\.example\.com resolves to a non-public address \(loopback\)"):
        WebhookSender("s3cret").deliver(f"http://hooks.example.com:{_port(site)}/hook", "d-1", "e", {})
    assert site.received == []


def test_an_allowed_host_is_reached_at_the_address_that_was_resolved(site: StandIn,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # receiver.internal exists in no DNS: the request can only have gone to the address the hook returned.
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(workloads.http, "resolve", resolve)
    monkeypatch.setenv("OUTBOUND_ALLOW_HOSTS", f"other.internal, receiver.internal:{_port(site)}")
    url = f"http://receiver.internal:{_port(site)}/hook"
    assert WebhookSender("s3cret").deliver(url, "d-1", "order.created", {"n": 1}) == 204
    [received] = site.requests_to("/hook")
    assert received.headers["host"] == f"receiver.internal:{_port(site)}" and lookups == ["receiver.internal"]
    monkeypatch.setenv("OUTBOUND_ALLOW_HOSTS", "receiver.internal:1")  # another port of the host: not allowed
    with pytest.raises(RejectedError, match="loopback"):
        WebhookSender("s3cret").deliver(url, "d-2", "order.created", {})
    assert len(site.received) == 1


def test_a_malformed_allow_list_names_the_entry(site: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTBOUND_ALLOW_HOSTS", "https://hooks.example.com/x")
    with pytest.raises(ConfigurationError, match=re.escape("OUTBOUND_ALLOW_HOSTS: 'https://hooks.example.com/x'")):
        send("GET", f"{site.url}/ok", timeout=2, service="site")


def test_every_redirect_is_checked_and_credentials_stay_with_their_origin(site: StandIn,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    other = StandIn("other")
    other.route("GET", "/landing", lambda request: Reply(200, {"landed": True}))
    other.start()
    try:
        site.route("GET", "/to-metadata", lambda r: Reply(302, headers={"Location": "http://169.254.169.254/"}))
        site.route("GET", "/to-other", lambda r: Reply(307, headers={"Location": f"{other.url}/landing"}))
        site.route("GET", "/loop", lambda r: Reply(301, headers={"Location": "/loop"}))
        site.route("POST", "/moved", lambda r: Reply(308, headers={"Location": f"{other.url}/landing"}))
        monkeypatch.setenv("OUTBOUND_ALLOW_HOSTS", f"127.0.0.1:{_port(site)}")
        metadata = "site GET / (redirected): 169.254.169.254 resolves to a non-public address (cloud metadata)"
        with pytest.raises(RejectedError, match=re.escape(metadata)):
            send("GET", f"{site.url}/to-metadata", timeout=2, service="site")
        other_port = "127.0.0.1 resolves to a non-public address (loopback)"  # only site's port is allowed
        with pytest.raises(RejectedError, match=re.escape(other_port)):
            send("GET", f"{site.url}/to-other", timeout=2, service="site")
        assert other.received == []

        monkeypatch.setenv("OUTBOUND_ALLOW_HOSTS", "127.0.0.1")
        answer = send("GET", f"{site.url}/to-other", timeout=2, service="site",
                      headers={"Authorization": "Bearer k", "Accept": "application/json"})
        assert answer.json() == {"landed": True}
        [landed] = other.requests_to("/landing")
        assert "authorization" not in landed.headers and landed.headers["accept"] == "application/json"
        with pytest.raises(RejectedError, match=f"more than {workloads.http.MAX_REDIRECTS} redirects"):
            send("GET", f"{site.url}/loop", timeout=2, service="site")
        assert len(site.requests_to("/loop")) == workloads.http.MAX_REDIRECTS + 1
        with pytest.raises(RejectedError, match=r"HTTP 308 Permanent Redirect \(redirect not followed\)"):
            send("POST", f"{site.url}/moved", body=b"{}", timeout=2, service="site")
        assert other.requests_to("/landing", "POST") == []
    finally:
        other.stop()


def test_a_path_from_an_answer_cannot_take_the_credentials_elsewhere(site: StandIn,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTBOUND_ALLOW_HOSTS", "127.0.0.1")
    api = JsonService(ServiceConfig("CRM", site.url, "key", 2.0), {"Authorization": "Bearer key"})
    assert api.call("GET", "/ok").json() == {"ok": True}
    for path in ("@169.254.169.254/latest", ".evil.example/x", "https://evil.example/x"):
        with pytest.raises(RejectedError, match="leaves the service's host"):
            api.call("GET", path)


def test_a_failed_delivery_records_status_and_reason_never_the_body(ns: Namespace,
                                                                    stand_ins: standins.Running) -> None:
    receiver = stand_ins.http["webhook-receiver"]
    receiver.route("POST", "/leaky", lambda request: Reply(422, {"detail": BODY_MARKER}))
    queue = Queue("webhooks")
    refused = queue.add("order.created", {"url": f"{receiver.url}/leaky", "event": "order.created", "payload": {}})
    internal = queue.add("order.created", {"url": "http://169.254.169.254/latest/meta-data/iam",
                                           "event": "order.created", "payload": {}})
    LocalFunctions(ns, ["webhooks"], ["dead-letter"]).pump(
        lambda: queue.get_state(refused) == "failed" and queue.get_state(internal) == "failed", 20)
    first, second = queue.get_job(refused), queue.get_job(internal)
    assert first is not None and second is not None
    assert (first.attemptsMade, first.failedReason) == (1, f"webhook POST 127.0.0.1: HTTP 422 {HTTPStatus(422).phrase}")
    assert BODY_MARKER not in str(first.stacktrace)
    assert second.attemptsMade == 1  # unrecoverable: straight to the dead-letter queue
    assert second.failedReason == ("webhook POST 169.254.169.254: 169.254.169.254 resolves to a non-public address "
                                   "(cloud metadata); outgoing HTTP refuses it unless OUTBOUND_ALLOW_HOSTS names "
                                   "the host")
