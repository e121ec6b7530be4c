"""The `jobqueue` command, run in-process: tables, --json and exit codes, directly and through the HTTP API."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from jobqueue import Queue
from jobqueue.api.services import services
from jobqueue.cli import main
from jobqueue.local.http import ApiServer
from jobqueue.settings import get_settings
from jobqueue.transport import SqsTransport
from tests.conftest import ROOT, Namespace
from tests.support.delivery import runs
from tests.support.faults import Fault, FaultySqs, sequential, sqs_down
from tests.support.functions import LocalFunctions, messages_in
from tests.support.mappings import create_worker_mappings

TOKEN = "cli-test-token-7f3a"
DEAD = 25  # enough dead letters for `dlq redrive --all` to report progress


@pytest.fixture(params=["direct", "api"])
def cli(request: pytest.FixtureRequest, ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The options that pick a backend: none (direct), or `--api` to the local HTTP adapter of the API function."""
    if request.param == "direct":
        yield []
        return
    monkeypatch.setenv("SERVICE_TOKEN", TOKEN)
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    server = ApiServer(port=0).start()
    try:
        yield ["--api", server.url, "--token", TOKEN]
    finally:
        server.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The command's exit code, stdout and stderr (what the test printed before, log lines included, dropped)."""
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.strip().splitlines()]


def kill_jobs(ns: Namespace, count: int) -> list[str]:
    """`count` lead-processing jobs that fail unrecoverably, through the worker and dead-letter functions."""
    queue = Queue("lead-processing")
    ids = queue.add_bulk([{"name": "process-lead", "data": {"leadId": i, "behavior": "unrecoverable"}}
                          for i in range(count)])
    dlq_wait = ns.settings.queue_keys("lead-processing-dlq").wait
    LocalFunctions(ns, ["lead-processing"], ["lead-processing-dlq"]).pump(
        lambda: ns.redis.llen(dlq_wait) == count, timeout=60)
    return ids


