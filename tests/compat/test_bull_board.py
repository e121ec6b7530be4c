"""Bull Board (npm @bull-board/api 9.x with its express adapter, `compat/bull_board.mjs`) over jobqueue's Redis.

It lists the queue's counts and jobs as jobqueue reads them, and its actions that BullMQ performs in Redis alone
reach SQS through the sweeper: a failed job retried from Bull Board runs again; a job a Node service adds with
npm BullMQ's `queue.add` runs too. Needs node and `npm ci --prefix compat`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from jobqueue import Job, Queue, QueueAdmin, UnrecoverableError, processor
from jobqueue.connection import redis_for
from jobqueue.local.runner import FunctionRunner
from jobqueue.settings import get_settings
from jobqueue.sweeper import SWEEP_EVENT
from tests.conftest import Namespace
from tests.support.bullmq_py import COMPAT_DIR
from tests.support.faults import KINDS, Fault, FaultySqs, Kind, attempt, inject, sqs_down
from tests.support.functions import LocalFunctions, messages_in

BOARD_JOB = "board-flaky"


@processor("email", BOARD_JOB)
def fails_until_retried(job: Job) -> dict[str, Any]:
    """Unrecoverable on a job's first run when its data asks for it, fine on every later run."""
    runs = int(redis_for(get_settings()).incr(f"{get_settings().prefix}:board-runs:{job.id}"))
    if job.data.get("fail") and runs == 1:
        raise UnrecoverableError("refused the first time")
    return {"runs": runs}


@pytest.fixture
def board(ns: Namespace) -> Iterator[str]:
    """Bull Board over this test's prefix, showing the `email` queue (on a Redis Cluster: `--cluster`); yields its
    base URL."""
    node = shutil.which("node")
    assert node is not None, "node is not on PATH (Bull Board runs on Node.js)"
    assert (COMPAT_DIR / "node_modules" / "@bull-board" / "api").is_dir(), "run `npm ci --prefix compat`"
    cluster = ["--cluster"] if ns.settings.redis_cluster else []
    proc = subprocess.Popen([node, str(COMPAT_DIR / "bull_board.mjs"), *cluster, ns.settings.redis_url,
                             ns.settings.prefix, "email"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=COMPAT_DIR)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, "Bull Board exited before listening"
        yield json.loads(line)["url"]
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)


def call(url: str, method: str = "GET") -> Any:
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def board_name(ns: Namespace, queue: str) -> str:
    """The queue's name in Bull Board's routes, URL-encoded: BullMQ's, `{email}` on a Redis Cluster."""
    return urllib.parse.quote(f"{{{queue}}}" if ns.settings.redis_cluster else queue, safe="")


def board_queue(url: str, name: str, status: str) -> dict[str, Any]:
    queues: list[dict[str, Any]] = call(f"{url}/api/queues?activeQueue={name}&status={status}&page=1&jobsPerPage=50")[
        "queues"]
    [queue] = queues
    return queue


def sweep() -> Any:
    """The scheduler function's every-minute sweep, invoked as EventBridge Scheduler invokes it."""
    return FunctionRunner("scheduler").invoke(dict(SWEEP_EVENT))


@pytest.mark.cluster  # also with `--cluster` on a Redis Cluster (tests/conftest.py)
def test_bull_board_lists_what_jobqueue_holds_and_its_retry_runs_the_job(ns: Namespace, board: str) -> None:
    email, admin, name = Queue("email"), QueueAdmin("email"), board_name(ns, "email")
    done = email.add(BOARD_JOB, {"fail": False})
    dead = email.add(BOARD_JOB, {"fail": True})
    functions = LocalFunctions(ns, ["email"], ["dead"])
    functions.pump(lambda: email.get_job_counts()["failed"] == 1 and email.get_job_counts()["completed"] == 1,
                   timeout=20)

    failed = board_queue(board, name, "failed")
    assert failed["displayName"] == "email"
    assert {state: failed["counts"][state] for state in email.get_job_counts()} == email.get_job_counts()
    [shown] = failed["jobs"]
    ours = email.get_job(dead)
    assert ours is not None
    assert (shown["id"], shown["name"], shown["data"], shown["failedReason"], shown["attempts"]) == (
        dead, BOARD_JOB, {"fail": True}, ours.failedReason, ours.attemptsMade)
    [finished] = board_queue(board, name, "completed")["jobs"]
    assert (finished["id"], finished["returnValue"]) == (done, {"runs": 1})
    assert call(f"{board}/api/queues/{name}/{dead}")["job"]["failedReason"] == "refused the first time"

    assert call(f"{board}/api/queues/{name}/{dead}/retry", "PUT") is None
    assert email.get_state(dead) == "waiting" and messages_in(ns, "email") == 0, "Bull Board wrote Redis alone"
    assert sweep()["resent"]["email"] == 1
    functions.pump(lambda: email.get_state(dead) == "completed", timeout=20)
    job = email.get_job(dead)
    assert job is not None and job.returnvalue == {"runs": 2}
    assert sweep()["resent"]["email"] == 0, "each retried job is sent once"
    assert admin.get_jobs("completed", 0, 9)[0].id in {dead, done}


