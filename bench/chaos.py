"""`make chaos`: jobs through the API of `jobqueue dev` while its processes are SIGKILLed, its SQS sends fail and its
Redis restarts empty; then every job is accounted for from a run log kept outside Redis.

The whole `jobqueue dev` runtime starts in this process (as bench/local_throughput.py starts it), under prefixes of
its own, with `bench/chaos_catalog.toml`: a `chaos` queue (10 attempts, fixed 1 s backoff, 3 s function timeout)
and a `chaos` webhook source. Its processor (`bench/chaos_processors.py`) fails 30% of runs with a transient
error and logs every run (start, done or fail) and every dead letter to a file, with the client's token.

Chaos, while client threads send a few thousand jobs (`--jobs`) as single `POST /jobs` (generated or client
`jobId`), bulk `POST /jobs` (with and without `jobId`s) and signed webhooks:

- SQS: the runtime's AWS endpoint is a fault proxy (`tests.support.sqs_fault_proxy`) in front of the emulator;
  SendMessage(Batch) calls are refused, have their reply lost after SQS took them, or lose some entries; every
  `--brownout-every` seconds all sends fail for `--brownout` seconds;
- processes: every few seconds a random worker or API function process is SIGKILLed (pid and time recorded);
- Redis: once, halfway through, it is restarted empty (a throwaway redis-server of this run; with REDIS_URL
  given, a shared server is never restarted, so this run's keys are deleted instead).

Callers behave as a careful client does: a call with a `jobId` or a webhook event id is retried on 5xx, 409 and
connection errors with the same id; a generated-id call is retried (as a new job, with a new token) only after a
503 saying `mayRun: false`, and never after an answer that leaves the outcome open. After the callers finish
and `--chaos-tail` seconds more, chaos stops and the run waits (at most `--quiet-timeout` s) until every accepted
job completed or died, the chaos queue and its DLQ are empty and no job is left marked unsent.

Figures (printed, not judged; the last line is one JSON object):

- `accepted`: jobs a caller was told were accepted (202, or a job id in a 207);
- `lost`: accepted jobs that never completed nor were dead-lettered;
- `phantom_runs`: jobs the caller was told were not added (`mayRun: false`) that ran anyway;
  `phantom_runs_flush_explained`: of those, refused before the Redis restart and run after it (the rollback's
  tombstone was in the Redis that was lost);
- `double_runs`: jobs whose processor completed twice that nothing explains; `double_runs_kill_explained`: the
  first completion's process was SIGKILLed after the processor returned and before it logged anything else (so
  before the worker committed the outcome); `double_runs_flush_explained`: first completed before the Redis
  restart, again after it (the "finished" state was lost);
- `false_dead`: dead letters of jobs that completed or never ran; `dead_early`: dead letters of jobs that did not
  run out of their attempts;
- `attempts_accurate`: every job still in Redis has `attemptsMade` equal to the runs its incarnation logged
  (`attempts_mismatched` counts those that do not, `attempts_mismatched_flush_explained` those whose runs began
  before the Redis restart).

    .venv/bin/python -m bench.chaos --jobs 2000 --seed 7
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import queue
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from redis import Redis

    from jobqueue.local.dev import LocalRuntime
    from tests.support.sqs_fault_proxy import SqsFaultProxy

QUEUE = "chaos"
DLQ = "chaos-dlq"
WEBHOOK_SOURCE = "chaos"
SIGNATURE_HEADER = "X-Chaos-Signature"
ATTEMPTS = 10
"""The chaos queue's attempts (bench/chaos_catalog.toml)."""
WORKER_TIMEOUT_S = 3
"""The chaos queue's function timeout (bench/chaos_catalog.toml): a worker commits a returned job's outcome well
within it, so a SIGKILL later than this after a completion cannot explain a second one."""
CATALOG = Path(__file__).with_name("chaos_catalog.toml")
MAX_TRIES = 6
"""Calls a client makes for one request, retries included."""
HTTP_TIMEOUT_S = 90
"""Longer than the API function's timeout (29 s) plus a wait behind the other clients' requests."""
# Share of the jobs each kind of call carries.
KINDS = {"single": 0.25, "single-id": 0.15, "bulk": 0.20, "bulk-id": 0.20, "webhook": 0.20}
BULK_SIZES = (5, 25)


def log(message: str, started: float) -> None:
    """A progress line on stdout (the runtime's own logs go to the log file)."""
    print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)


# -- the callers' side -------------------------------------------------------------------------------------


