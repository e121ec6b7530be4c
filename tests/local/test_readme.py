"""Every documented shell command works as pasted (issue 17, point 1).

README.md's shell blocks (events/README.md's too), then the `$ ` examples in the project's docstrings
(`examples/` included), run in order in a bash session against `jobqueue dev`, started as `make run` starts it
(the Makefile's local defaults, embedded Redis and moto) but on a free API port, with the `export` line it prints
pasted first. Each command's exit status is checked (curl's HTTP errors count as failures) and so is what its
comment promises; the conventions are in `tests/support/shell_docs.py`. The walkthroughs name the API at its
default port: the one assignment `API=http://127.0.0.1:3000` is rewritten to the port used here; and the runtime
keeps its state in a folder of the test's (JOBQUEUE_STATE_DIR, in the runtime's and the shell's environment), not
`.jobqueue/`.
Commands that need what this machine cannot give are in EXCLUDED, each with its reason.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jobqueue.local.services import free_port
from tests.conftest import ROOT
from tests.support.shell_docs import (
    Command,
    Shell,
    docstring_commands,
    readme_blocks,
    split_commands,
    unlabeled_fences,
    unmarked_docstring_commands,
)

EXCLUDED = {
    "make run": "the runtime under test is the one `make run` starts (started here on a free port)",
    "make test": "runs the whole suite, this test included",
    "make localstack": "installs or starts LocalStack: tests/integration runs it",
    "pytest tests/integration": "the integration suite itself",
    "docker run": "needs Docker",
    "npm install -g": "installs the CDK CLI globally, for a LocalStack with Docker",
    "export AWS_ACCESS_KEY_ID=test": "credentials for a LocalStack with Docker, not for this runtime",
    "cdklocal ": "deploys to a LocalStack with Docker",
    "cdk bootstrap": "needs AWS credentials",
    "make deploy": "deploys to AWS",
    "make destroy": "deletes a deployed stack",
    "make synth": "a CDK synth of minutes writing cdk.out/ (tests/infra synthesizes the same app)",
    "make checkov": "installs checkov and synthesizes (tests/infra runs it)",
    "bin/checkov ": "reads the synth's cdk.out/ (tests/infra runs checkov)",
    "api.example.com": "needs a deployed API",
    "> openapi.json": "rewrites the committed openapi.json (tests/api keeps it equal to the served one)",
    "jobqueue.local.http": "a server that runs until stopped (`make run` runs it)",
    "jobqueue.local.runner": "a function process's entry point: the runtime starts it",
    "jobqueue.local.sandbox": "a function process's entry point: the runtime starts it",
    "-m bench.": "a benchmark of minutes (the `make bench*` targets)",
    "jobqueue.prebuilt": "writes layers/jobqueue/catalog.json, a build step (`make` and the layer build run it)",
}
"""Documented commands this test does not run (a substring of the command -> why)."""

DEFAULT_API = "API=http://127.0.0.1:3000"
READMES = [ROOT / "README.md", ROOT / "events" / "README.md"]
CODE = [ROOT / "app.py", *sorted(p for top in ("layers", "examples", "functions", "bench", "infra")
                                 for p in (ROOT / top).rglob("*.py") if "node_modules" not in p.parts)]
OUTSIDE = ("AWS_", "JOBQUEUE_", "MOTO_", "REDIS_URL", "SERVICE_TOKEN", "READ_ONLY_TOKEN", "GHL_WEBHOOK_SECRET",
           "VIRTUAL_ENV")


def newcomer_environment() -> dict[str, str]:
    """This environment as a newcomer's terminal has it: none of the variables the test process (or another test)
    may have set for the project in OUTSIDE, and no virtualenv on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUTSIDE)}
    venv = str(ROOT / ".venv")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(venv))
    return env


def makefile_defaults() -> dict[str, str]:
    """The local-only defaults `make run` sets (its LOCAL_ENV: `NAME="$${NAME-default}"`)."""
    return dict(re.findall(r'(\w+)="\$\$\{\1-([^}]*)\}"', (ROOT / "Makefile").read_text()))


