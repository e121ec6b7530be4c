"""The project's documented shell commands, as steps a test runs in one bash session and checks.

Where commands are documented:
- README.md: every ```bash block (also ```sh, ```shell), in document order, under its heading (every fenced
  block names its language, so none is skipped unseen);
- docstrings of the project's Python modules, classes and functions: lines starting with the prompt `$ `
  (a line ending in a backslash, or inside an open quote, continues on the next line).

What a command promises, in its trailing `# comment`:
- `"key": value` (a JSON scalar; a string ending in `...` is a prefix): an object somewhere in the command's
  JSON output has that key with that value; `"key": {` or `"key": [`: an object has that key;
- `{key, other}`: an object in the output has those keys;
- a leading HTTP status (`# 202 {...}`): the command's last HTTP answer had it;
- `a moment later` or `after ~N s`: the work is asynchronous, so the command is run again until its promises
  hold (bounded by `Shell.poll_timeout`).
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Command", "Promise", "Shell", "StepResult", "docstring_commands", "readme_blocks", "split_commands",
           "unlabeled_fences", "unmarked_docstring_commands"]

FENCE = re.compile(r"^```(\w*)\s*$")
SHELL_LANGUAGES = {"bash", "sh", "shell"}
PROMPT = "$ "
STATUS = re.compile(r"^\s*([1-5]\d\d)\b")
WAIT = re.compile(r"a moment later|after ~?\d+ ?s\b", re.IGNORECASE)
PAIR = re.compile(r'"([^"]+)"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null|\{|\[)')
KEYS = re.compile(r"\{\s*([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*\}")
SHELL_LIKE = re.compile(r"^\s{4,}(?:[A-Z_][A-Z0-9_]*=\S*\s+)*"
                        r"(?:curl|make|jobqueue|redis-cli|aws|python3?|\.venv/bin/\S+)\s")
"""An indented docstring line that starts like a shell command (after any `VAR=value`): it needs the prompt."""


@dataclass(frozen=True)
class Promise:
    """What a command's comment says its output shows."""

    status: int | None = None
    pairs: tuple[tuple[str, Any], ...] = ()
    keys: tuple[str, ...] = ()
    waits: bool = False

    @classmethod
    def parse(cls, comment: str) -> Promise:
        status = STATUS.match(comment)
        pairs = tuple((key, ... if raw in "{[" else json.loads(raw)) for key, raw in PAIR.findall(comment))
        keys = tuple(key.strip() for group in KEYS.findall(comment) for key in group.split(","))
        return cls(int(status.group(1)) if status else None, pairs, keys, bool(WAIT.search(comment)))

    def broken(self, stdout: str, statuses: list[int]) -> list[str]:
        """What of this promise the output does not show (empty: all of it holds)."""
        problems = []
        if self.status is not None and (not statuses or statuses[-1] != self.status):
            problems.append(f"HTTP status {self.status} promised, got {statuses or 'no HTTP answer'}")
        if self.pairs or self.keys:
            objects = [found for doc in _json_documents(stdout) for found in _objects(doc)]
            if not objects:
                return [*problems, "JSON output promised, got none"]
            for key, value in self.pairs:
                if not any(key in obj and _matches(obj[key], value) for obj in objects):
                    problems.append(f"no {key!r}: {value!r} in the output")
            problems += [f"no key {key!r} in the output" for key in self.keys if not any(key in o for o in objects)]
        return problems


def _json_documents(text: str) -> list[Any]:
    """The output as one JSON document, else one per line (JSON Lines, jq); lines that are not JSON are left."""
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    found = []
    for line in text.splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def _objects(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, dict):
        return [doc, *(o for value in doc.values() for o in _objects(value))]
    if isinstance(doc, list):
        return [o for item in doc for o in _objects(item)]
    return []


