"""Acceptance: `python -m jobqueue.local.dev` as `make run` starts it (embedded moto and Redis, the seed
processors against their stand-ins): a signed webhook becomes a completed job, seen through the API and
`jobqueue stats`; /health names Redis and SQS; SIGINT stops it with exit code 0 and no process left behind."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobqueue.local.services import free_port
from tests.conftest import ROOT

TOKEN = "dev-test-token"
SECRET = "dev-test-webhook-secret"
# What `make run` gets from the Makefile; everything else (AWS endpoint, Redis) is embedded.
LEFT_OUT = ("REDIS_URL", "AWS_ENDPOINT_URL", "JOBQUEUE_CATALOG", "JOBQUEUE_PREFIX", "JOBQUEUE_SQS_PREFIX",
            "JOBQUEUE_TABLE_PREFIX", "JOBQUEUE_PROCESSORS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "JOBQUEUE_LOCAL", "JOBQUEUE_STATE_DIR")


def request(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
            ) -> tuple[int, Any]:
    sent = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(sent, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def children(parent: int) -> set[int]:
    """The live child processes of `parent` (Linux /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in LEFT_OUT}
    env.update({"JOBQUEUE_API_PORT": str(port), "SERVICE_TOKEN": TOKEN, "GHL_WEBHOOK_SECRET": SECRET,
                "POWERTOOLS_LOG_LEVEL": "INFO", "JOBQUEUE_STATE_DIR": str(tmp_path / "state")})
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "jobqueue.local.dev"], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        yield process, f"http://127.0.0.1:{port}", log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except (urllib.error.URLError, ConnectionError):
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.2)


def test_make_run_turns_a_signed_webhook_into_a_completed_job(dev: tuple[subprocess.Popen[bytes], str, Path]
                                                              ) -> None:
    process, url, log = dev
    auth = {"Authorization": f"Bearer {TOKEN}"}
    health = wait_for(lambda: request("GET", f"{url}/health"), 180, f"the API answering; log: {log}")
    assert (health[0], {k: health[1][k] for k in ("status", "redis", "sqs")}) == (
        200, {"status": "ok", "redis": {"ok": True, "error": None}, "sqs": {"ok": True, "error": None}})

    body = json.dumps({"type": "ContactCreate", "webhookId": "wh-accept-1", "contactId": "demo-contact",
                       "email": "ada@example.com", "timestamp": int(time.time())}).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    status, accepted = request("POST", f"{url}/webhooks/gohighlevel", body,
                               {"Content-Type": "application/json", "X-GHL-Signature": f"sha256={signature}"})
    assert (status, accepted["queue"]) == (202, "lead-enrichment")

    def completed() -> bool:
        return bool(request("GET", f"{url}/queues/lead-enrichment", headers=auth)[1]["completed"] == 1)

    wait_for(completed, 120, "the job completing")
    status, job = request("GET", f"{url}/queues/lead-enrichment/jobs/{accepted['jobId']}", headers=auth)
    assert (status, job["state"], job["returnvalue"]["contactId"]) == (200, "completed", "demo-contact")
    # `jobqueue stats` through the API, and directly with the `export` line the runtime printed for other shells.
    [export] = [line for line in log.read_text().splitlines() if line.startswith("export ")]
    shell = dict(pair.split("=", 1) for pair in shlex.split(export)[1:])
    assert {"AWS_ENDPOINT_URL", "REDIS_URL", "GHL_API_URL", "CRM_API_URL"} <= set(shell)  # + the stand-ins
    for how, extra_env in ((["--api", url, "--token", TOKEN], {}), ([], shell)):
        stats = subprocess.run([sys.executable, "-m", "jobqueue.cli", *how, "--json", "stats", "lead-enrichment"],
                               cwd=ROOT, env={**os.environ, **extra_env}, capture_output=True, text=True,
                               timeout=120, check=False)
        assert stats.returncode == 0, stats.stderr
        [queue] = json.loads(stats.stdout)["queues"]
        assert (queue["queueName"], queue["completed"], queue["failed"]) == ("lead-enrichment", 1, 0)

    processes = children(process.pid)
    assert len(processes) >= 3  # redis-server, the API's and the worker's function processes
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 0
    wait_for(lambda: not any(alive(pid) for pid in processes), 15, "every child process gone")
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    invocations = [line for line in lines if line.get("message") == "invocation"]
    assert {"function": "worker-lead-enrichment", "eventSource": "lead-enrichment", "batchSize": 1, "failures": 0,
            "outcome": "ok"}.items() <= invocations[0].items()
    assert lines[-1]["message"] == "stopped"


def test_the_runtime_stops_when_the_process_that_started_it_dies(tmp_path: Path) -> None:
    """`make run` signalled alone (make dies, its process group does not): the runtime goes too."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in LEFT_OUT}
    env.update({"JOBQUEUE_API_PORT": str(port), "SERVICE_TOKEN": TOKEN, "GHL_WEBHOOK_SECRET": SECRET,
                "JOBQUEUE_STATE_DIR": str(tmp_path / "state")})
    log = tmp_path / "dev.log"
    starter = subprocess.Popen(  # stands in for make: starts the runtime and waits for it
        [sys.executable, "-c", f"import subprocess, sys; sys.exit(subprocess.call([sys.executable, '-m', "
                               f"'jobqueue.local.dev'], stdout=open({str(log)!r}, 'wb'), stderr=subprocess.STDOUT))"],
        cwd=ROOT, env=env)
    try:
        wait_for(lambda: request("GET", f"http://127.0.0.1:{port}/health")[0] == 200, 180, f"the API; log: {log}")
        [runtime] = children(starter.pid)
        processes = children(runtime)
        starter.kill()
        starter.wait()
        wait_for(lambda: not alive(runtime), 60, f"the runtime stopping; log: {log}")
        wait_for(lambda: not any(alive(pid) for pid in processes), 15, "every child process gone")
        assert [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")][-1][
            "message"] == "stopped"
    finally:
        if starter.poll() is None:
            starter.kill()
