"""`jobqueue invoke FUNCTION EVENT.json`: every sample event in events/ through its function."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobqueue.cli import main
from tests.api.conftest import GHL_SECRET, TOKEN
from tests.conftest import ROOT, Namespace

SECRETS = [f"--env=SERVICE_TOKEN={TOKEN}", f"--env=GHL_WEBHOOK_SECRET={GHL_SECRET}"]
# In an order where each event finds what it reads: the job it asks for, the dead letter it redrives.
SAMPLES = [
    ("sqs-worker-lead-processing.json", "worker-lead-processing", {"batchItemFailures": []}),
    ("sqs-dlq-lead-processing.json", "dead-letter-lead-processing-dlq", {"batchItemFailures": []}),
    ("scheduler.json", "scheduler", {"queue": "health-check", "jobId": "repeat-run-health-check-20260329T010500Z"}),
    ("scheduler-sweep.json", "scheduler", "resent nothing"),  # every job above was sent: no queue owes one
    ("api-webhook-gohighlevel.json", "api", 401),  # recorded 2026-03-29: past GoHighLevel's 300 s tolerance
    ("api-post-jobs.json", "api", 202),
    ("api-get-job.json", "api", 200),
    ("api-get-queue.json", "api", 200),
    ("api-post-jobs-bulk-availability.json", "api", 200),
    ("api-get-stats.json", "api", 200),
    ("api-get-dlq.json", "api", 200),
    ("api-post-dlq-redrive.json", "api", 200),
    ("api-get-schedules.json", "api", 200),
    ("api-get-health.json", "api", 200),
    ("api-get-metrics.json", "api", 200),
    ("api-post-queue-pause.json", "api", 200),
]


def test_the_samples_cover_every_event_file() -> None:
    assert sorted(name for name, _, _ in SAMPLES) == sorted(p.name for p in (ROOT / "events").glob("*.json"))


def test_every_sample_event_runs_and_prints_the_handler_response(ns: Namespace,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    for name, function, expected in SAMPLES:
        code = main(["invoke", function, str(ROOT / "events" / name), *SECRETS])
        printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])  # after any log lines
        assert code == 0, (name, printed)
        if isinstance(expected, int):
            assert printed["statusCode"] == expected, (name, printed)
        elif expected == "resent nothing":
            assert printed == {"resent": dict.fromkeys(ns.catalog.queues, 0), "payloadsDeleted": 0}, name
        else:
            assert printed == expected, name
    body = json.loads(printed["body"])
    assert body == {"queue": "lead-processing", "paused": True,
                    "eventSources": {"enabled": 0, "disabled": 0, "transitioning": 0, "stopped": True}}


def test_the_console_command_prints_the_response(ns: Namespace) -> None:
    done = subprocess.run([sys.executable, "-m", "jobqueue.cli", "invoke", "scheduler",
                           str(ROOT / "events" / "scheduler.json")],
                          env=ns.env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "queue": "health-check", "jobId": "repeat-run-health-check-20260329T010500Z"}


def test_a_function_error_is_printed_as_lambda_reports_it(ns: Namespace, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    event = tmp_path / "bad.json"
    event.write_text(json.dumps({"data": {}}))
    assert main(["invoke", "scheduler", str(event)]) == 1
    error = json.loads(capsys.readouterr().out)
    assert error["errorType"] == "InvalidJobError" and "'queue' and 'name'" in error["errorMessage"]


@pytest.mark.parametrize(("args", "message"), [
    (["invoke", "no-such-function", "events/scheduler.json"], "unknown function 'no-such-function'"),
    (["invoke", "scheduler", "events/missing.json"], "event file events/missing.json"),
    (["invoke", "scheduler", "README.md"], "not JSON"),
    (["invoke", "scheduler", "events/scheduler.json", "--env", "NOEQUALS"], "--env 'NOEQUALS': expected NAME=VALUE"),
])
def test_bad_arguments_are_usage_errors_naming_the_problem(ns: Namespace, args: list[str], message: str,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert main(args) == 2
    assert message in capsys.readouterr().err