@dataclass
class Ticket:
    """One job as its caller knows it: the token in its data, its id once known, and what the caller was told."""

    token: str
    kind: str
    job_id: str | None = None
    status: str = "pending"
    """accepted | refused (told `mayRun: false`) | unsure (no answer, or `mayRun: true`) | error (a 4xx)."""
    answers: list[str] = field(default_factory=list)
    sent_at: float = 0.0
    decided_at: float = 0.0


class Ledger:
    """Every ticket of the run, shared by the client threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tickets: dict[str, Ticket] = {}

    def new(self, kind: str, job_id: str | None = None, token: str | None = None) -> Ticket:
        ticket = Ticket(token or uuid.uuid4().hex, kind, job_id, sent_at=time.time())
        with self._lock:
            self.tickets[ticket.token] = ticket
        return ticket

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(t.status for t in self.tickets.values())


def decide(ticket: Ticket, status: str, job_id: str | None = None) -> None:
    ticket.status, ticket.decided_at = status, time.time()
    if job_id is not None:
        ticket.job_id = job_id


def describe(status: int, body: Any) -> str:
    """A short note of one answer, kept in the ticket."""
    if status == 0:
        return f"no answer ({body})"
    if isinstance(body, dict) and "mayRun" in body:
        return f"{status} mayRun={body['mayRun']}"
    if isinstance(body, dict) and status >= 400:
        return f"{status} {str(body.get('message', ''))[:120]}"
    return str(status)


def retryable(status: int) -> bool:
    """What a client with an id retries: no answer, a conflict (another delivery in progress), 5xx."""
    return status == 0 or status == 409 or status == 429 or status >= 500


class Api:
    """The runtime's HTTP API, one connection per call (the adapter and the function may die under it)."""

    def __init__(self, url: str, token: str, secret: str) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.token, self.secret = token, secret

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
             ) -> tuple[int, Any]:
        """(status, JSON body); status 0 with the error's text when no answer came."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT_S)
        try:
            connection.request(method, path, body=body, headers={"Content-Type": "application/json",
                                                                  **(headers or {})})
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return 0, f"{type(exc).__name__}: {exc}"[:160]
        finally:
            connection.close()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw[:160].decode(errors="replace")

    def add(self, payload: dict[str, Any]) -> tuple[int, Any]:
        return self.call("POST", "/jobs", json.dumps(payload).encode(), {"Authorization": f"Bearer {self.token}"})

    def webhook(self, body: bytes) -> tuple[int, Any]:
        signature = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return self.call("POST", f"/webhooks/{WEBHOOK_SOURCE}", body, {SIGNATURE_HEADER: f"sha256={signature}"})


class Client:
    """One caller thread's behaviour for each kind of call."""

    def __init__(self, api: Api, ledger: Ledger, rng: random.Random, stop: threading.Event) -> None:
        self.api, self.ledger, self.rng, self.stop = api, ledger, rng, stop

    def _pause(self, tries: int) -> None:
        self.stop.wait(min(4.0, 0.25 * 2 ** tries) * (0.5 + self.rng.random()))

    def _data(self, ticket: Ticket) -> dict[str, Any]:
        return {"token": ticket.token, "ms": self.rng.randint(5, 40)}

    def run(self, kind: str, size: int) -> None:
        {"single": self.single, "single-id": self.single_with_id, "webhook": self.webhook,
         "bulk": lambda: self.bulk(size), "bulk-id": lambda: self.bulk_with_ids(size)}[kind]()

    def single(self) -> None:
        """A generated id: nothing to retry with, except after `mayRun: false` (then as a new job)."""
        for tries in range(MAX_TRIES):
            ticket = self.ledger.new("single")
            status, body = self.api.add({"queue": QUEUE, "name": "chaos-single", "data": self._data(ticket)})
            ticket.answers.append(describe(status, body))
            if status == 202:
                decide(ticket, "accepted", body["jobId"])
                return
            if status == 503 and isinstance(body, dict) and body.get("mayRun") is False:
                decide(ticket, "refused")
                if tries + 1 < MAX_TRIES and not self.stop.is_set():
                    self._pause(tries)
                    continue
                return
            decide(ticket, "unsure" if status == 0 or status >= 500 else "error")
            return

    def single_with_id(self) -> None:
        ticket = self.ledger.new("single-id")
        ticket.job_id = f"cid-{ticket.token}"
        payload = {"queue": QUEUE, "name": "chaos-single-id", "data": self._data(ticket),
                   "opts": {"jobId": ticket.job_id}}
        self._retry_with_id(ticket, lambda: self.api.add(payload))

    def webhook(self) -> None:
        ticket = self.ledger.new("webhook")
        body = json.dumps({"eventId": f"evt-{ticket.token}", **self._data(ticket)}).encode()
        self._retry_with_id(ticket, lambda: self.api.webhook(body))

    def _retry_with_id(self, ticket: Ticket, call: Callable[[], tuple[int, Any]]) -> None:
        status, body = 0, None
        for tries in range(MAX_TRIES):
            status, body = call()
            ticket.answers.append(describe(status, body))
            if status == 202:
                decide(ticket, "accepted", body["jobId"])
                return
            if not retryable(status):
                break
            if tries + 1 < MAX_TRIES and not self.stop.is_set():
                self._pause(tries)
        decide(ticket, final_status(status, body))

    def bulk(self, size: int) -> None:
        """Generated ids: a 207's `mayRun: false` jobs are sent again as new jobs; nothing else is retried."""
        pending = [self.ledger.new("bulk") for _ in range(size)]
        for tries in range(MAX_TRIES):
            status, body = self.api.add({"queue": QUEUE, "jobs": [
                {"name": "chaos-bulk", "data": self._data(t)} for t in pending]})
            note = describe(status, body)
            for ticket in pending:
                ticket.answers.append(note)
            if status == 202:
                for ticket, job_id in zip(pending, body["jobIds"], strict=True):
                    decide(ticket, "accepted", job_id)
                return
            if status != 207:
                for ticket in pending:
                    decide(ticket, "unsure" if status == 0 or status >= 500 else "error")
                return
            refused = self._partial(pending, body)
            if not refused or tries + 1 == MAX_TRIES or self.stop.is_set():
                return
            self._pause(tries)
            pending = [self.ledger.new("bulk") for _ in refused]

    def bulk_with_ids(self, size: int) -> None:
        """Client ids: whatever was not accepted is sent again with the same ids; each job ends with what the last
        answer about it said."""
        pending = [self.ledger.new("bulk-id") for _ in range(size)]
        jobs: dict[str, dict[str, Any]] = {}
        for ticket in pending:
            ticket.job_id = f"cid-{ticket.token}"
            jobs[ticket.token] = {"name": "chaos-bulk-id", "data": self._data(ticket), "opts": {"jobId": ticket.job_id}}
        for tries in range(MAX_TRIES):
            status, body = self.api.add({"queue": QUEUE, "jobs": [jobs[t.token] for t in pending]})
            note = describe(status, body)
            for ticket in pending:
                ticket.answers.append(note)
            if status == 202:
                for ticket in pending:
                    decide(ticket, "accepted", ticket.job_id)
                return
            if status == 207:
                self._partial(pending, body)
                pending = [t for t in pending if t.status != "accepted"]
            else:
                for ticket in pending:
                    decide(ticket, final_status(status, body))
                if not retryable(status):
                    return
            if tries + 1 == MAX_TRIES or self.stop.is_set():
                return
            self._pause(tries)

    @staticmethod
    def _partial(pending: list[Ticket], body: dict[str, Any]) -> list[Ticket]:
        """Apply a 207 to its tickets; returns those refused with `mayRun: false`."""
        refused: list[Ticket] = []
        for ticket, job_id in zip(pending, body["jobIds"], strict=True):
            if job_id is not None:
                decide(ticket, "accepted", job_id)
        for rejection in body["rejected"]:
            ticket = pending[rejection["index"]]
            ticket.answers[-1] += f" [{rejection['reason'][:100]}]"
            if rejection.get("jobId"):
                ticket.job_id = rejection["jobId"]
            decide(ticket, "unsure" if rejection["mayRun"] else "refused")
            if not rejection["mayRun"]:
                refused.append(ticket)
        return refused


