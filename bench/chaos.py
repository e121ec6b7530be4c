"""`make chaos`: jobs through the API of `jobqueue dev` while its processes are SIGKILLed, its SQS sends fail and its
Redis restarts empty; then every job is accounted for from a run log kept outside Redis.

The whole `jobqueue dev` runtime starts in this process (as bench/local_throughput.py starts it), under prefixes of
its own, with `bench/chaos_catalog.toml`: a `chaos` queue (10 attempts, fixed 1 s backoff, 3 s function timeout)
and a `chaos` webhook source. Its processor (`bench/chaos_processors.py`) fails 30% of runs with a transient
error and logs every run (start, done or fail) and every dead letter to a file, with the client's token.

Chaos, while client threads send a few thousand jobs (`--jobs`, at `--rate` jobs a second) as single `POST /jobs`
(generated or client `jobId`), bulk `POST /jobs` (with and without `jobId`s) and signed webhooks:

- SQS: the runtime's AWS endpoint is a fault proxy (`tests.support.sqs_fault_proxy`) in front of the emulator;
  SendMessage(Batch) calls are refused, have their reply lost after SQS took them, or lose some entries; every
  `--brownout-every` seconds all sends fail for `--brownout` seconds;
- processes: every few seconds a worker function process of the chaos queue or the API function's process is
  SIGKILLed (pid and time recorded); the API only while a caller waits for it, so the kill lands inside a request;
- Redis: once, halfway through, it is restarted empty (a throwaway redis-server of this run; with REDIS_URL
  given, a shared server is never restarted, so this run's keys are deleted instead).

Callers behave as a careful client does: a call with a `jobId` or a webhook event id is retried on 5xx, 409 and
connection errors with the same id; a generated-id call is retried (as a new job, with a new token) only after a
503 saying `mayRun: false`, and never after an answer that leaves the outcome open. After the callers finish
and `--chaos-tail` seconds more, chaos stops and the run waits (at most `--quiet-timeout` s) until nothing is left
that could run a job: the chaos queue and its DLQ empty (nothing visible, in flight or delayed) and no job marked
unsent. The seed fixes the plan of calls and every random draw, not the timing, so runs differ in detail.

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
  before the Redis restart); `attempt_numbers_off`: incarnations whose runs were not given attempts 1, 2, 3, ...;
  `partial_job_hashes`: job hashes in Redis without a name (written over a deleted job);
- context: `refused`, `unsure` (no answer, or `mayRun: true`), `unsure_ran`, `runs`, `kills`, `sqs_faults`,
  `quiet` (false: the wait timed out), `unexplained_cases` per kind.

Before the JSON line, up to five cases of each unexplained kind are printed with their evidence: the caller's
ticket (every answer it got), the run log's lines and what Redis held of the job at the end. The run log
(`runs.jsonl`), the tickets (`tickets.jsonl`), the kills and the Redis restart (`chaos.json`) and the runtime's
own logs (`runtime.log`) stay in the run's directory (`--keep DIR`, else a new temporary directory).

    $ .venv/bin/python -m bench.chaos --jobs 2000 --seed 7
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import http.client
import itertools
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

    from jobqueue.catalog import QueueConfig
    from jobqueue.local.dev import LocalRuntime
    from jobqueue.local.services import EmbeddedMoto, EmbeddedRedis
    from tests.support.sqs_fault_proxy import SqsFaultProxy

QUEUE = "chaos"
DLQ = "chaos-dlq"
WEBHOOK_SOURCE = "chaos"
SIGNATURE_HEADER = "X-Chaos-Signature"
CATALOG = Path(__file__).with_name("chaos_catalog.toml")
MAX_TRIES = 6
"""Calls a client makes for one request, retries included."""
HTTP_TIMEOUT_S = 90
"""Longer than the API function's timeout (29 s) plus a wait behind the other clients' requests."""
# Share of the jobs each kind of call carries.
KINDS = {"single": 0.25, "single-id": 0.15, "bulk": 0.20, "bulk-id": 0.20, "webhook": 0.20}
BULK_SIZES = (5, 25)


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

    def new(self, kind: str, *, with_id: bool = False) -> Ticket:
        """A ticket with a fresh token; `with_id`: the caller names the job `cid-<token>`."""
        token = uuid.uuid4().hex
        ticket = Ticket(token, kind, f"cid-{token}" if with_id else None, sent_at=time.time())
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
    return status in {0, 409, 429} or status >= 500


class Api:
    """The runtime's HTTP API, one connection per call (the adapter and the function may die under it)."""

    def __init__(self, url: str, token: str, secret: str) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.token, self.secret = token, secret
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def busy(self) -> bool:
        """Some call is waiting for its answer (the killer aims at the API function while it works)."""
        return self._in_flight > 0

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
             ) -> tuple[int, Any]:
        """(status, JSON body); status 0 with the error's text when no answer came."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT_S)
        with self._lock:
            self._in_flight += 1
        try:
            connection.request(method, path, body=body, headers={"Content-Type": "application/json",
                                                                  **(headers or {})})
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return 0, f"{type(exc).__name__}: {exc}"[:160]
        finally:
            connection.close()
            with self._lock:
                self._in_flight -= 1
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw[:160].decode(errors="replace")

    def add(self, payload: dict[str, Any]) -> tuple[int, Any]:
        return self.call("POST", "/jobs", json.dumps(payload).encode(), {"Authorization": f"Bearer {self.token}"})

    def webhook(self, body: bytes) -> tuple[int, Any]:
        signature = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return self.call("POST", f"/webhooks/{WEBHOOK_SOURCE}", body, {SIGNATURE_HEADER: f"sha256={signature}"})


class Pacer:
    """Spreads the callers' jobs over time at `rate` jobs a second (0: as fast as they go), so that the chaos
    meets the whole run instead of a burst."""

    def __init__(self, rate: float, stop: threading.Event) -> None:
        self.rate, self.stop = rate, stop
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def wait(self, jobs: int) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            at = self._next = max(self._next, time.monotonic()) + jobs / self.rate
        self.stop.wait(max(0.0, at - jobs / self.rate - time.monotonic()))


class Client:
    """One caller thread's behaviour for each kind of call."""

    def __init__(self, api: Api, ledger: Ledger, rng: random.Random, stop: threading.Event) -> None:
        self.api, self.ledger, self.rng, self.stop = api, ledger, rng, stop

    def _pause(self, tries: int) -> None:
        self.stop.wait(min(4.0, 0.25 * 2 ** tries) * (0.5 + self.rng.random()))

    def _data(self, ticket: Ticket) -> dict[str, Any]:
        return {"token": ticket.token, "ms": self.rng.randint(5, 40)}

    def run(self, kind: str, size: int) -> None:
        if kind == "bulk":
            self.bulk(size)
        elif kind == "bulk-id":
            self.bulk_with_ids(size)
        else:
            calls: dict[str, Callable[[], None]] = {"single": self.single, "single-id": self.single_with_id,
                                                    "webhook": self.webhook}
            calls[kind]()

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
        ticket = self.ledger.new("single-id", with_id=True)
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
            if not retryable(status) or tries + 1 == MAX_TRIES or self.stop.is_set():
                break
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
        pending = [self.ledger.new("bulk-id", with_id=True) for _ in range(size)]
        jobs: dict[str, dict[str, Any]] = {}
        for ticket in pending:
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
    """The killer and the SQS brownouts, on one thread until stopped; the Redis fault on request.

    A worker process is killed whenever its turn comes (the workers are busy most of the time); the API process
    only while a caller waits for it, a few milliseconds into its work, so that kills land inside an add (between
    Redis and SQS, or before the answer) rather than between calls.
    """

    def __init__(self, runtime: LocalRuntime, proxy: SqsFaultProxy, api: Api, rng: random.Random, *,
                 args: argparse.Namespace, redis_fault: Callable[[], None]) -> None:
        self.runtime, self.proxy, self.api, self.rng, self.args = runtime, proxy, api, rng, args
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
        function = self.rng.choices(["worker-" + QUEUE, "api"], [0.6, 0.4])[0]
        if function == "api":
            waited = time.monotonic() + 2
            while not self.api.busy and time.monotonic() < waited and not self.stop.wait(0.002):
                pass
            time.sleep(self.rng.uniform(0, 0.03))
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