def _matches(actual: Any, promised: Any) -> bool:
    if promised is Ellipsis:  # `"key": {` or `"key": [`: only the key is promised
        return True
    if isinstance(promised, str) and promised.endswith("..."):
        return isinstance(actual, str) and actual.startswith(promised[:-3])
    if isinstance(promised, bool) or isinstance(actual, bool) or promised is None:
        return actual is promised
    return bool(actual == promised)


@dataclass(frozen=True)
class Command:
    """One command as documented: its text (continuation lines included), where it is, what it promises."""

    text: str
    source: str
    line: int
    section: str
    promise: Promise = field(default_factory=Promise)

    def __str__(self) -> str:
        return f"{self.source}:{self.line} ({self.section}): {self.text}"


def _comment_start(line: str, quote: str | None) -> tuple[int | None, str | None]:
    """Where a `#` comment starts in `line` (None: no comment), and the quote still open at its end."""
    escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return index, None
    return None, quote


def split_commands(lines: list[tuple[int, str]], source: str, section: str) -> list[Command]:
    """Lines (number, text) to commands: comment-only lines dropped, continued lines joined."""
    commands: list[Command] = []
    parts: list[str] = []
    comments: list[str] = []
    first, quote = 0, None
    for number, line in lines:
        start, quote = _comment_start(line, quote)
        code = (line if start is None else line[:start]).rstrip()
        if start is not None:
            comments.append(line[start + 1:])
        if not parts and not code.strip():
            comments.clear()
            continue
        if not parts:
            first = number
        parts.append(code)
        if quote is None and not code.endswith("\\"):
            promise = Promise.parse(" ".join(comments))
            commands.append(Command("\n".join(parts), source, first, section, promise))
            parts, comments = [], []
    if parts:
        raise ValueError(f"{source}:{first}: a command that never ends (open quote or trailing backslash)")
    return commands


def readme_blocks(root: Path, path: Path) -> list[list[Command]]:
    """The shell blocks of a Markdown file under `root`, each a list of commands, in document order."""
    blocks: list[list[Command]] = []
    section, language = "", None
    body: list[tuple[int, str]] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fence = FENCE.match(line)
        if language is None and fence:
            language, body = fence.group(1), []
        elif language is not None and line.startswith("```"):
            if language in SHELL_LANGUAGES:
                blocks.append(split_commands(body, str(path.relative_to(root)), section))
            language = None
        elif language is not None:
            body.append((number, line))
        elif line.startswith("#"):
            section = line.lstrip("#").strip()
    return blocks


def unlabeled_fences(path: Path) -> list[int]:
    """Lines opening a fenced block that names no language: commands there would never run, so every block says
    what it holds (```bash runs; ```text, ```json, ```python do not)."""
    opening, found = True, []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("```"):
            if opening and line.strip() == "```":
                found.append(number)
            opening = not opening
    return found