@pytest.mark.cluster  # also run on a real Redis Cluster (tests/conftest.py)
def test_stats_table_and_json(ns: Namespace, cli: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    Queue("email").add_bulk([{"name": "generic", "data": {"to": f"{i}@example.com"}} for i in range(3)])

    code, out, _ = run(capsys, *cli, "stats")
    assert code == 0
    table = rows(out)
    assert table[0] == ["QUEUE", "WAITING", "ACTIVE", "DELAYED", "COMPLETED", "FAILED", "TOTAL", "PAUSED"]
    assert ["email", "3", "0", "0", "0", "0", "3"] in table
    assert ["(all)", "3", "0", "0", "0", "0", "3"] in table
    assert ["DEAD-LETTER", "QUEUE", "RECORDS"] in table and ["dead", "0"] in table

    code, out, _ = run(capsys, *cli, "stats", "--json")
    assert code == 0
    body = json.loads(out)
    email = next(q for q in body["queues"] if q["queueName"] == "email")
    assert email == {"queueName": "email", "waiting": 3, "active": 0, "completed": 0, "failed": 0, "delayed": 0,
                     "paused": 0, "total": 3}
    assert body["totals"]["waiting"] == 3 and body["deadLetters"]["lead-processing-dlq"] == 0

    code, out, _ = run(capsys, *cli, "--json", "stats", "email", "webhooks")
    assert code == 0
    assert [q["queueName"] for q in json.loads(out)["queues"]] == ["email", "webhooks"]


@pytest.mark.cluster  # also run on a real Redis Cluster (tests/conftest.py)
def test_dlq_list_and_redrive_all_with_progress(ns: Namespace, cli: list[str],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    ids = kill_jobs(ns, DEAD)

    code, out, _ = run(capsys, *cli, "dlq", "list", "lead-processing", "--end", "4")
    assert code == 0
    table = rows(out)
    assert table[0] == ["RECORD", "JOB", "NAME", "ATTEMPTS", "FAILED", "AT", "ERROR"]
    assert len(table) == 6
    assert all(row[1] in ids and row[2] == "process-lead" and row[3] == "1" for row in table[1:])
    assert all(" ".join(row[5:]) == "lead has no address" for row in table[1:])

    code, out, _ = run(capsys, *cli, "dlq", "list", "lead-processing", "--json")
    assert code == 0
    body = json.loads(out)
    assert (body["queue"], body["deadLetterQueue"]) == ("lead-processing", "lead-processing-dlq")
    assert sorted(r["originalJobId"] for r in body["records"]) == sorted(ids)
    assert {r["error"] for r in body["records"]} == {"lead has no address"}

    code, out, err = run(capsys, *cli, "dlq", "redrive", "lead-processing", "--all")
    assert code == 0
    assert out == f"redrove {DEAD} dead jobs back to lead-processing\n"
    assert err.splitlines()[-1] == f"redrive: {DEAD}/{DEAD} (100%)"
    queue = Queue("lead-processing")
    assert {queue.get_state(i) for i in ids} == {"waiting"}

    code, out, _ = run(capsys, *cli, "dlq", "list", "lead-processing", "--json")
    assert (code, json.loads(out)["records"]) == (0, [])
    code, out, _ = run(capsys, *cli, "--json", "dlq", "redrive", "lead-processing", "--all")
    assert (code, json.loads(out)) == (0, {"queue": "lead-processing", "redriven": [], "remaining": 0})


def test_unknown_queue_job_or_record_exits_3(ns: Namespace, cli: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["stats", "no-such-queue"], ["dlq", "list", "no-such-queue"], ["status", "email", "404"],
                 ["dlq", "remove", "email", "email-404"], ["dlq", "redrive", "email", "email-404"]):
        code, out, err = run(capsys, *cli, *argv)
        assert (code, out) == (3, ""), (argv, err)
        assert err.startswith("jobqueue: ") and ("no-such-queue" in err or "404" in err), err


def test_usage_errors_exit_2(ns: Namespace, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "dlq", "redrive", "email")[0] == 2          # neither ids nor --all
    assert run(capsys, "add", "email", "generic", "--data", "{nope")[0] == 2
    assert run(capsys, "clean", "email")[0] == 2                   # --grace is required
    assert run(capsys, "frobnicate")[0] == 2
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "exit codes:" in out and "4  cannot reach Redis, AWS or the API" in out


def test_unreachable_redis_or_api_exits_4(ns: Namespace, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--api", "http://127.0.0.1:9", "stats")
    assert code == 4 and "cannot reach the API" in err

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")
    for cluster in ("", "1"):  # a Redis Cluster's outage is a ConnectionError too (ClusterClient)
        monkeypatch.setenv("JOBQUEUE_REDIS_CLUSTER", cluster)
        get_settings.cache_clear()
        code, out, err = run(capsys, "stats")
        assert (code, out) == (4, "") and "cannot reach Redis" in err, (cluster, err)
        code, out, _ = run(capsys, "health", "--json")  # health reports, and says unhealthy by its exit code
        assert code == 1
        assert json.loads(out)["redis"]["ok"] is False and json.loads(out)["status"] == "degraded"


@pytest.mark.cluster  # also run on a real Redis Cluster (tests/conftest.py)
def test_job_commands_round_trip(ns: Namespace, cli: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *cli, "add", "email", "welcome", "--data", '{"to": "a@example.com"}',
                       "--opts", '{"jobId": "welcome-a"}')
    assert (code, out) == (0, "welcome-a\n")
    code, out, _ = run(capsys, *cli, "status", "email", "welcome-a", "--json")
    job: dict[str, Any] = json.loads(out)
    assert (code, job["state"], job["data"]) == (0, "waiting", {"to": "a@example.com"})
    code, out, _ = run(capsys, *cli, "jobs", "email")
    assert code == 0 and rows(out)[1][:3] == ["welcome-a", "welcome", "waiting"]
    create_worker_mappings(ns, "email")
    assert run(capsys, *cli, "pause", "email")[1] == "email is paused (event sources: 2 disabled)\n"
    email = json.loads(run(capsys, *cli, "stats", "email", "--json")[1])["queues"][0]
    assert (email["paused"], email["eventSources"]["stopped"]) == (1, True)
    assert rows(run(capsys, *cli, "stats", "email")[1])[1][-3:] == ["yes", "2", "disabled"]
    assert run(capsys, *cli, "resume", "email")[1] == "email is running (event sources: 2 enabled)\n"
    assert run(capsys, *cli, "drain", "email")[1] == "removed 1 jobs from email\n"
    code, _, err = run(capsys, *cli, "add", "email", "generic", "--opts", '{"attempts": 0}')
    assert code == 1 and "attempts" in err


def test_promote_one_delayed_job_or_all(ns: Namespace, cli: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    for job_id in ("later-a", "later-b"):
        Queue("email").add("generic", {}, jobId=job_id, delay=3_600_000)
    assert run(capsys, *cli, "promote", "email", "later-a") == (
        0, "promoted job later-a of email: it starts now\n", "")
    code, _, err = run(capsys, *cli, "promote", "email", "later-a")
    assert code == 1 and "is prioritized, not delayed" in err  # generic jobs have a priority
    code, out, _ = run(capsys, *cli, "promote", "email", "--json")
    assert (code, json.loads(out)["promoted"]) == (0, ["later-b"])
    assert run(capsys, *cli, "promote", "email")[1] == "promoted 0 delayed jobs of email\n"
    assert messages_in(ns, "email") == 4, "each job's new message, and its old delayed one"


def test_add_with_a_group(ns: Namespace, cli: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`--group` is BullMQ Pro's `group` option, kept in the job's opts and on its SQS message; a bad id adds
    nothing and says why (the API's 400 through `--api`)."""
    code, out, _ = run(capsys, *cli, "add", "email", "generic", "--data", "{}", "--group", "tenant-a",
                       "--opts", '{"jobId": "g-1"}')
    assert (code, out) == (0, "g-1\n")
    assert Queue("email").get_job("g-1").opts["group"] == {"id": "tenant-a"}  # type: ignore[union-attr]
    message = ns.sqs.receive_message(QueueUrl=ns.queue_urls["email"], MessageSystemAttributeNames=["All"])
    assert message["Messages"][0]["Attributes"]["MessageGroupId"] == "tenant-a"
    code, _, err = run(capsys, *cli, "add", "email", "generic", "--data", "{}", "--group", "a:b")
    assert code == 1 and "group" in err
    assert sum(Queue("email").get_job_counts().values()) == 1


def test_schedules_and_health(ns: Namespace, cli: list[str], capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(capsys, *cli, "schedules")
    assert code == 0
    table = rows(out)
    assert table[0][:4] == ["QUEUE", "NAME", "PATTERN", "TZ"]
    health = next(r for r in table if r[0] == "health-check")
    assert health[:2] == ["health-check", "run-health-check"] and "cron(0/5" in out

    monkeypatch.setenv("JOBQUEUE_SCHEDULER_TARGET_ARN", "arn:aws:lambda:us-east-1:000000000000:function:scheduler")
    monkeypatch.setenv("JOBQUEUE_SCHEDULER_ROLE_ARN", "arn:aws:iam::000000000000:role/scheduler")
    monkeypatch.setenv("JOBQUEUE_SCHEDULE_GROUP", ns.settings.prefix)
    code, out, _ = run(capsys, *cli, "schedules", "init")
    assert code == 0
    assert sorted(r[:2] for r in rows(out)[1:]) == [["health-check.run-health-check", "created"],
                                                    ["scheduled-messages.process-scheduled-messages", "created"]]
    code, out, _ = run(capsys, *cli, "schedules", "init", "--prune", "--json")
    assert code == 0 and {c["action"] for c in json.loads(out)["changes"]} == {"updated"}

    code, out, _ = run(capsys, *cli, "schedules", "add", "email", "digest", "--pattern", "0 9 * * *", "--tz",
                       "Europe/Berlin", "--limit", "3", "--data", '{"kind": "daily"}')
    assert code == 0 and rows(out)[1][:2] == ["email", "digest"] and "Europe/Berlin  cron(0 9 ? * * *)" in out
    assert "digest" in {r[1] for r in rows(run(capsys, *cli, "schedules")[1])[1:]}
    code, _, err = run(capsys, *cli, "schedules", "add", "email", "bad", "--pattern", "0 9 * *")
    assert code != 0 and "expected 5 fields" in err
    assert run(capsys, *cli, "schedules", "remove", "digest")[1] == "removed schedule digest of email\n"
    assert run(capsys, *cli, "schedules", "remove", "digest")[0] != 0
    code, out, _ = run(capsys, *cli, "health")
    assert code == 0 and out.startswith("status: ok\nredis memory: ")
    assert "no limit (maxmemory 0)" in out.splitlines()[1] or " of " in out.splitlines()[1]


def test_add_bulk_partly_refused_says_which_and_running_it_again_completes_it(
        ns: Namespace, cli: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"name": "process-lead", "data": {"leadId": i}, "opts": {"jobId": f"f-{i}"}})
                            + "\n" for i in range(25)))
    services().queue("lead-processing")  # built now, so that its SQS can be broken for the first run
    services().queue("lead-processing").transport.sqs = FaultySqs(ns.sqs, Fault("error", sqs_down, skip=1))
    services().queue("lead-processing").transport.send = sequential(  # type: ignore[method-assign]
        services().queue("lead-processing").transport.send)
    code, out, _ = run(capsys, *cli, "add-bulk", "lead-processing", str(jobs))
    assert code == 1 and out.startswith("added 15 of 25 jobs to lead-processing\nnot accepted")
    assert [row[:3] for row in rows(out.split("\n", 2)[2])[1:]] == [[str(i), f"f-{i}", "no"] for i in range(10, 20)]
    services().queue("lead-processing").transport = SqsTransport(ns.sqs, services().queue("lead-processing").urls)
    code, out, _ = run(capsys, *cli, "add-bulk", "lead-processing", str(jobs), "--json")
    assert code == 0 and json.loads(out)["jobIds"] == [f"f-{i}" for i in range(25)]
    LocalFunctions(ns, ["lead-processing"]).pump(lambda: messages_in(ns, "lead-processing") == 0, timeout=30)
    assert [runs(f"f-{i}") for i in range(25)] == [[1]] * 25


def test_add_bulk_refuses_a_file_that_is_not_jobs(ns: Namespace, capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    for text, problem in (("{not json", "not a JSON array nor JSON Lines"), ("[1, 2]", "each an object"),
                          ('[{"data": {}}]', "invalid arguments: jobs.0.name")):
        bad.write_text(text)
        code, _, err = run(capsys, "add-bulk", "lead-processing", str(bad))
        assert code == 2 and problem in err, err
    assert run(capsys, "add-bulk", "lead-processing", str(tmp_path / "missing.json"))[0] == 2


def test_a_reader_that_closes_the_pipe_early_gets_no_traceback(ns: Namespace) -> None:
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {sys.executable} -m jobqueue.cli stats | true"],
                          env=ns.env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (0, "")


def test_no_aws_region_is_exit_4_saying_what_to_set(ns: Namespace) -> None:
    env = {k: v for k, v in ns.env.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    done = subprocess.run([sys.executable, "-m", "jobqueue.cli", "stats"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 4 and "Traceback" not in done.stderr, done.stderr
    assert "no region is set (AWS_REGION, or AWS_DEFAULT_REGION)" in done.stderr