# -- judging -----------------------------------------------------------------------------------------------


def settled_tokens(events: list[dict[str, Any]]) -> set[str]:
    return {str(e["token"]) for e in events if e["ev"] in ("done", "dead")}


class Judge:
    """The figures of the module docstring from the tickets, the run log, the kills, the Redis restart and what
    Redis holds of each job at the end; each case nothing explains is kept as evidence."""

    SHOWN_PER_KIND = 5
    """Cases kept as evidence per kind (LOST, PHANTOM RUN, ...); the figures count them all."""

    def __init__(self, config: QueueConfig, tickets: dict[str, Ticket], events: list[dict[str, Any]], *,
                 kills: list[Kill], restarts: list[tuple[float, float]],
                 jobs_in_redis: dict[str, dict[str, str]]) -> None:
        self.tickets, self.events, self.jobs_in_redis = tickets, events, jobs_in_redis
        self.max_attempts = config.attempts
        self.commit_window = config.timeout
        """A worker commits a returned job's outcome well within its function's timeout: a SIGKILL later than
        this after a completion cannot explain a second one."""
        self.by_token: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.times_of_pid: dict[int, list[float]] = defaultdict(list)
        for event in sorted(events, key=lambda e: e["t"]):
            self.by_token[str(event.get("token"))].append(event)
            self.times_of_pid[event["pid"]].append(event["t"])
        self.kills_of: dict[int, list[float]] = defaultdict(list)
        for kill in kills:
            self.kills_of[kill.pid].append(kill.at)
        self.flush_at = restarts[0][0] if restarts else None
        self.evidence: list[str] = []
        self.unexplained: Counter[str] = Counter()

    def figures(self) -> dict[str, Any]:
        """The issue's six figures first, then what explains or qualifies them."""
        counts = Counter(t.status for t in self.tickets.values())
        ran = {str(e.get("token")) for e in self.events if e["ev"] == "start"}
        found = {**self.lost(), **self.phantoms(), **self.doubles(), **self.dead(), **self.attempts()}
        first = ("accepted", "lost", "phantom_runs", "double_runs", "false_dead", "attempts_accurate")
        return {
            **{name: found.pop(name) for name in first}, **found,
            "partial_job_hashes": sum(1 for raw in self.jobs_in_redis.values() if "name" not in raw),
            "refused": counts["refused"], "unsure": counts["unsure"], "errors": counts["error"],
            "unanswered": counts["pending"],
            "unsure_ran": sum(1 for t in self.tickets.values() if t.status == "unsure" and t.token in ran),
            "runs": sum(1 for e in self.events if e["ev"] == "start"),
        }

    def show(self, title: str, token: str) -> None:
        """Keep a case: the caller's ticket, the run log's lines and what Redis holds of the job."""
        kind = title.partition(" attemptsMade")[0]
        self.unexplained[kind] += 1
        if self.unexplained[kind] > self.SHOWN_PER_KIND:
            return
        ticket = self.tickets.get(token)
        lines = [f"{title}: token {token} ticket {json.dumps(asdict(ticket)) if ticket else None}"]
        lines += [f"    {json.dumps(e)}" for e in self.by_token.get(token, [])]
        job_ids = {e["job"] for e in self.by_token.get(token, [])} | ({ticket.job_id} if ticket and ticket.job_id
                                                                      else set())
        lines += [f"    redis {job_id}: {json.dumps(self.jobs_in_redis.get(job_id))}" for job_id in sorted(job_ids)]
        self.evidence.append("\n".join(lines))

    def before_flush(self, t: float) -> bool:
        return self.flush_at is not None and t < self.flush_at

    def straddles_flush(self, runs: list[dict[str, Any]]) -> bool:
        """Some runs before the Redis restart and some after it."""
        return bool(runs) and self.before_flush(runs[0]["t"]) and not self.before_flush(runs[-1]["t"])

    def lost(self) -> dict[str, Any]:
        accepted = [t for t in self.tickets.values() if t.status == "accepted"]
        settled = settled_tokens(self.events)
        lost = [t.token for t in accepted if t.token not in settled]
        for token in lost:
            self.show("LOST", token)
        return {"accepted": len(accepted), "lost": len(lost)}

    def phantoms(self) -> dict[str, Any]:
        """Refused jobs that ran; explained by the flush when refused before it and run only after it."""
        phantom, explained = 0, 0
        for ticket in self.tickets.values():
            starts = [e for e in self.by_token.get(ticket.token, []) if e["ev"] == "start"]
            if ticket.status != "refused" or not starts:
                continue
            if self.before_flush(ticket.decided_at) and not self.before_flush(starts[0]["t"]):
                explained += 1
            else:
                phantom += 1
                self.show("PHANTOM RUN", ticket.token)
        return {"phantom_runs": phantom, "phantom_runs_flush_explained": explained}

    def killed_before_commit(self, done: dict[str, Any]) -> bool:
        """The completion's process was SIGKILLed after the processor returned and before it logged anything else
        (the next job's start is logged after the round trip that commits this one)."""
        later = [t for t in self.times_of_pid[done["pid"]] if t > done["t"]]
        until = min(later[0] if later else float("inf"), done["t"] + self.commit_window)
        return any(done["t"] <= k <= until for k in self.kills_of[done["pid"]])

    def doubles(self) -> dict[str, Any]:
        """Jobs that completed more than once. Each later completion needs its own excuse: the one before it was
        cut off by a SIGKILL before its commit, or the Redis restart fell between the two. A job counts as
        unexplained if any of its repeats has none, else as flush-explained if any needed the flush."""
        doubles, by_kill, by_flush = 0, 0, 0
        for token, events in self.by_token.items():
            dones = [e for e in events if e["ev"] == "done"]
            if len(dones) < 2:
                continue
            excuses = set()
            for earlier, later in itertools.pairwise(dones):
                if self.killed_before_commit(earlier):
                    excuses.add("kill")
                elif self.before_flush(earlier["t"]) and not self.before_flush(later["t"]):
                    excuses.add("flush")
                else:
                    excuses.add("none")
            if "none" in excuses:
                doubles += 1
                self.show("DOUBLE RUN", token)
            elif "flush" in excuses:
                by_flush += 1
            else:
                by_kill += 1
        return {"double_runs": doubles, "double_runs_kill_explained": by_kill, "double_runs_flush_explained": by_flush}

    def dead(self) -> dict[str, Any]:
        """Dead letters of jobs that completed or never ran (false), or whose last run was not their last attempt
        (early: they had attempts left, or the attempts were miscounted)."""
        false_dead, early, total = 0, 0, 0
        for token, events in self.by_token.items():
            if not any(e["ev"] == "dead" for e in events):
                continue
            total += 1
            kinds = Counter(e["ev"] for e in events)
            if not kinds["start"] or kinds["done"]:
                false_dead += 1
                self.show("FALSE DEAD", token)
            elif [e for e in events if e["ev"] == "start"][-1]["attempt"] != self.max_attempts:
                early += 1
                self.show("DEAD EARLY", token)
        return {"false_dead": false_dead, "dead_early": early, "dead_letters": total}

    def attempts(self) -> dict[str, Any]:
        """attemptsMade against the runs of the job's incarnation (id and timestamp), and the attempt numbers the
        processor was given (1, 2, 3, ... in the order of the runs). A job whose runs straddle the flush lost the
        count of the earlier ones with it."""
        runs: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        for events in self.by_token.values():
            for event in events:
                if event["ev"] == "start":
                    runs[(str(event["job"]), int(event["ts"]))].append(event)
        numbering, numbering_flush = 0, 0
        for starts in runs.values():
            if [e["attempt"] for e in starts] == list(range(1, len(starts) + 1)):
                continue
            if self.straddles_flush(starts):
                numbering_flush += 1
            else:
                numbering += 1
                self.show("ATTEMPT NUMBERS", str(starts[0].get("token")))
        checked, mismatched, mismatched_flush = 0, 0, 0
        for job_id, raw in self.jobs_in_redis.items():
            if not raw.get("timestamp"):
                continue
            checked += 1
            starts = runs.get((job_id, int(raw["timestamp"])), [])
            if int(raw.get("atm") or 0) == len(starts):
                continue
            if self.straddles_flush(starts):
                mismatched_flush += 1
            else:
                mismatched += 1
                token = str(json.loads(raw.get("data") or "{}").get("token", ""))
                self.show(f"ATTEMPTS attemptsMade={raw.get('atm')} runs={len(starts)}", token)
        return {"attempts_accurate": mismatched == 0, "attempts_mismatched": mismatched,
                "attempts_mismatched_flush_explained": mismatched_flush, "attempts_checked": checked,
                "attempt_numbers_off": numbering, "attempt_numbers_off_flush_explained": numbering_flush}


