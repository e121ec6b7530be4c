"""Local stand-ins for the seed systems' third-party services (not deployed).

>>> urls = start_all()            # service -> base URL, every port free
>>> os.environ.update(environment())   # what the workloads clients read  # doctest: +SKIP
>>> stop_all()

`running()` gives the services themselves (their recorded requests, state, and `fail(...)` to inject 429s,
5xx and timeouts); see `standins.server` for the same over HTTP.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from standins import apis
from standins.keys import b64url, p256_key, public_point, raw_private
from standins.push import PushService
from standins.server import StandIn
from standins.smtp import PASSWORD, USER, SmtpSink

__all__ = ["Running", "environment", "running", "start_all", "stop_all"]

# Client configuration prefix -> stand-in serving it.
_SERVED_BY = {"GHL": "gohighlevel", "REALESTATE": "realestate", "CRM": "crm", "MESSAGING": "messaging",
              "HUBSPOT": "integrations", "SALESFORCE": "integrations", "SHEETS": "integrations",
              "SEARCH": "search", "APP": "app"}


@dataclass
class Running:
    """Every started stand-in, and the environment that points the clients at them."""

    http: dict[str, StandIn]
    push: PushService
    smtp: SmtpSink
    workdir: tempfile.TemporaryDirectory[str]
    env: dict[str, str] = field(default_factory=dict)

    def urls(self) -> dict[str, str]:
        host, port = self.env["SMTP_HOST"], self.env["SMTP_PORT"]
        return {**{name: s.url for name, s in self.http.items()}, "push": self.push.url,
                "smtp": f"smtp://{host}:{port}"}


_running: list[Running] = []


def start_all(host: str = "127.0.0.1", ports: Mapping[str, int] | None = None) -> dict[str, str]:
    """Start every stand-in on `host`, each on its port in `ports` (by the names `Running.urls` uses; 0 or
    missing: a free one); returns service -> base URL. Started once per process."""
    if _running:
        return _running[0].urls()
    http = {s.name: s for s in (apis.gohighlevel(), apis.realestate(), apis.crm(), apis.messaging(),
                                apis.integrations(), apis.search_engine(), apis.app_api(), apis.webhook_receiver())}
    push = PushService()
    workdir = tempfile.TemporaryDirectory(prefix="standins-")
    smtp = SmtpSink(Path(workdir.name))
    ports = ports or {}
    for service in (*http.values(), push):
        service.start(host, ports.get(service.name, 0))
    smtp_host, smtp_port = smtp.start(host, ports.get("smtp", 0))
    vapid = p256_key()
    env = {f"{prefix}_API_URL": http[name].url for prefix, name in _SERVED_BY.items()}
    env |= {f"{prefix}_API_KEY": apis.KEYS[prefix] for prefix in _SERVED_BY}
    env |= {"WEBHOOK_SIGNING_SECRET": apis.KEYS["WEBHOOK_SIGNING_SECRET"],
            "SMTP_HOST": smtp_host, "SMTP_PORT": str(smtp_port), "SMTP_USER": USER, "SMTP_PASS": PASSWORD,
            "SMTP_SECURE": "false", "SMTP_CA_FILE": str(smtp.ca_file), "MAIL_FROM": "jobqueue <noreply@example.com>",
            "VAPID_PRIVATE_KEY": b64url(raw_private(vapid)), "VAPID_PUBLIC_KEY": b64url(public_point(vapid)),
            "VAPID_SUBJECT": "mailto:ops@example.com"}
    _running.append(Running(http, push, smtp, workdir, env))
    return _running[0].urls()


def running() -> Running:
    if not _running:
        raise RuntimeError("stand-ins are not started: call standins.start_all()")
    return _running[0]


def environment() -> dict[str, str]:
    """The variables the workloads clients read, pointing at the running stand-ins."""
    return dict(running().env)


def stop_all() -> None:
    for started in _running:
        for service in (*started.http.values(), started.push):
            service.stop()
        started.smtp.stop()
        started.workdir.cleanup()
    _running.clear()
