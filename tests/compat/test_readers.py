"""The npm and PyPI BullMQ readers agree, and are right, on state written by npm BullMQ itself.

This is the ground truth the jobqueue compatibility tests rely on: if both readers report exactly
what BullMQ's own Queue/Worker produced, they can be trusted to judge jobqueue's state. Needs a real
Redis (REDIS_URL) and ``npm ci --prefix compat``; a missing node or node_modules fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.support.bullmq_py import COMPAT_DIR, read_state, read_state_node

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
QUEUE = "fixture"
EMPTY_QUEUE = "never-used"


def _delete_prefix(prefix: str) -> None:
    """SCAN + DEL only this test's keys: the Redis may be shared, so never FLUSHDB."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
    finally:
        client.close()


@pytest.fixture
def prefix() -> Iterator[str]:
    """A prefix no other test or run uses, with its keys deleted afterwards."""
    value = f"compat-selftest-{uuid.uuid4().hex[:12]}"
    try:
        yield value
    finally:
        _delete_prefix(value)


def _write_fixture(prefix: str) -> dict[str, str]:
    """Have npm BullMQ build the mixed state; returns role -> job id."""
    node = shutil.which("node")
    assert node is not None, "node is not on PATH (needed for the npm BullMQ side)"
    assert (COMPAT_DIR / "node_modules" / "bullmq").is_dir(), "run `npm ci --prefix compat`"
    proc = subprocess.run(
        [node, str(COMPAT_DIR / "write_fixture_state.mjs")],
        input=json.dumps({"redisUrl": REDIS_URL, "prefix": prefix, "queue": QUEUE}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=COMPAT_DIR,
    )
    assert proc.returncode == 0, proc.stderr
    ids: dict[str, str] = json.loads(proc.stdout)["ids"]
    return ids


def _expected_jobs(ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """What write_fixture_state.mjs intends, field by field (timestamps checked separately)."""
    unprocessed = {"attemptsMade": 0, "progress": 0, "returnvalue": None, "failedReason": None}
    return {
        ids["completed"]: {
            "name": "complete",
            "data": {"n": 1},
            "state": "completed",
            "attemptsMade": 1,
            "progress": 0,
            "returnvalue": {"ok": True, "echo": 1},
            "failedReason": None,
            "opts": {"attempts": 0},
        },
        ids["failed"]: {
            "name": "fail",
            "data": {"n": 2},
            "state": "failed",
            "attemptsMade": 2,
            "progress": 0,
            "returnvalue": None,
            "failedReason": "boom attempt 2",
            "opts": {"attempts": 2},
        },
        ids["progress"]: {
            "name": "progress",
            "data": {"n": 3},
            "state": "completed",
            "attemptsMade": 1,
            "progress": 50,
            "returnvalue": {"score": 42},
            "failedReason": None,
            "opts": {"attempts": 0},
        },
        ids["delayed"]: {
            "name": "delayed",
            "data": {"n": 4},
            "state": "delayed",
            "opts": {"attempts": 0, "delay": 3600000},
            **unprocessed,
        },
        ids["prioritized"]: {
            "name": "prioritized",
            "data": {"n": 5},
            "state": "prioritized",
            "opts": {"attempts": 0, "priority": 5},
            **unprocessed,
        },
        ids["waiting"]: {
            "name": "waiting",
            "data": {"n": 6},
            "state": "waiting",
            "opts": {"attempts": 0},
            **unprocessed,
        },
        ids["waitingCustom"]: {
            "name": "waiting-custom",
            "data": {"n": 7, "nested": {"a": [1, "x", None]}},
            "state": "waiting",
            "opts": {"attempts": 0, "jobId": "custom-id-1"},
            **unprocessed,
        },
    }


EXPECTED_COUNTS = {
    "active": 0,
    "completed": 2,
    "delayed": 1,
    "failed": 1,
    "prioritized": 1,
    "waiting": 2,
    "waiting-children": 0,
}
EMPTY_COUNTS = dict.fromkeys(EXPECTED_COUNTS, 0)
FINISHED_ROLES = ("completed", "failed", "progress")


def test_npm_and_pypi_readers_agree_on_npm_written_state(prefix: str) -> None:
    ids = _write_fixture(prefix)
    assert ids["waitingCustom"] == "custom-id-1"
    missing = "no-such-job"
    queues = {QUEUE: [*ids.values(), missing], EMPTY_QUEUE: ["1"]}

    node_view = read_state_node(REDIS_URL, prefix, queues)
    py_view = read_state(REDIS_URL, prefix, queues)

    # Field by field first, so a failure names the job and field, then the whole thing.
    for job_id in queues[QUEUE]:
        assert py_view[QUEUE]["jobs"][job_id] == node_view[QUEUE]["jobs"][job_id], job_id
    assert py_view == node_view

    view = node_view[QUEUE]
    assert view["counts"] == EXPECTED_COUNTS
    assert view["jobs"][missing] is None
    assert node_view[EMPTY_QUEUE] == {"counts": EMPTY_COUNTS, "jobs": {"1": None}}

    for job_id, expected in _expected_jobs(ids).items():
        job = view["jobs"][job_id]
        assert job is not None, job_id
        assert job["id"] == job_id
        assert {key: job[key] for key in expected} == expected, job_id
        assert isinstance(job["timestamp"], int) and job["timestamp"] > 0, job_id

    finished = {ids[role] for role in FINISHED_ROLES}
    for job_id, job in view["jobs"].items():
        if job is None:
            continue
        if job_id in finished:
            assert job["timestamp"] <= job["processedOn"] <= job["finishedOn"], job_id
        else:
            assert job["processedOn"] is None and job["finishedOn"] is None, job_id


def test_readers_do_not_write(prefix: str) -> None:
    """Reading must not create keys (npm's Queue would HSET :meta without skipMetasUpdate)."""
    queues = {"untouched": ["1", "2"]}
    assert read_state_node(REDIS_URL, prefix, queues) == read_state(REDIS_URL, prefix, queues)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert list(client.scan_iter(match=f"{prefix}:*")) == []
    finally:
        client.close()


def test_node_reader_reports_errors() -> None:
    """A dead Redis is an error with a message, not a hang or an empty result."""
    with pytest.raises(RuntimeError, match=r"read_state\.mjs exited 1: .+"):
        read_state_node("redis://127.0.0.1:1/0", "compat-selftest-unreachable", {"q": ["1"]})
