"""`make run` and the README's walkthrough write no secret to any log: every line the runtime and its function
processes print (stdout and stderr) is searched for each secret value the run used, plain, base64- and
URL-encoded. The secrets are distinctive values of this test's own (service token, GoHighLevel webhook secret,
the Redis AUTH password of a `redis-server --requirepass` of its own), plus those the stand-ins hand the functions
(the outgoing-webhook signing secret, the VAPID private key, the SMTP password and API keys), read from a function
process's environment."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from jobqueue.local.services import free_port
from standins.keys import b64url, p256_key, public_point
from tests.conftest import ROOT
from tests.local.test_dev_process import LEFT_OUT, children, request, wait_for

TOKEN = "svc-token-Q7vX2mKp9aLr"
GHL_SECRET = "ghl-secret-Z4nB8rTw1cYe"
REDIS_PASSWORD = "redis-auth-H3jL6sDf0uNi"
SECRET_NAMES = ("SERVICE_TOKEN", "GHL_WEBHOOK_SECRET", "WEBHOOK_SIGNING_SECRET", "VAPID_PRIVATE_KEY", "SMTP_PASS")


@pytest.fixture
def redis_with_auth(tmp_path: Path) -> Iterator[str]:
    """A `redis-server` of this test's own that requires AUTH; its URL carries the password."""
    port = free_port()
    server = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                               "127.0.0.1", "--save", "", "--appendonly", "no", "--requirepass", REDIS_PASSWORD,
                               "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


def encodings(value: str) -> set[str]:
    raw = value.encode()
    forms = {value, quote(value, safe=""), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return forms | {form.rstrip("=") for form in forms}


def used_secrets(runtime: int) -> dict[str, str]:
    """The secret values a function process of the runtime was given (its /proc environment)."""
    for pid in children(runtime):
        try:
            pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        env = dict(p.decode().split("=", 1) for p in pairs if b"=" in p)
        if "SERVICE_TOKEN" in env:
            found = {name: env[name] for name in SECRET_NAMES if env.get(name)}
            found |= {name: value for name, value in env.items() if name.endswith("_API_KEY") and value}
            found["REDIS_URL password"] = urlsplit(env["REDIS_URL"]).password or ""
            return found
    raise AssertionError("no function process of the runtime found")


def test_the_walkthrough_logs_no_secret(tmp_path: Path, redis_with_auth: str) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in LEFT_OUT}
    env.update({"JOBQUEUE_API_PORT": str(port), "SERVICE_TOKEN": TOKEN, "GHL_WEBHOOK_SECRET": GHL_SECRET,
                "REDIS_URL": redis_with_auth, "JOBQUEUE_STATE_DIR": str(tmp_path / "state"),
                "POWERTOOLS_LOG_LEVEL": "DEBUG"})
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        dev = subprocess.Popen([sys.executable, "-m", "jobqueue.local.dev"], cwd=ROOT, env=env, stdout=out,
                               stderr=subprocess.STDOUT)
    try:
        auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        assert wait_for(lambda: request("GET", f"{url}/health"), 180, f"the API; log: {log}")[0] == 200
        secrets = used_secrets(dev.pid)
        assert (secrets["SERVICE_TOKEN"], secrets["GHL_WEBHOOK_SECRET"], secrets["REDIS_URL password"]) == (
            TOKEN, GHL_SECRET, REDIS_PASSWORD)
        assert {"WEBHOOK_SIGNING_SECRET", "VAPID_PRIVATE_KEY"} <= set(secrets)
        [export] = [line for line in log.read_text().splitlines() if line.startswith("export ")]
        shell = dict(pair.split("=", 1) for pair in shlex.split(export)[1:])

        # A signed webhook, then the same one with a wrong signature and a wrong token on a management route.
        body = json.dumps({"type": "ContactCreate", "webhookId": "wh-logs-1", "contactId": "demo-contact",
                           "timestamp": int(time.time())}).encode()
        signature = hmac.new(GHL_SECRET.encode(), body, hashlib.sha256).hexdigest()
        status, accepted = request("POST", f"{url}/webhooks/gohighlevel", body,
                                   {"Content-Type": "application/json", "X-GHL-Signature": f"sha256={signature}"})
        assert status == 202, accepted
        assert request("POST", f"{url}/webhooks/gohighlevel", body, {"X-GHL-Signature": "sha256=00"})[0] == 401
        assert request("GET", f"{url}/queues", headers={"Authorization": f"Bearer {TOKEN[:-1]}x"})[0] == 401
        wait_for(lambda: request("GET", f"{url}/queues/lead-enrichment", headers=auth)[1]["completed"] == 1, 120,
                 "the webhook's job completing")

        # A lead whose CRM sync always fails, to the DLQ; an outgoing webhook; a push signed with the VAPID key.
        assert request("POST", f"{shell['CRM_API_URL']}/_standin/faults",
                       b'{"path": "/leads", "status": 503, "times": null}')[0] < 300
        jobs = [{"queue": "lead-processing", "name": "process-lead", "data": {"leadId": "demo-contact"}},
                {"queue": "webhooks", "name": "order.created", "data": {
                    "url": f"{shell['WEBHOOK_RECEIVER_URL']}/hooks/orders", "event": "order.created",
                    "payload": {"orderId": 1}}},
                {"queue": "notification", "name": "push", "data": {"payload": {"title": "hi"}, "subscription": {
                    "endpoint": f"{shell['WEBHOOK_RECEIVER_URL']}/push/unknown",  # not a push service: 404
                    "keys": {"p256dh": b64url(public_point(p256_key())), "auth": b64url(os.urandom(16))}}}}]
        for job in jobs:
            assert request("POST", f"{url}/jobs", json.dumps(job).encode(), auth)[0] == 202
        wait_for(lambda: request("GET", f"{url}/queues/lead-processing/dlq", headers=auth)[1]["records"], 90,
                 "the lead's dead letter")
        for queue, state in (("webhooks", "completed"), ("notification", "failed")):
            wait_for(lambda q=queue, s=state: request("GET", f"{url}/queues/{q}", headers=auth)[1][s] == 1, 60,
                     f"the {queue} job {state}")

        dev.send_signal(signal.SIGINT)
        assert dev.wait(60) == 0
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()
    text = log.read_text(errors="replace")
    assert '"message":"invocation"' in text.replace(" ", "")  # the function processes' lines are in the log
    leaks = {name: form for name, value in secrets.items() for form in encodings(value) if form in text}
    assert leaks == {}, f"secret values in the log {log}"