def npm_add(ns: Namespace, opts: dict[str, Any] | None = None) -> str:
    """A job npm BullMQ's `queue.add` writes straight into Redis (with `opts`), as a Node service would (on a
    Redis Cluster through an ioredis Cluster, to the queue's hash tag); its id."""
    node = shutil.which("node")
    assert node is not None
    script = ("import { Queue } from 'bullmq'; import { connect, queueName } from './stdio.mjs';"
              "const request = JSON.parse(process.argv[1]); const connection = connect(request);"
              "const q = new Queue(queueName(request, 'email'), { connection, prefix: request.prefix });"
              f"const job = await q.add('{BOARD_JOB}', {{ fail: false }}, request.opts);"
              "console.log(JSON.stringify(job.id)); await q.close(); connection.disconnect();")
    request = {"redisUrl": ns.settings.redis_url, "cluster": ns.settings.redis_cluster, "prefix": ns.settings.prefix,
               "opts": opts or {}}
    result = subprocess.run([node, "--input-type=module", "-e", script, json.dumps(request)], capture_output=True,
                            text=True, cwd=COMPAT_DIR, check=True, timeout=30)
    return str(json.loads(result.stdout))


def test_a_job_npm_bullmq_adds_runs_after_the_sweep(ns: Namespace) -> None:
    delayed, waiting = npm_add(ns, {"delay": 1500}), npm_add(ns)
    email = Queue("email")
    assert (email.get_state(delayed), email.get_state(waiting)) == ("delayed", "waiting")
    assert sweep()["resent"]["email"] == 2
    functions = LocalFunctions(ns, ["email"])
    functions.pump(lambda: email.get_state(waiting) == "completed" and email.get_state(delayed) == "completed",
                   timeout=30)
    finished = [email.get_job(job_id) for job_id in (delayed, waiting)]
    assert all(job is not None and job.attemptsMade == 1 for job in finished)
    delayed_job = finished[0]
    assert delayed_job is not None and delayed_job.processedOn is not None
    assert delayed_job.processedOn >= delayed_job.timestamp + 1500, "a BullMQ delay is kept"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seam", ["adopt_jobs", "send", "confirm_sent"])
def test_a_sweeper_cut_at_any_step_of_adopting_a_job_leaves_it_to_run_once(ns: Namespace, seam: str,
                                                                            kind: Kind) -> None:
    """The adoption's steps: mark the job unsent and move the cursor (one script), send it, clear the mark. Cut
    after any of them, the next sweep (or the resend of unsent jobs) sends it: it runs exactly once."""
    job_id = npm_add(ns)
    queue = Queue("email", sqs=FaultySqs(ns.sqs, Fault(kind, sqs_down)) if seam == "send" else None)
    if seam != "send":
        inject(queue.scripts, seam, Fault(kind))
    attempt(queue.adopt_foreign)

    email, functions = Queue("email"), LocalFunctions(ns, ["email"])
    email.adopt_foreign()
    email.resend_unsent(older_than_ms=0)
    functions.pump(lambda: email.get_state(job_id) == "completed" and messages_in(ns, "email") == 0, timeout=30)
    assert email.adopt_foreign() == 0 and email.resend_unsent(older_than_ms=0) == 0
    assert ns.redis.zcard(ns.settings.queue_keys("email").unsent) == 0
    job = email.get_job(job_id)
    assert job is not None and job.returnvalue == {"runs": 1} and job.attemptsMade == 1