# -- the run -----------------------------------------------------------------------------------------------


class Reporter:
    """Progress on the terminal's stdout, while this process's and its children's stdout and stderr (the runtime's
    JSON logs) go to a file."""

    def __init__(self, log_file: Path) -> None:
        self.log_file = log_file
        self.started = time.monotonic()
        self.out = os.fdopen(os.dup(1), "w", buffering=1)

    def line(self, message: str) -> None:
        self.out.write(f"[{time.monotonic() - self.started:6.1f}s] {message}\n")

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """File descriptors 1 and 2 point at the log file inside the block; function processes started in it
        inherit them, and Powertools logs to stdout."""
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        with self.log_file.open("ab") as target:
            os.dup2(target.fileno(), 1)
            os.dup2(target.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)


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


class ChaosRun:
    """One run: services up, callers and chaos, settling, judging, everything down again."""

    def __init__(self, args: argparse.Namespace, seed: int, workdir: Path, report: Reporter) -> None:
        self.args, self.seed, self.workdir, self.report = args, seed, workdir, report
        self.rng = random.Random(seed)
        self.prefix = f"chaos-{uuid.UUID(int=self.rng.getrandbits(128)).hex[:8]}"
        self.service_token, self.secret = uuid.uuid4().hex, uuid.uuid4().hex
        self.ledger = Ledger()
        self.run_log = RunLog(workdir / "runs.jsonl")
        self.stop_callers = threading.Event()
        self.sent = Counter[str]()
        self._sent_lock = threading.Lock()
        self.moto: EmbeddedMoto | None = None
        self.own_redis: EmbeddedRedis | None = None
        self.proxy: SqsFaultProxy | None = None
        self.runtime: LocalRuntime | None = None
        self.chaos: Chaos | None = None

    # -- services ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """The emulator (unless AWS_ENDPOINT_URL names one) behind the fault proxy, Redis (unless REDIS_URL names
        one) and the runtime pointed at both."""
        from jobqueue.catalog import load_catalog
        from jobqueue.connection import redis_client
        from jobqueue.local.dev import LocalRuntime
        from jobqueue.local.services import EmbeddedMoto, EmbeddedRedis
        from tests.support.sqs_fault_proxy import SqsFaultProxy

        args = self.args
        self.config = load_catalog(str(CATALOG)).queue(QUEUE)
        os.environ.update({
            "JOBQUEUE_PREFIX": self.prefix, "JOBQUEUE_SQS_PREFIX": f"{self.prefix}-",
            "JOBQUEUE_SCHEDULE_PREFIX": f"{self.prefix}-", "JOBQUEUE_TABLE_PREFIX": f"{self.prefix}-",
            "JOBQUEUE_CATALOG": str(CATALOG), "JOBQUEUE_API_PORT": "0",
            "JOBQUEUE_LOCAL_MAX_CONCURRENCY": str(args.concurrency), "SERVICE_TOKEN": self.service_token,
            "CHAOS_WEBHOOK_SECRET": self.secret, "CHAOS_RUN_LOG": str(self.run_log.path),
            "CHAOS_FAIL_RATE": str(args.fail_rate), "CHAOS_SEED": str(self.seed),
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        })
        os.environ.pop("JOBQUEUE_PROCESSORS", None)  # the chaos catalog names its own
        upstream = os.environ.get("AWS_ENDPOINT_URL")
        if not upstream:
            self.moto = EmbeddedMoto().start()
            upstream = self.moto.endpoint
        if not os.environ.get("REDIS_URL"):
            self.own_redis = EmbeddedRedis().start()
            os.environ["REDIS_URL"] = self.own_redis.url
        self.redis = redis_client(os.environ["REDIS_URL"])
        self.proxy = SqsFaultProxy(upstream, refuse=args.sqs_refuse, lose_reply=args.sqs_lose_reply,
                                   refuse_entries=args.sqs_refuse_entries, seed=self.seed).start()
        self.proxy.enabled.clear()  # no faults while the runtime sets itself up
        os.environ["AWS_ENDPOINT_URL"] = self.proxy.url
        self.runtime = LocalRuntime().start()
        self.sqs = boto3.client("sqs", endpoint_url=upstream)  # straight to the emulator, never faulted
        self.urls = {name: self.sqs.get_queue_url(QueueName=f"{self.prefix}-{name}")["QueueUrl"]
                     for name in (QUEUE, DLQ)}
        assert self.runtime.api is not None
        self.api = Api(self.runtime.api.url, self.service_token, self.secret)
        redis_where = os.environ["REDIS_URL"].split("@")[-1]
        self.report.line(f"runtime up: API {self.runtime.api.url}, AWS {upstream} behind the fault proxy "
                         f"{self.proxy.url}, Redis {redis_where} ({'own' if self.own_redis else 'shared'})")

    def stop(self) -> None:
        """Everything this run started, in reverse; a shared Redis loses this run's keys."""
        self.stop_callers.set()
        if self.chaos is not None:
            self.chaos.finish()
        if self.runtime is not None:
            self.runtime.stop()
        if self.own_redis is None and os.environ.get("REDIS_URL"):
            with contextlib.suppress(Exception):
                delete_prefix(self.redis, self.prefix)
        if self.proxy is not None:
            self.proxy.stop()
        if self.moto is not None:
            self.moto.stop()
        if self.own_redis is not None:
            self.own_redis.stop()

    def redis_fault(self) -> None:
        """Redis restarted empty; a shared server is never restarted, so this run's keys are deleted instead."""
        if self.own_redis is not None:
            self.own_redis.restart()
        else:
            delete_prefix(self.redis, self.prefix)

    # -- callers and chaos -------------------------------------------------------------------------------

    def send(self) -> None:
        """The callers' threads through `plan`, chaos alongside; Redis restarted once half the jobs were sent."""
        assert self.runtime is not None and self.proxy is not None
        args = self.args
        work: queue.Queue[tuple[str, int]] = queue.Queue()
        for call in plan(args.jobs, self.rng):
            work.put(call)
        self.proxy.enabled.set()
        self.chaos = Chaos(self.runtime, self.proxy, self.api, random.Random(self.rng.getrandbits(64)), args=args,
                           redis_fault=self.redis_fault).start()
        pacer = Pacer(args.rate, self.stop_callers)
        callers = [threading.Thread(target=self._caller, args=(work, Client(
            self.api, self.ledger, random.Random(self.rng.getrandbits(64)), self.stop_callers), pacer), daemon=True,
            name=f"caller-{i}") for i in range(args.clients)]
        for thread in callers:
            thread.start()
        deadline = time.monotonic() + args.submit_timeout
        next_report = time.monotonic() + 10
        restart_after = None if args.no_redis_restart else args.jobs // 2
        while any(t.is_alive() for t in callers):
            time.sleep(0.2)
            if restart_after is not None and self.sent["jobs"] >= restart_after:
                restart_after = None
                self.chaos.restart_redis()
                self.report.line(f"Redis {'restarted empty' if self.own_redis else 'keys deleted'} after "
                                 f"{self.sent['jobs']} jobs sent")
            if time.monotonic() >= next_report:
                next_report += 10
                self.report.line(f"sent {self.sent['jobs']}/{args.jobs} | {self.progress()}")
            if time.monotonic() > deadline:
                self.report.line("submit timeout: the callers stop")
                self.stop_callers.set()
                break
        for thread in callers:
            thread.join(HTTP_TIMEOUT_S * 2)
        self.report.line(f"callers done: {self.sent['calls']} planned calls, {self.sent['jobs']} jobs; chaos goes on "
                         f"{args.chaos_tail:.0f} s")
        self.stop_callers.wait(args.chaos_tail)
        self.chaos.finish()

    def _caller(self, work: queue.Queue[tuple[str, int]], client: Client, pacer: Pacer) -> None:
        while not self.stop_callers.is_set():
            try:
                kind, size = work.get_nowait()
            except queue.Empty:
                return
            pacer.wait(size)
            if self.stop_callers.is_set():
                return
            with self._sent_lock:
                self.sent["calls"] += 1
                self.sent["jobs"] += size
            client.run(kind, size)

    def progress(self) -> str:
        assert self.chaos is not None and self.proxy is not None
        counts = self.ledger.counts()
        runs = Counter(e["ev"] for e in self.run_log.read())
        faults = self.proxy.stats()
        return (f"accepted {counts['accepted']} refused {counts['refused']} unsure {counts['unsure']} | runs "
                f"{runs['start']} done {runs['done']} fail {runs['fail']} dead {runs['dead']} | kills "
                f"{len(self.chaos.kills)} | sqs sends {faults.get('sends', 0)}: refused {faults.get('refuse', 0)} "
                f"reply lost {faults.get('lose_reply', 0)} entries refused {faults.get('entries_refused', 0)}")

    # -- settling and judging ----------------------------------------------------------------------------

    def settle(self) -> bool:
        """Wait until nothing is left that could run a job: both queues empty (nothing visible, in flight or
        delayed) and nothing marked unsent, on consecutive checks 2 s apart; twice suffices when every accepted job
        completed or died, five when some did not (those are lost). False if `--quiet-timeout` passed first."""
        self.report.line("chaos stopped; waiting for every job to settle")
        deadline = time.monotonic() + self.args.quiet_timeout
        next_report = time.monotonic() + 10
        calm = 0
        while time.monotonic() < deadline:
            settled = settled_tokens(self.run_log.read())
            open_jobs = sum(1 for t in self.ledger.tickets.values()
                            if t.status == "accepted" and t.token not in settled)
            try:
                depth = self.sqs_depth()
                unsent = int(self.redis.zcard(f"{self.prefix}:{QUEUE}:unsent"))
            except Exception as exc:  # an endpoint hiccup is not quiet
                self.report.line(f"quiet check failed: {exc}")
                depth, unsent = -1, -1
            calm = calm + 1 if (depth, unsent) == (0, 0) else 0
            if calm >= (2 if open_jobs == 0 else 5):
                self.report.line(f"quiet: both queues empty, nothing unsent; {open_jobs} accepted jobs never settled")
                return True
            if time.monotonic() >= next_report:
                next_report += 10
                self.report.line(f"settling: {open_jobs} accepted jobs open, {depth} messages in {QUEUE} and {DLQ}, "
                                 f"{unsent} unsent | {self.progress()}")
            time.sleep(2)
        self.report.line(f"quiet timeout after {self.args.quiet_timeout:.0f} s")
        return False

    def sqs_depth(self) -> int:
        """Messages in the chaos queue and its DLQ: visible, in flight and delayed."""
        total = 0
        for url in self.urls.values():
            attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed"])["Attributes"]
            total += sum(int(v) for v in attributes.values())
        return total

    def judge(self, quiet: bool) -> tuple[dict[str, Any], list[str]]:
        assert self.chaos is not None and self.proxy is not None
        events = self.run_log.read()
        known = {t.job_id for t in self.ledger.tickets.values() if t.job_id} | {str(e["job"]) for e in events}
        judge = Judge(self.config, self.ledger.tickets, events, kills=self.chaos.kills, restarts=self.chaos.restarts,
                      jobs_in_redis=read_jobs(self.redis, self.prefix, sorted(known)))
        figures = {**judge.figures(), "unexplained_cases": dict(judge.unexplained), "quiet": quiet,
                   "kills": dict(Counter(k.function for k in self.chaos.kills)),
                   "redis_restarts": len(self.chaos.restarts), "sqs_faults": self.proxy.stats()}
        return figures, judge.evidence

    def save(self) -> None:
        """The callers' tickets and the kills, beside the run log, for reading a case afterwards."""
        with (self.workdir / "tickets.jsonl").open("w") as out:
            for ticket in list(self.ledger.tickets.values()):
                out.write(json.dumps(asdict(ticket)) + "\n")
        if self.chaos is not None:
            (self.workdir / "chaos.json").write_text(json.dumps({
                "kills": [asdict(k) for k in self.chaos.kills], "redis_restarts": self.chaos.restarts}))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=2000, help="jobs the callers send (default 2000)")
    parser.add_argument("--seed", type=int, default=None, help="seed of every random choice (default: random)")
    parser.add_argument("--clients", type=int, default=4, help="caller threads")
    parser.add_argument("--rate", type=float, default=20.0,
                        help="jobs a second the callers send at most (0: as fast as the API takes them)")
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
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="jobqueue-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = Reporter(workdir / "runtime.log")
    began = time.time()
    report.line(f"seed {seed}; the run log, the callers' tickets and the runtime's log go to {workdir}")
    run = ChaosRun(args, seed, workdir, report)
    try:
        with report.quiet():
            run.start()
            run.send()
            figures, evidence = run.judge(run.settle())
    finally:
        with report.quiet():
            run.stop()
        run.save()
    for case in evidence:
        report.out.write(case + "\n")
    report.line(f"unexplained cases: {figures['unexplained_cases'] or 'none'} (at most {Judge.SHOWN_PER_KIND} of a "
                f"kind shown above); the run's files are in {workdir}")
    report.out.write(json.dumps({**figures, "jobs": args.jobs, "seed": seed,
                                 "seconds": round(time.time() - began, 1)}) + "\n")
    report.out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