def final_status(status: int, body: Any) -> str:
    """What a caller who stops after this answer was told."""
    if status == 503 and isinstance(body, dict) and body.get("mayRun") is False:
        return "refused"
    return "unsure" if retryable(status) else "error"


def plan(jobs: int, rng: random.Random) -> list[tuple[str, int]]:
    """The calls to make, (kind, jobs in it), in a random order, carrying `jobs` jobs in all."""
    mean_bulk = sum(BULK_SIZES) / 2
    weights = {k: share / (mean_bulk if k.startswith("bulk") else 1) for k, share in KINDS.items()}
    calls: list[tuple[str, int]] = []
    planned = 0
    while planned < jobs:
        kind = rng.choices(list(weights), list(weights.values()))[0]
        size = min(jobs - planned, rng.randint(*BULK_SIZES) if kind.startswith("bulk") else 1)
        calls.append((kind, size))
        planned += size
    return calls


# -- chaos -----------------------------------------------------------------------------------------------


@dataclass
class Kill:
    pid: int
    function: str
    at: float


class Chaos:
    """The killer and the SQS brownouts, on one thread until stopped; the Redis fault on request."""

    def __init__(self, runtime: LocalRuntime, proxy: SqsFaultProxy, rng: random.Random, args: argparse.Namespace,
                 redis_fault: Callable[[], None]) -> None:
        self.runtime, self.proxy, self.rng, self.args = runtime, proxy, rng, args
        self.redis_fault = redis_fault
        self.kills: list[Kill] = []
        self.restarts: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def start(self) -> Chaos:
        self._thread.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        self._thread.join(30)
        self.proxy.enabled.clear()

    def restart_redis(self) -> None:
        began = time.time()
        self.redis_fault()
        self.restarts.append((began, time.time()))

    def _run(self) -> None:
        next_kill = time.monotonic() + self._kill_gap()
        next_brownout = time.monotonic() + self.args.brownout_every
        while not self.stop.wait(0.1):
            now = time.monotonic()
            if now >= next_kill:
                self._kill_one()
                next_kill = now + self._kill_gap()
            if self.args.brownout > 0 and now >= next_brownout:
                self.proxy.brownout(self.args.brownout)
                next_brownout = now + self.args.brownout_every

    def _kill_gap(self) -> float:
        low, high = self.args.kill_every
        return self.rng.uniform(low, high)

    def _kill_one(self) -> None:
        function = self.rng.choices(["worker-" + QUEUE, "api"], [0.65, 0.35])[0]
        pids = self.runtime.pools[function].pids
        if not pids:
            return
        pid = self.rng.choice(pids)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            self.kills.append(Kill(pid, function, time.time()))


