"""Acceptance: `jobqueue dev` (`make run`) restarted on its state folder keeps its jobs and its ports, takes the
export line it printed before back when it is pasted into its shell, and `--fresh` (`make run-fresh`) starts
empty; `jobqueue env` prints the export line only while it runs."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from jobqueue.local.services import free_port
from tests.conftest import ROOT
from tests.local.test_dev_process import LEFT_OUT, SECRET, TOKEN, request, wait_for

AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/json"}


class Dev:
    """One `python -m jobqueue.local.dev` on `state`, its API on `port`, with `pasted` in its environment."""

    def __init__(self, tmp_path: Path, state: Path, port: int, pasted: dict[str, str], *args: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if k not in LEFT_OUT}
        self.env.update({"JOBQUEUE_API_PORT": str(port), "SERVICE_TOKEN": TOKEN, "GHL_WEBHOOK_SECRET": SECRET,
                         "JOBQUEUE_STATE_DIR": str(state)})
        self.url = f"http://127.0.0.1:{port}"
        self.log = tmp_path / f"dev-{len(list(tmp_path.glob('dev-*.log')))}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "jobqueue.local.dev", *args], cwd=ROOT,
                                            env={**self.env, **pasted}, stdout=out, stderr=subprocess.STDOUT)
        wait_for(lambda: request("GET", f"{self.url}/health")[0] == 200, 180, f"the API; log: {self.log}")

    def line(self) -> str:
        [line] = [line for line in self.log.read_text().splitlines() if line.startswith("export ")]
        return line

    def export(self) -> dict[str, str]:
        return dict(pair.split("=", 1) for pair in shlex.split(self.line())[1:])

    def api(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = request(method, f"{self.url}{path}", None if body is None else json.dumps(body).encode(),
                                 JSON)
        assert status < 300, (status, answer)
        return answer

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(60) == 0, self.log.read_text()[-2000:]


def jobqueue_env(state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobqueue.cli", "env"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "JOBQUEUE_STATE_DIR": str(state)}, timeout=60, check=False)


def test_a_restart_keeps_jobs_ports_and_a_pasted_export_line_and_fresh_starts_empty(tmp_path: Path) -> None:
    state, port = tmp_path / "state", free_port()
    first = Dev(tmp_path, state, port, {})
    try:
        first.api("POST", "/queues/cache-warmup/pause")
        waiting = first.api("POST", "/jobs", {"queue": "cache-warmup", "name": "warm",
                                              "data": {"urls": [f"http://127.0.0.1:{free_port()}/"], "timeout": 1}})
        delayed = first.api("POST", "/jobs", {"queue": "data-processing", "name": "sum", "data": {"items": [1, 2, 3]},
                                              "opts": {"delay": 10_000}})
        assert first.api("GET", f"/queues/data-processing/jobs/{delayed['jobId']}")["state"] == "delayed"
        printed = first.export()
        assert jobqueue_env(state).stdout == first.line() + "\n"
        assert printed["JOBQUEUE_LOCAL"] == "AWS_ENDPOINT_URL,REDIS_URL"
    finally:
        first.stop()
    stopped = jobqueue_env(state)
    assert (stopped.returncode, stopped.stdout) == (1, "")
    assert stopped.stderr == (f"jobqueue: no jobqueue dev runs with its state in {state}: start one with `make run` "
                              "(JOBQUEUE_STATE_DIR names another folder)\n")

    # The natural sequence: the export line pasted into the shell that runs `make run` again.
    second = Dev(tmp_path, state, port, printed)
    try:
        assert ("jobqueue dev: AWS_ENDPOINT_URL, REDIS_URL came from the export line of a stopped jobqueue dev: "
                "starting its own again") in second.log.read_text()
        assert second.export() == printed  # the old line is valid again, stand-ins' URLs included
        paused = second.api("GET", "/queues/cache-warmup")
        assert (paused["paused"], paused["waiting"], paused["eventSources"]["enabled"]) == (1, 1, 0)
        second.api("POST", "/queues/cache-warmup/resume")
        for queue, job in (("cache-warmup", waiting), ("data-processing", delayed)):
            wait_for(lambda q=queue, j=job: second.api("GET", f"/queues/{q}/jobs/{j['jobId']}")["state"] == "completed",
                     120, f"{queue} job completing after the restart; log: {second.log}")
        assert second.api("GET", f"/queues/data-processing/jobs/{delayed['jobId']}")["returnvalue"]["sum"] == 6
    finally:
        second.stop()

    fresh = Dev(tmp_path, state, port, {}, "--fresh")
    try:
        counts = fresh.api("GET", "/queues/data-processing")
        assert (counts["completed"], counts["total"]) == (0, 0)
        assert fresh.api("GET", "/queues/cache-warmup")["paused"] == 0
        assert fresh.export() == printed  # same ports
    finally:
        fresh.stop()


def test_a_given_endpoint_that_does_not_answer_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """A stale AWS_ENDPOINT_URL without the runtime's marker (set by hand, or from an older line)."""
    dead = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k not in LEFT_OUT}
    result = subprocess.run([sys.executable, "-m", "jobqueue.local.dev"], cwd=ROOT, capture_output=True, text=True,
                            env={**env, "AWS_ENDPOINT_URL": dead, "JOBQUEUE_STATE_DIR": str(tmp_path)}, timeout=120,
                            check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (f"jobqueue dev: AWS_ENDPOINT_URL={dead} does not answer: start what it names, or "
                             "`unset AWS_ENDPOINT_URL` and jobqueue dev starts its own\n")