def _docstrings(path: Path) -> list[tuple[int, str, str]]:
    """(first line, owner, cleaned docstring) of a module's docstrings."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                    first.value.value, str):
                owner = getattr(node, "name", "module docstring")
                found.append((first.lineno, owner, inspect.cleandoc(first.value.value)))
    return found


def docstring_commands(root: Path, paths: list[Path]) -> list[list[Command]]:
    """The `$ ` commands of every docstring in `paths`, one list per docstring (line numbers approximate: the
    docstring's first line plus the line within it)."""
    blocks = []
    for path in paths:
        for start, owner, text in _docstrings(path):
            lines = text.splitlines()
            numbered: list[tuple[int, str]] = []
            open_, quote = False, None
            for offset, line in enumerate(lines):
                stripped = line.strip()
                if open_ or stripped.startswith(PROMPT):
                    code = stripped if open_ else stripped.removeprefix(PROMPT)
                    numbered.append((start + offset, code))
                    comment, quote = _comment_start(code, quote)
                    open_ = quote is not None or code[:comment].rstrip().endswith("\\")
            if numbered:
                blocks.append(split_commands(numbered, str(path.relative_to(root)), owner))
    return blocks


def unmarked_docstring_commands(root: Path, paths: list[Path]) -> list[str]:
    """Docstring example lines that look like shell commands but lack the `$ ` prompt (so nothing runs them)."""
    return [f"{path.relative_to(root)}:{start + offset}: {line.strip()}" for path in paths
            for start, _, text in _docstrings(path) for offset, line in enumerate(text.splitlines())
            if SHELL_LIKE.match(line)]


@dataclass
class StepResult:
    """A command's exit status, output, and the HTTP statuses curl saw while it ran."""

    status: int
    stdout: str
    stderr: str
    http: list[int]


CURL_WRAPPER = (r"""curl() { command curl --fail-with-body --silent --show-error """
                r"""--write-out '%{stderr}\n@@http %{http_code}@@\n' "$@"; }""")
"""curl as pasted, except that an HTTP error answer is a failed command (as `--fail-with-body`), and each answer's
status is noted on stderr for the promise check (and no progress meter clutters it)."""
HTTP_NOTE = re.compile(r"^@@http (\d{3})@@$", re.MULTILINE)


class Shell:
    """One bash session, as a person's terminal: commands run in order and share variables; each runs with
    stdin from /dev/null (nothing waits for a prompt) and with `pipefail`."""

    def __init__(self, cwd: Path, env: dict[str, str], workdir: Path, poll_timeout: float = 60.0) -> None:
        self.cwd, self.env, self.workdir, self.poll_timeout = cwd, env, workdir, poll_timeout
        self.process: subprocess.Popen[str] | None = None

    def start(self, *setup: str) -> Shell:
        self.process = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=self.cwd, env=self.env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        for line in ("set -o pipefail", CURL_WRAPPER, *setup):
            result = self.run(line)
            if result.status != 0:
                raise RuntimeError(f"shell setup {line!r} failed: {result.stderr}")
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def run(self, text: str) -> StepResult:
        """Run `text` in the session; its stdout, stderr (from a file) and exit status. A command that never ends
        is cut by pytest's timeout (pyproject.toml)."""
        assert self.process is not None and self.process.stdin is not None and self.process.stdout is not None
        marker = uuid.uuid4().hex
        errors = self.workdir / f"{marker}.err"
        self.process.stdin.write(f"{{\n{text}\n}} </dev/null 2>'{errors}'\nprintf '\\n{marker} %d\\n' $?\n")
        self.process.stdin.flush()
        lines: list[str] = []
        while True:
            line = self.process.stdout.readline()
            if not line:  # the shell exited (e.g. `exit`, or an error that ends a non-interactive bash)
                stderr = errors.read_text() if errors.exists() else ""
                return StepResult(-1, "".join(lines), f"the shell exited: {stderr}", [])
            if line.startswith(marker):
                status = int(line.split()[1])
                break
            lines.append(line)
        stderr = errors.read_text() if errors.exists() else ""
        errors.unlink(missing_ok=True)
        stdout = "".join(lines)
        stdout = stdout[:-1] if stdout.endswith("\n") else stdout  # the newline before the marker
        http = [int(code) for code in HTTP_NOTE.findall(stderr)]
        return StepResult(status, stdout, HTTP_NOTE.sub("", stderr).strip(), http)

    def check(self, command: Command, text: str | None = None) -> list[str]:
        """Run a documented command (`text`: as rewritten for this machine) and what did not hold: its exit
        status and its promises; a waiting promise is polled until it holds or `poll_timeout` passes."""
        deadline = time.monotonic() + self.poll_timeout
        while True:
            result = self.run(text or command.text)
            problems = [] if result.status == 0 else [f"exit status {result.status}: {result.stderr[-400:]}"]
            problems += command.promise.broken(result.stdout, result.http)
            if not problems or not command.promise.waits or time.monotonic() > deadline or result.status < 0:
                return [*problems, f"output: {result.stdout[-600:]!r}"] if problems else []
            time.sleep(1)

    def stop(self) -> None:
        if self.process is not None and self.process.stdin is not None and self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