# -- the run log -------------------------------------------------------------------------------------------


class RunLog:
    """The processors' JSON lines, read as they grow."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []
        self._offset = 0
        self._rest = b""

    def read(self) -> list[dict[str, Any]]:
        """Read what was appended since the last call; returns every event so far."""
        if not self.path.exists():
            return self.events
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        self._offset += len(chunk)
        lines = (self._rest + chunk).split(b"\n")
        self._rest = lines.pop()
        self.events += [json.loads(line) for line in lines if line.strip()]
        return self.events


# -- waiting and judging -----------------------------------------------------------------------------------


def sqs_depth(sqs: Any, urls: dict[str, str]) -> int:
    """Messages in the chaos queue and its DLQ: visible, in flight and delayed."""
    total = 0
    for url in urls.values():
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        total += sum(int(v) for v in attributes.values())
    return total


def settled_tokens(events: list[dict[str, Any]]) -> set[str]:
    return {e["token"] for e in events if e["ev"] in ("done", "dead")}


@dataclass
class Judgement:
    figures: dict[str, Any]
    evidence: list[str]


def judge(ledger: Ledger, events: list[dict[str, Any]], kills: list[Kill], restarts: list[tuple[float, float]],
          jobs_in_redis: dict[str, dict[str, str]]) -> Judgement:
    """The figures of the module docstring, with evidence for each unexplained case."""
    tickets = ledger.tickets
    by_token: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_pid: dict[int, list[float]] = defaultdict(list)
    for event in events:
        by_token[str(event.get("token"))].append(event)
        by_pid[event["pid"]].append(event["t"])
    for times in by_pid.values():
        times.sort()
    kills_of: dict[int, list[float]] = defaultdict(list)
    for kill in kills:
        kills_of[kill.pid].append(kill.at)
    flush_at = restarts[0][0] if restarts else None
    evidence: list[str] = []

    def show(title: str, token: str) -> None:
        if len(evidence) >= 60:
            return
        ticket = tickets.get(token)
        lines = [f"{title}: token {token} ticket {json.dumps(asdict(ticket)) if ticket else None}"]
        lines += [f"    {json.dumps(e)}" for e in sorted(by_token.get(token, []), key=lambda e: e["t"])]
        job_id = ticket.job_id if ticket else None
        if job_id is None:
            job_id = next((e["job"] for e in by_token.get(token, [])), None)
        if job_id is not None:
            lines.append(f"    redis {job_id}: {json.dumps(jobs_in_redis.get(job_id))}")
        evidence.append("\n".join(lines))

    def killed_before_commit(done: dict[str, Any]) -> bool:
        """Its process was SIGKILLed after the processor returned, before it logged anything else."""
        after = [t for t in by_pid[done["pid"]] if t > done["t"]]
        next_event = after[0] if after else float("inf")
        return any(done["t"] <= k <= min(next_event, done["t"] + WORKER_TIMEOUT_S) for k in kills_of[done["pid"]])

    accepted = [t for t in tickets.values() if t.status == "accepted"]
    settled = settled_tokens(events)
    lost = [t.token for t in accepted if t.token not in settled]
    for token in lost:
        show("LOST", token)

    phantom, phantom_flush = 0, 0
    for ticket in tickets.values():
        starts = [e for e in by_token.get(ticket.token, []) if e["ev"] == "start"]
        if ticket.status != "refused" or not starts:
            continue
        if flush_at is not None and ticket.decided_at < flush_at <= min(e["t"] for e in starts):
            phantom_flush += 1
        else:
            phantom += 1
            show("PHANTOM RUN", ticket.token)

    doubles, doubles_kill, doubles_flush = 0, 0, 0
    for token, token_events in by_token.items():
        dones = sorted((e for e in token_events if e["ev"] == "done"), key=lambda e: e["t"])
        if len(dones) < 2:
            continue
        first, second = dones[0], dones[1]
        if killed_before_commit(first):
            doubles_kill += 1
        elif flush_at is not None and first["t"] < flush_at < second["t"]:
            doubles_flush += 1
        else:
            doubles += 1
            show("DOUBLE RUN", token)

    false_dead, dead_early, dead_total = 0, 0, 0
    for token, token_events in by_token.items():
        if not any(e["ev"] == "dead" for e in token_events):
            continue
        dead_total += 1
        runs = [e for e in token_events if e["ev"] == "start"]
        if not runs or any(e["ev"] == "done" for e in token_events):
            false_dead += 1
            show("FALSE DEAD", token)
        elif sum(e["ev"] == "fail" for e in token_events) < ATTEMPTS:
            dead_early += 1
            show("DEAD EARLY", token)

    checked, mismatched, mismatched_flush, numbering, numbering_flush = 0, 0, 0, 0, 0
    starts_of: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        if event["ev"] == "start":
            starts_of[(event["job"], int(event["ts"]))].append(event)
    for (_job_id, _ts), starts in starts_of.items():
        starts.sort(key=lambda e: e["t"])
        if [e["attempt"] for e in starts] == list(range(1, len(starts) + 1)):
            continue
        if flush_at is not None and starts[0]["t"] < flush_at < starts[-1]["t"]:
            numbering_flush += 1
        else:
            numbering += 1
            show("ATTEMPT NUMBERS", str(starts[0].get("token")))
    for job_id, raw in jobs_in_redis.items():
        if not raw.get("timestamp"):
            continue
        checked += 1
        starts = starts_of.get((job_id, int(raw["timestamp"])), [])
        if int(raw.get("atm") or 0) == len(starts):
            continue
        if flush_at is not None and starts and starts[0]["t"] < flush_at:
            mismatched_flush += 1
        else:
            mismatched += 1
            token = json.loads(raw.get("data") or "{}").get("token", "")
            show(f"ATTEMPTS atm={raw.get('atm')} runs={len(starts)}", token)

    counts = Counter(t.status for t in tickets.values())
    ran = {str(e.get("token")) for e in events if e["ev"] == "start"}
    figures = {
        "accepted": len(accepted), "lost": len(lost),
        "phantom_runs": phantom, "phantom_runs_flush_explained": phantom_flush,
        "double_runs": doubles, "double_runs_kill_explained": doubles_kill,
        "double_runs_flush_explained": doubles_flush,
        "false_dead": false_dead, "dead_early": dead_early, "dead_letters": dead_total,
        "attempts_accurate": mismatched == 0, "attempts_mismatched": mismatched,
        "attempts_mismatched_flush_explained": mismatched_flush, "attempts_checked": checked,
        "attempt_numbers_off": numbering, "attempt_numbers_off_flush_explained": numbering_flush,
        "refused": counts["refused"], "unsure": counts["unsure"], "errors": counts["error"],
        "unanswered": counts["pending"],
        "unsure_ran": sum(1 for t in tickets.values() if t.status == "unsure" and t.token in ran),
        "runs": sum(1 for e in events if e["ev"] == "start"),
    }
    return Judgement(figures, evidence)


# -- the run -----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """The runtime's logs (this process's and every function process's stderr) into a file, not the terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("ab") as target:
        os.dup2(target.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def read_jobs(client: Redis, prefix: str, job_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """HGETALL of each job of the chaos queue, 500 per round trip; absent jobs are left out."""
    found: dict[str, dict[str, str]] = {}
    ids = list(job_ids)
    for start in range(0, len(ids), 500):
        pipe = client.pipeline(transaction=False)
        for job_id in ids[start:start + 500]:
            pipe.hgetall(f"{prefix}:{QUEUE}:{job_id}")
        for job_id, raw in zip(ids[start:start + 500], pipe.execute(), strict=True):
            if raw:
                found[job_id] = raw
    return found


def delete_prefix(client: Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.unlink(*keys[start:start + 500])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=2000, help="jobs the callers send (default 2000)")
    parser.add_argument("--seed", type=int, default=None, help="seed of every random choice (default: random)")
    parser.add_argument("--clients", type=int, default=4, help="caller threads")
    parser.add_argument("--fail-rate", type=float, default=0.3, help="share of processor runs that fail")
    parser.add_argument("--kill-every", type=float, nargs=2, default=(2.0, 6.0), metavar=("MIN", "MAX"),
                        help="seconds between SIGKILLs, drawn uniformly")
    parser.add_argument("--sqs-refuse", type=float, default=0.05, help="sends answered 500, not forwarded")
    parser.add_argument("--sqs-lose-reply", type=float, default=0.05, help="sends forwarded, then answered 500")
    parser.add_argument("--sqs-refuse-entries", type=float, default=0.05,
                        help="batches of which some entries are refused")
    parser.add_argument("--brownout", type=float, default=3.0, help="seconds every SQS send fails, now and then")
    parser.add_argument("--brownout-every", type=float, default=30.0, help="seconds between brownouts")
    parser.add_argument("--no-redis-restart", action="store_true", help="keep Redis up the whole run")
    parser.add_argument("--chaos-tail", type=float, default=15.0,
                        help="seconds chaos goes on after the callers finish")
    parser.add_argument("--submit-timeout", type=float, default=420.0, help="most seconds the callers get")
    parser.add_argument("--quiet-timeout", type=float, default=300.0,
                        help="most seconds to wait for every job to settle once chaos stops")
    parser.add_argument("--concurrency", type=int, default=3, help="JOBQUEUE_LOCAL_MAX_CONCURRENCY for the run")
    parser.add_argument("--keep", type=Path, default=None,
                        help="directory for the run log, tickets and runtime log (default: a new temp dir)")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.clients < 1 or not 0 <= args.fail_rate < 1:
        parser.error("--jobs and --clients must be at least 1, --fail-rate within [0, 1)")
    if args.kill_every[0] <= 0 or args.kill_every[1] < args.kill_every[0]:
        parser.error("--kill-every MIN MAX: 0 < MIN <= MAX")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="jobqueue-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    run_log = workdir / "runs.jsonl"
    runtime_log = workdir / "runtime.log"
    started = time.monotonic()
    began_wall = time.time()
    log(f"seed {seed}; run log, tickets and runtime log in {workdir}", started)

    tag = uuid.UUID(int=rng.getrandbits(128)).hex[:8]
    prefix = f"chaos-{tag}"
    service_token, secret = uuid.uuid4().hex, uuid.uuid4().hex
    os.environ.update({
        "JOBQUEUE_PREFIX": prefix, "JOBQUEUE_SQS_PREFIX": f"{prefix}-", "JOBQUEUE_SCHEDULE_PREFIX": f"{prefix}-",
        "JOBQUEUE_TABLE_PREFIX": f"{prefix}-", "JOBQUEUE_CATALOG": str(CATALOG), "JOBQUEUE_API_PORT": "0",
        "JOBQUEUE_LOCAL_MAX_CONCURRENCY": str(args.concurrency), "SERVICE_TOKEN": service_token,
        "CHAOS_WEBHOOK_SECRET": secret, "CHAOS_RUN_LOG": str(run_log), "CHAOS_FAIL_RATE": str(args.fail_rate),
        "CHAOS_SEED": str(seed), "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
    })
    os.environ.pop("JOBQUEUE_PROCESSORS", None)  # the chaos catalog names its own

    from jobqueue.connection import redis_client
    from jobqueue.local.dev import LocalRuntime
    from jobqueue.local.services import EmbeddedMoto, EmbeddedRedis
    from tests.support.sqs_fault_proxy import SqsFaultProxy

    moto: EmbeddedMoto | None = None
    own_redis: EmbeddedRedis | None = None
    runtime: LocalRuntime | None = None
    proxy: SqsFaultProxy | None = None
    chaos: Chaos | None = None
    stop_clients = threading.Event()
    ledger = Ledger()
    result: Judgement | None = None
    summary: dict[str, Any] = {}
    try:
        with stderr_to(runtime_log):
            upstream = os.environ.get("AWS_ENDPOINT_URL")
            if not upstream:
                moto = EmbeddedMoto().start()
                upstream = moto.endpoint
            if not os.environ.get("REDIS_URL"):
                own_redis = EmbeddedRedis().start()
                os.environ["REDIS_URL"] = own_redis.url
            redis_url = os.environ["REDIS_URL"]
            proxy = SqsFaultProxy(upstream, refuse=args.sqs_refuse, lose_reply=args.sqs_lose_reply,
                                  refuse_entries=args.sqs_refuse_entries, seed=seed).start()
            proxy.enabled.clear()  # no faults while the runtime sets itself up
            os.environ["AWS_ENDPOINT_URL"] = proxy.url
            runtime = LocalRuntime().start()
            assert runtime.api is not None
            sqs = boto3.client("sqs", endpoint_url=upstream)
            urls = {name: sqs.get_queue_url(QueueName=f"{prefix}-{name}")["QueueUrl"] for name in (QUEUE, DLQ)}
            redis = redis_client(redis_url)
            log(f"runtime up ({time.monotonic() - started:.1f} s): API {runtime.api.url}, AWS {upstream} behind "
                f"{proxy.url}, Redis {'own' if own_redis else 'shared'} {redis_url.split('@')[-1]}", started)

            def redis_fault() -> None:
                if own_redis is not None:
                    own_redis.restart()
                else:  # a shared server is never restarted: this run's keys go instead
                    delete_prefix(redis, prefix)

            proxy.enabled.set()
            chaos = Chaos(runtime, proxy, rng, args, redis_fault).start()
            calls = plan(args.jobs, rng)
            work: queue.Queue[tuple[str, int]] = queue.Queue()
            for call in calls:
                work.put(call)
            api = Api(runtime.api.url, service_token, secret)
            done_calls = Counter[str]()
            lock = threading.Lock()

            def client_loop(client: Client) -> None:
                while not stop_clients.is_set():
                    try:
                        kind, size = work.get_nowait()
                    except queue.Empty:
                        return
                    client.run(kind, size)
                    with lock:
                        done_calls["calls"] += 1
                        done_calls["jobs"] += size

            clients = [threading.Thread(target=client_loop, daemon=True, name=f"client-{i}",
                                        args=(Client(api, ledger, random.Random(rng.getrandbits(64)),
                                                     stop_clients),))
                       for i in range(args.clients)]
            for thread in clients:
                thread.start()
            reader = RunLog(run_log)
            submit_deadline = time.monotonic() + args.submit_timeout
            next_report = time.monotonic() + 10
            restart_after = None if args.no_redis_restart else args.jobs // 2
            while any(t.is_alive() for t in clients):
                time.sleep(0.2)
                if restart_after is not None and done_calls["jobs"] >= restart_after:
                    restart_after = None
                    chaos.restart_redis()
                    log(f"Redis {'restarted empty' if own_redis else 'keys deleted'} after "
                        f"{done_calls['jobs']} jobs sent", started)
                if time.monotonic() >= next_report:
                    next_report += 10
                    log(progress(ledger, reader.read(), chaos, proxy, done_calls["jobs"], args.jobs), started)
                if time.monotonic() > submit_deadline:
                    log("submit timeout: stopping the callers", started)
                    stop_clients.set()
                    break
            for thread in clients:
                thread.join(HTTP_TIMEOUT_S * 2)
            log(f"callers done: {done_calls['calls']} calls, {done_calls['jobs']} jobs; chaos goes on "
                f"{args.chaos_tail:.0f} s", started)
            tail_ends = time.monotonic() + args.chaos_tail
            while time.monotonic() < tail_ends:
                time.sleep(1)
            chaos.finish()
            log("chaos stopped; waiting for every job to settle", started)
            quiet = wait_quiet(ledger, reader, sqs, urls, redis, prefix, args.quiet_timeout, started, chaos, proxy)
            events = reader.read()
            known = {t.job_id for t in ledger.tickets.values() if t.job_id} | {str(e["job"]) for e in events}
            result = judge(ledger, events, chaos.kills, chaos.restarts, read_jobs(redis, prefix, sorted(known)))
            summary = {"quiet": quiet, "kills": dict(Counter(k.function for k in chaos.kills)),
                       "redis_restarts": len(chaos.restarts), "sqs_faults": proxy.stats()}
    finally:
        stop_clients.set()
        if chaos is not None:
            chaos.finish()
        with stderr_to(runtime_log):
            if runtime is not None:
                runtime.stop()
            if own_redis is None and os.environ.get("REDIS_URL"):
                with contextlib.suppress(Exception):
                    delete_prefix(redis_client(os.environ["REDIS_URL"]), prefix)
            if proxy is not None:
                proxy.stop()
            if moto is not None:
                moto.stop()
            if own_redis is not None:
                own_redis.stop()
        save(workdir, ledger, chaos)
    assert result is not None
    for item in result.evidence:
        print(item)
    seconds = round(time.time() - began_wall, 1)
    log(f"{len(result.evidence)} cases shown above; files in {workdir}", started)
    print(json.dumps({**result.figures, **summary, "jobs": args.jobs, "seed": seed, "seconds": seconds}), flush=True)
    return 0


def progress(ledger: Ledger, events: list[dict[str, Any]], chaos: Chaos, proxy: SqsFaultProxy, sent: int,
             jobs: int) -> str:
    counts = ledger.counts()
    runs = Counter(e["ev"] for e in events)
    faults = proxy.stats()
    return (f"sent {sent}/{jobs}: accepted {counts['accepted']} refused {counts['refused']} unsure "
            f"{counts['unsure']} | runs {runs['start']} done {runs['done']} fail {runs['fail']} dead {runs['dead']} | "
            f"kills {len(chaos.kills)} | sqs sends {faults.get('sends', 0)} refused {faults.get('refuse', 0)} "
            f"lost-reply {faults.get('lose_reply', 0)} entries {faults.get('entries_refused', 0)}")


def wait_quiet(ledger: Ledger, reader: RunLog, sqs: Any, urls: dict[str, str], redis: Redis, prefix: str,
               timeout: float, started: float, chaos: Chaos, proxy: SqsFaultProxy) -> bool:
    """Until every accepted job completed or died, both queues are empty and nothing is marked unsent, twice in a
    row; False if `timeout` passed first."""
    deadline = time.monotonic() + timeout
    next_report = time.monotonic() + 10
    calm = 0
    while time.monotonic() < deadline:
        events = reader.read()
        settled = settled_tokens(events)
        open_jobs = sum(1 for t in ledger.tickets.values() if t.status == "accepted" and t.token not in settled)
        try:
            depth = sqs_depth(sqs, urls)
            unsent = int(redis.zcard(f"{prefix}:{QUEUE}:unsent"))
        except Exception as exc:  # an endpoint hiccup is not quiet
            log(f"quiet check failed: {exc}", started)
            depth, unsent = -1, -1
        calm = calm + 1 if (open_jobs, depth, unsent) == (0, 0, 0) else 0
        if calm >= 2:
            log("quiet: every accepted job settled, queues empty, nothing unsent", started)
            return True
        if time.monotonic() >= next_report:
            next_report += 10
            log(f"settling: {open_jobs} accepted jobs open, {depth} messages in {QUEUE}+{DLQ}, {unsent} unsent | "
                + progress(ledger, events, chaos, proxy, 0, 0).split(" | ", 1)[1], started)
        time.sleep(2)
    log(f"quiet timeout after {timeout:.0f} s", started)
    return False


def save(workdir: Path, ledger: Ledger, chaos: Chaos | None) -> None:
    """The callers' tickets and the kills, beside the run log, for reading a case afterwards."""
    with (workdir / "tickets.jsonl").open("w") as out:
        for ticket in ledger.tickets.values():
            out.write(json.dumps(asdict(ticket)) + "\n")
    if chaos is not None:
        (workdir / "chaos.json").write_text(json.dumps({"kills": [asdict(k) for k in chaos.kills],
                                                         "redis_restarts": chaos.restarts}))


if __name__ == "__main__":
    raise SystemExit(main())