@dataclass
class Runtime:
    api: str
    export_line: str
    log: Path
    state: Path


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """`python -m jobqueue.local.dev` as `make run` starts it, on a free API port and with a state folder of its
    own (so it starts empty); the export line it prints."""
    defaults = makefile_defaults()
    assert {"SERVICE_TOKEN", "GHL_WEBHOOK_SECRET"} <= set(defaults), f"the Makefile's LOCAL_ENV changed: {defaults}"
    port, folder = free_port(), tmp_path_factory.mktemp("readme")
    env = {**newcomer_environment(), **defaults, "JOBQUEUE_API_PORT": str(port),
           "JOBQUEUE_STATE_DIR": str(folder / "state")}
    log = folder / "dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "jobqueue.local.dev"], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not (exports := [ln for ln in log.read_text().splitlines() if ln.startswith("export ")]):
            assert process.poll() is None, f"jobqueue dev exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no export line within 180 s: {log.read_text()[-3000:]}"
            time.sleep(0.2)
        yield Runtime(f"http://127.0.0.1:{port}", exports[0], log, folder / "state")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def shell(runtime: Runtime, tmp_path: Path) -> Iterator[Shell]:
    """A newcomer's second terminal in the project folder, with the export line pasted (and the runtime's state
    folder, which is `.jobqueue/` for a newcomer, so `jobqueue env` finds this runtime)."""
    env = {**newcomer_environment(), "JOBQUEUE_STATE_DIR": str(runtime.state)}
    session = Shell(ROOT, env, tmp_path).start(runtime.export_line)
    yield session
    session.stop()


def excluded(command: Command) -> str | None:
    return next((why for text, why in EXCLUDED.items() if text in command.text), None)


def assert_all_work(shell: Shell, runtime: Runtime, blocks: list[list[Command]], what: str) -> None:
    """Run every command not excluded, in order, then fail listing each that did not work, with why."""
    failures = []
    for command in (c for block in blocks for c in block if not excluded(c)):
        text = command.text.replace(DEFAULT_API, f"API={runtime.api}")
        if problems := shell.check(command, text):
            failures.append("\n    ".join([str(command), *problems]))
        if not shell.alive():
            failures.append("the shell exited: no later command ran")
            break
    assert not failures, f"{what} that did not work as pasted (runtime log: {runtime.log}):\n" + "\n".join(failures)


def test_every_readme_shell_command_works_as_pasted(shell: Shell, runtime: Runtime) -> None:
    blocks = [block for path in READMES for block in readme_blocks(ROOT, path)]
    assert any(DEFAULT_API in c.text for block in blocks for c in block), "the API rewrite has nothing to rewrite"
    assert_all_work(shell, runtime, blocks, "README commands")


def test_every_docstring_shell_example_works_as_pasted(shell: Shell, runtime: Runtime) -> None:
    """Docstrings describe the installed package (`jobqueue`, `python -m jobqueue...`): the venv is activated."""
    assert shell.run("source .venv/bin/activate").status == 0
    blocks = docstring_commands(ROOT, CODE)
    assert any(c.source == "examples/processors.py" and not excluded(c) for block in blocks for c in block)
    assert_all_work(shell, runtime, blocks, "docstring examples")


def test_every_fenced_block_names_its_language() -> None:
    """An unlabeled block in a README would hide its commands from this module."""
    assert [(str(path.relative_to(ROOT)), line) for path in READMES for line in unlabeled_fences(path)] == []


def test_shell_examples_in_docstrings_carry_the_prompt() -> None:
    """A docstring's shell example without `$ ` would never be run by this module."""
    assert unmarked_docstring_commands(ROOT, CODE) == []


def test_every_exclusion_names_a_documented_command() -> None:
    """EXCLUDED stays minimal: each entry still matches a command somewhere."""
    blocks = [*(block for path in READMES for block in readme_blocks(ROOT, path)), *docstring_commands(ROOT, CODE)]
    commands = [c for block in blocks for c in block]
    assert [text for text in EXCLUDED if not any(text in c.text for c in commands)] == []


def test_a_comment_promise_is_checked_against_the_output() -> None:
    """The conventions of tests/support/shell_docs.py catch what a command does not show."""
    [webhook, wait] = split_commands([
        (1, """curl -X POST $API/webhooks/x \\"""),
        (2, """     -d '{"a": "# not a comment"}'    # 202 {"jobId":"gohighlevel-...","queue":"lead-enrichment"}"""),
        (3, "# a comment line"),
        (4, """curl $API/queues/q   # a moment later: "completed":1, {queueName, total}""")], "README.md", "s")
    assert webhook.text.endswith("""-d '{"a": "# not a comment"}'""") and not webhook.promise.waits
    assert webhook.promise.broken('{"jobId":"gohighlevel-42","queue":"lead-enrichment"}', [202]) == []
    assert len(webhook.promise.broken('{"jobId":"7","queue":"email"}', [415])) == 3
    assert wait.promise.waits
    assert wait.promise.broken('{"queueName":"q","completed":1,"total":0}', []) == []
    assert wait.promise.broken('{"queueName":"q","completed":true}', []) == [
        "no 'completed': 1 in the output", "no key 'total' in the output"]
    assert wait.promise.broken("not JSON", []) == ["JSON output promised, got none"]
