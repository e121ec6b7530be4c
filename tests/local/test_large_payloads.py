"""Issue 16, point 2, end to end through `jobqueue dev`: a 5 MB job posted to the API (under API Gateway's 10 MB
and Lambda's 6 MB request limits) reaches its processor whole through the payload bucket the runtime created."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from jobqueue.connection import aws_client
from jobqueue.local.dev import LocalRuntime
from jobqueue.payloads import claim_of
from tests.conftest import Namespace

TOKEN = "payload-test-token"


@pytest.fixture
def runtime(ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalRuntime]:
    monkeypatch.setenv("SERVICE_TOKEN", TOKEN)
    monkeypatch.setenv("JOBQUEUE_PROCESSORS", "tests.local.payload_processors")
    monkeypatch.setenv("JOBQUEUE_PAYLOAD_BUCKET", f"{ns.settings.sqs_name_prefix}payloads")
    monkeypatch.setenv("JOBQUEUE_SCHEDULE_PREFIX", f"{ns.settings.sqs_name_prefix}")
    running = LocalRuntime(api_port=0, poll_wait_seconds=1).start()
    yield running
    running.stop()


def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return answer.status, json.loads(answer.read())


def test_a_5_mb_job_posted_to_the_api_runs_with_its_exact_data(runtime: LocalRuntime) -> None:
    assert runtime.api is not None
    api = runtime.api.url
    data = {"blob": hashlib.sha256(b"5mb").hexdigest() * (5 * 1024 * 1024 // 64)}
    status, accepted = call("POST", f"{api}/jobs", {"queue": "data-processing", "name": "payload-check", "data": data})
    assert status in (200, 201, 202), accepted
    url = f"{api}/queues/data-processing/jobs/{accepted['jobId']}"
    deadline = time.monotonic() + 60
    while (job := call("GET", url)[1])["state"] != "completed":
        assert time.monotonic() < deadline and job["state"] != "failed", job
        time.sleep(0.2)
    body = json.dumps(data, separators=(",", ":")).encode()
    assert job["returnvalue"] == {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
    claim = claim_of(job["data"])
    assert claim is not None and claim.size == len(body), "the status says where the data is"
    head = aws_client("s3").head_object(Bucket=claim.bucket, Key=claim.key)
    assert head["ContentLength"] == len(body)
