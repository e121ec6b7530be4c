"""The `jobqueue` command: inspect and operate queues, dead letters and schedules, here or through the API.

    $ jobqueue stats                          # every queue's counts, totals, dead-letter depths
    $ jobqueue dlq redrive lead-processing --all
    $ jobqueue --api https://api.example.com/prod --json health

By default it works directly against REDIS_URL and the AWS endpoint of the environment (the engine's own
settings); `--api URL` (or JOBQUEUE_API_URL) sends the same operations to the HTTP API with the bearer service
token. Tables for people; `--json` prints the API's response bodies for scripts. Exit codes: see `EPILOG`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, cast

from jobqueue.cli.backends import ApiBackend, Backend, CommandError, DirectBackend, ExitCode, api_token
from jobqueue.cli.render import Column, Progress, as_json, fields, millis, table

__all__ = ["COMMANDS", "Command", "build_parser", "main"]

Body = dict[str, Any]

EPILOG = """\
exit codes:
  0  ok
  1  the operation failed, or `health` found Redis or SQS down
  2  usage error (bad arguments)
  3  not found: no such queue, job or dead-letter record
  4  cannot reach Redis, AWS or the API

environment:
  REDIS_URL, JOBQUEUE_PREFIX, JOBQUEUE_SQS_PREFIX, JOBQUEUE_CATALOG, AWS_*   direct mode (the engine's settings)
  JOBQUEUE_API_URL                 default for --api
  JOBQUEUE_TOKEN or SERVICE_TOKEN  default for --token
  JOBQUEUE_STATE_DIR               `dev` and `env`: the local state folder (default .jobqueue/ in the project)
"""
JOB_STATES = ("waiting", "active", "delayed", "prioritized", "completed", "failed")
CLEAN_STATES = ("completed", "failed", "waiting", "delayed", "prioritized")


@dataclass(frozen=True)
class Command:
    """What a subcommand asks the backend, how a person sees the answer, and which exit code it means."""

    run: Callable[[Backend, argparse.Namespace], Body]
    show: Callable[[Body, TextIO], None]
    status: Callable[[Body], ExitCode] = lambda _: ExitCode.OK


# -- how answers look ------------------------------------------------------------------------------------


def _line(template: str) -> Callable[[Body, TextIO], None]:
    """A one-line answer: `template` formatted with the body's fields (lists become their length)."""

    def show(body: Body, out: TextIO) -> None:
        out.write(template.format(**{k: len(v) if isinstance(v, list) else v for k, v in body.items()}) + "\n")

    return show


def _get(key: str) -> Callable[[Any], Any]:
    return lambda row: row.get(key)


def _sources(row: Mapping[str, Any]) -> str:
    """A queue's event source mappings by state (`2 disabled`); blank where the answer has none (`/stats`)."""
    sources = row.get("eventSources")
    if not sources:
        return ""
    return ", ".join(f"{sources[s]} {s}" for s in ("enabled", "disabled", "transitioning") if sources[s]) or "none"


def _switched(template: str) -> Callable[[Body, TextIO], None]:
    """Pause and resume: the queue's state, and what Lambda answered for its event source mappings."""

    def show(body: Body, out: TextIO) -> None:
        out.write(template.format(**body) + f" (event sources: {_sources(body)})\n")

    return show


def _show_stats(body: Body, out: TextIO) -> None:
    rows = list(body["queues"])
    if "totals" in body:
        rows.append({"queueName": "(all)", **body["totals"]})
    columns: list[Column] = [("queue", _get("queueName"))] + [
        (name, _get(name)) for name in ("waiting", "active", "delayed", "completed", "failed", "total")]
    columns.append(("paused", lambda r: "yes" if r.get("paused") else ""))
    if any("eventSources" in r for r in rows):
        columns.append(("event sources", _sources))
    table(rows, columns, out)
    if body.get("deadLetters"):
        out.write("\n")
        table([{"dlq": name, "records": n} for name, n in body["deadLetters"].items()],
              [("dead-letter queue", _get("dlq")), ("records", _get("records"))], out)


def _show_job(body: Body, out: TextIO) -> None:
    fields([("id", body["id"]), ("name", body["name"]), ("state", body["state"]),
            ("attempts made", body["attemptsMade"]), ("progress", body["progress"]),
            ("processed", millis(body["processedOn"])), ("finished", millis(body["finishedOn"])),
            ("failed reason", body["failedReason"]), ("return value", body["returnvalue"]),
            ("data", body["data"]), ("options", body["opts"]), ("stack traces", _traces(body["stacktrace"])),
            ("parent", _parent(body.get("parent"))), ("children", _children(body.get("children")))], out)


def _parent(parent: Mapping[str, Any] | None) -> str | None:
    """A flow child's parent as its job key (`bull:<queue>:<id>`)."""
    return f"{parent['queueKey']}:{parent['id']}" if parent else None


def _children(children: Mapping[str, Any] | None) -> str | None:
    """A flow parent's children counted by how they stand (`--json` lists them)."""
    if not children:
        return None
    return ", ".join(f"{len(children[kind])} {label}" for kind, label in (
        ("processed", "completed"), ("unprocessed", "pending"), ("ignored", "failed, ignored"),
        ("failed", "failed")) if children[kind])


def _traces(traces: list[str]) -> str | None:
    """How many attempts left a stack trace, and the last one's final line (the error); the API has them all."""
    return f"{len(traces)}, last: {traces[-1].strip().splitlines()[-1]}" if traces and traces[-1].strip() else None


def _show_jobs(body: Body, out: TextIO) -> None:
    table(body["jobs"], [
        ("id", _get("id")), ("name", _get("name")), ("state", _get("state")), ("attempts", _get("attemptsMade")),
        ("progress", _get("progress")), ("processed", lambda r: millis(r.get("processedOn"))),
        ("finished", lambda r: millis(r.get("finishedOn"))), ("failed reason", _get("failedReason")),
    ], out)


def _show_dead_letters(body: Body, out: TextIO) -> None:
    table(body["records"], [
        ("record", _get("recordId")), ("job", _get("originalJobId")), ("name", _get("name")),
        ("attempts", _get("attemptsMade")), ("failed at", _get("failedAt")), ("error", _get("error")),
    ], out)


def _show_schedules(body: Body, out: TextIO) -> None:
    table(body["schedules"], [
        ("queue", _get("queue")), ("name", _get("name")),
        ("pattern", lambda r: r.get("pattern") or (f"every {r['every']} ms" if r.get("every") else None)),
        ("tz", _get("tz")),
        ("scheduler expression", _get("expression")), ("next run", lambda r: (r.get("nextRuns") or [None])[0]),
    ], out)


def _show_schedule(body: Body, out: TextIO) -> None:
    _show_schedules({"schedules": [body]}, out)


def _show_changes(body: Body, out: TextIO) -> None:
    table(body["changes"], [("schedule", _get("schedule")), ("action", _get("action")),
                            ("expression", _get("expression")), ("tz", _get("tz"))], out)


def _show_health(body: Body, out: TextIO) -> None:
    out.write(f"status: {body['status']}\n")
    memory = body.get("memory")
    out.write(f"redis memory: {memory['summary'] if memory else 'unknown (Redis does not answer)'}\n")
    checks = [{"name": name, **check} for name, check in body.items() if isinstance(check, dict) and "ok" in check]
    table(checks, [("dependency", _get("name")), ("ok", _get("ok")), ("error", _get("error"))], out)


def _healthy(body: Body) -> ExitCode:
    return ExitCode.OK if body.get("status") == "ok" else ExitCode.FAILED


# -- what each command asks ------------------------------------------------------------------------------


def _stats(backend: Backend, args: argparse.Namespace) -> Body:
    if args.queues:
        return {"queues": [backend.queue(q) for q in args.queues]}
    return backend.stats()


def _add_schedule(backend: Backend, args: argparse.Namespace) -> Body:
    options = {"pattern": args.pattern, "every": args.every, "tz": args.tz, "data": args.data, "limit": args.limit,
               "startDate": args.start_date, "endDate": args.end_date}
    return backend.add_schedule({"queue": args.queue, "name": args.name,
                                 **{k: v for k, v in options.items() if v is not None}})


BULK_REQUEST = 1000
"""Jobs per bulk request: the API's limit for one `POST /jobs`."""


def _read_jobs(path: str) -> list[Body]:
    """A JSON array of jobs, or JSON Lines with one job a line (`-`: standard input)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}", ExitCode.USAGE) from exc
    try:
        jobs = json.loads(text) if text.lstrip().startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as exc:
        raise CommandError(f"{path}: not a JSON array nor JSON Lines: {exc}", ExitCode.USAGE) from exc
    if not jobs or not all(isinstance(job, dict) for job in jobs):
        raise CommandError(f"{path}: needs at least one job, each an object {{name, data, opts}}", ExitCode.USAGE)
    return cast("list[Body]", jobs)


def _add_flow(backend: Backend, args: argparse.Namespace) -> Body:
    """A flow from a file: one JSON object in BullMQ's FlowJob shape (`-`: standard input)."""
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        flow = json.loads(text)
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}", ExitCode.USAGE) from exc
    except ValueError as exc:
        raise CommandError(f"{args.file}: not JSON: {exc}", ExitCode.USAGE) from exc
    if not isinstance(flow, dict):
        raise CommandError(f"{args.file}: needs one object {{name, queueName, data, opts, children}}", ExitCode.USAGE)
    return backend.add_flow(flow)


def _show_flow(body: Body, out: TextIO, depth: int = 0) -> None:
    """The flow's job ids as a tree: the root, then each child indented under its parent."""
    out.write(f"{'  ' * depth}{body['queue']} {body['id']}\n")
    for child in body["children"]:
        _show_flow(child, out, depth + 1)


def _add_bulk(backend: Backend, args: argparse.Namespace) -> Body:
    """All the file's jobs in requests of BULK_REQUEST; the answers merged, as one request's would be. After a
    request that failed, the rest are not sent: run the command again, with job ids, to complete it."""
    jobs = _read_jobs(args.file)
    answer: Body = {"queue": args.queue, "jobIds": [], "rejected": []}
    for first in range(0, len(jobs), BULK_REQUEST):
        chunk = jobs[first:first + BULK_REQUEST]
        if answer["rejected"]:
            body: Body = {"jobIds": [None] * len(chunk), "rejected": [
                {"index": i, "jobId": None, "reason": "not sent: an earlier request failed", "mayRun": False}
                for i in range(len(chunk))]}
        else:
            try:
                body = backend.add_bulk(args.queue, chunk)
            except CommandError as exc:
                if first == 0 or exc.code == ExitCode.USAGE:
                    raise
                body = {"jobIds": [None] * len(chunk), "rejected": [
                    {"index": i, "jobId": None, "reason": str(exc), "mayRun": True} for i in range(len(chunk))]}
        answer["jobIds"] += body["jobIds"]
        answer["rejected"] += [{**r, "index": first + r["index"]} for r in body.get("rejected", [])]
    return answer


def _show_bulk(body: Body, out: TextIO) -> None:
    accepted = sum(job_id is not None for job_id in body["jobIds"])
    out.write(f"added {accepted} of {len(body['jobIds'])} jobs to {body['queue']}\n")
    if body["rejected"]:
        out.write("not accepted (run the same command again to complete it; jobs without a jobId that may run "
                  "would be added twice):\n")
        table(body["rejected"], [("#", _get("index")), ("job id", _get("jobId")),
                                 ("may run", lambda r: "yes" if r["mayRun"] else "no"), ("reason", _get("reason"))],
              out)


def _show_promoted(body: Body, out: TextIO) -> None:
    if "jobId" in body:
        out.write(f"promoted job {body['jobId']} of {body['queue']}: it starts now\n")
    else:
        out.write(f"promoted {len(body['promoted'])} delayed jobs of {body['queue']}\n")


def _redrive(backend: Backend, args: argparse.Namespace) -> Body:
    if args.all == bool(args.record_ids):
        raise CommandError("give RECORD_ID... or --all (not both)", ExitCode.USAGE)
    return backend.redrive(args.queue, None if args.all else args.record_ids, Progress("redrive"))


COMMANDS: dict[str, Command] = {
    "stats": Command(_stats, _show_stats),
    "add": Command(lambda b, a: b.add(a.queue, a.name, a.data, _with_group(a.opts, a.group)), _line("{jobId}")),
    "add-bulk": Command(_add_bulk, _show_bulk, lambda body: ExitCode.FAILED if body["rejected"] else ExitCode.OK),
    "add-flow": Command(_add_flow, _show_flow),
    "status": Command(lambda b, a: b.job(a.queue, a.job_id), _show_job),
    "jobs": Command(lambda b, a: b.jobs(a.queue, a.state, a.start, a.end), _show_jobs),
    "remove": Command(lambda b, a: b.remove(a.queue, a.job_id), _line("removed job {jobId} from {queue}")),
    "retry": Command(lambda b, a: b.retry_failed(a.queue, a.limit), _line("retried {retried} failed jobs of {queue}")),
    "promote": Command(lambda b, a: b.promote(a.queue, a.job_id, a.limit), _show_promoted),
    "pause": Command(lambda b, a: b.pause(a.queue), _switched("{queue} is paused")),
    "resume": Command(lambda b, a: b.resume(a.queue), _switched("{queue} is running")),
    "drain": Command(lambda b, a: b.drain(a.queue, a.delayed), _line("removed {removed} jobs from {queue}")),
    "clean": Command(lambda b, a: b.clean(a.queue, a.grace, a.limit, a.state),
                     _line("removed {removed} {state} jobs from {queue}")),
    "dlq list": Command(lambda b, a: b.dead_letters(a.queue, a.start, a.end), _show_dead_letters),
    "dlq redrive": Command(_redrive, _line("redrove {redriven} dead jobs back to {queue}")),
    "dlq remove": Command(lambda b, a: b.remove_dead_letter(a.queue, a.record_id),
                          _line("removed dead letter {jobId} of {queue}")),
    "schedules list": Command(lambda b, a: b.schedules(), _show_schedules),
    "schedules init": Command(lambda b, a: b.initialize_schedules(a.prune), _show_changes),
    "schedules add": Command(_add_schedule, _show_schedule),
    "schedules remove": Command(lambda b, a: b.remove_schedule(a.name), _line("removed schedule {name} of {queue}")),
    "health": Command(lambda b, a: b.health(), _show_health, _healthy),
}


# -- the parser ------------------------------------------------------------------------------------------


def _json_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc


def _json_object(raw: str) -> Body:
    value = _json_value(raw)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def _with_group(opts: Body, group: str | None) -> Body:
    """`opts` with `--group`'s id as BullMQ Pro's `group` option (validated with the other options)."""
    return {**opts, "group": {"id": group}} if group is not None else opts


def _count(raw: str) -> int:
    if not raw.isdigit():
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number")
    return int(raw)


def _common() -> argparse.ArgumentParser:
    """Options accepted before and after the command; SUPPRESS keeps a later position from erasing an earlier."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the API's JSON response body instead of a table")
    common.add_argument("--api", metavar="URL", default=argparse.SUPPRESS,
                        help="work through the HTTP API at URL (default: $JOBQUEUE_API_URL; unset: directly)")
    common.add_argument("--token", default=argparse.SUPPRESS,
                        help="the API's bearer service token (default: $JOBQUEUE_TOKEN, then $SERVICE_TOKEN)")
    return common


def _queue_command(sub: Any, name: str, help_text: str, common: argparse.ArgumentParser,
                   key: str | None = None) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
    parser.add_argument("queue", help="a queue of the catalog")
    parser.set_defaults(command=key or name)
    return parser


def _page(parser: argparse.ArgumentParser, end: int) -> None:
    parser.add_argument("--start", type=_count, default=0, help="first index (default 0)")
    parser.add_argument("--end", type=_count, default=end, help=f"last index, inclusive (default {end})")


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(prog="jobqueue", description=__doc__.split("\n\n")[0], epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter, parents=[common])
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    stats = sub.add_parser("stats", help="counts of every queue (or of the QUEUEs given)", parents=[common])
    stats.add_argument("queues", nargs="*", metavar="QUEUE")
    stats.set_defaults(command="stats")

    add = _queue_command(sub, "add", "add a job", common)
    add.add_argument("name", help="the job's name")
    add.add_argument("--data", type=_json_value, default=None, help="the job's data, JSON")
    add.add_argument("--opts", type=_json_object, default={},
                     help='BullMQ job options, JSON (e.g. \'{"delay": 5000, "priority": 1}\')')
    add.add_argument("--group", metavar="ID", help="the job's group (tenant): the option {\"group\": {\"id\": ID}}")
    add_bulk = _queue_command(sub, "add-bulk", "add many jobs from a file: a JSON array or JSON Lines of "
                              "{name, data, opts}", common)
    add_bulk.add_argument("file", metavar="FILE", help="the jobs (- for standard input); give each a jobId in "
                          "opts so that running the command again after a failure adds none twice")

    add_flow = sub.add_parser("add-flow", help="add a flow: a parent job that runs after its children (in any "
                              "queues) completed", parents=[common])
    add_flow.add_argument("file", metavar="FILE", help="the flow, a JSON object {name, queueName, data, opts, "
                          "children: [...]} (- for standard input)")
    add_flow.set_defaults(command="add-flow")

    for name, help_text in (("status", "a job's state, progress, result or failure"),
                            ("remove", "remove a job that is not running")):
        _queue_command(sub, name, help_text, common).add_argument("job_id", metavar="JOB_ID")

    jobs = _queue_command(sub, "jobs", "list the jobs in one state", common)
    jobs.add_argument("--state", choices=JOB_STATES, default="waiting")
    _page(jobs, 49)

    retry = _queue_command(sub, "retry", "put failed jobs back to work with fresh attempts", common)
    retry.add_argument("--limit", type=_count, default=1000, help="at most this many, oldest first (default 1000)")
    promote = _queue_command(sub, "promote", "start delayed jobs now: one (JOB_ID) or all, soonest due first", common)
    promote.add_argument("job_id", metavar="JOB_ID", nargs="?", help="one delayed job (default: every delayed job)")
    promote.add_argument("--limit", type=_count, default=1000, help="at most this many (default 1000)")
    _queue_command(sub, "pause", "stop starting jobs (messages stay in SQS)", common)
    _queue_command(sub, "resume", "start jobs again", common)
    drain = _queue_command(sub, "drain", "remove every waiting job", common)
    drain.add_argument("--delayed", action="store_true", help="also remove delayed jobs")
    clean = _queue_command(sub, "clean", "remove jobs older than a grace period", common)
    clean.add_argument("--grace", type=_count, required=True, metavar="MS", help="age in ms; older jobs go")
    clean.add_argument("--limit", type=_count, default=1000, help="at most this many (default 1000)")
    clean.add_argument("--state", choices=CLEAN_STATES, default="completed")

    _dlq_commands(sub, common)
    _schedule_commands(sub, common)
    sub.add_parser("health", help="whether Redis and SQS answer (exit 1 if not), and Redis memory against maxmemory",
                   parents=[common]).set_defaults(command="health")
    dev = sub.add_parser("dev", help="run every function locally (as `make run`; --fresh: as `make run-fresh`)",
                         parents=[common])
    dev.add_argument("--fresh", action="store_true", help="wipe the local state first: start with no jobs")
    dev.set_defaults(command="dev")
    sub.add_parser("env", help="print the export line of the running `jobqueue dev` (exit 1 if none runs)",
                   parents=[common]).set_defaults(command="env")
    invoke = sub.add_parser("invoke", help="invoke a function once with an event file and print its response",
                            description="Invoke a function once, like `sam local invoke`.", parents=[common])
    invoke.add_argument("function", metavar="FUNCTION",
                        help="a function (worker-<queue>, dead-letter-<dlq>, api, scheduler) or a handler directory")
    invoke.add_argument("event", metavar="EVENT.json", help="the event, a JSON file ('-': stdin)")
    invoke.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the function (repeatable)")
    invoke.set_defaults(command="invoke")
    return parser


def _dlq_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    dlq = sub.add_parser("dlq", help="a queue's dead letters: list, redrive, remove", parents=[common])
    actions = dlq.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = _queue_command(actions, "list", "list the queue's dead-letter records, newest first", common,
                             "dlq list")
    _page(listing, 99)
    redrive = _queue_command(actions, "redrive", "send dead jobs back to the queue with fresh attempts", common,
                             "dlq redrive")
    redrive.add_argument("record_ids", nargs="*", metavar="RECORD_ID")
    redrive.add_argument("--all", action="store_true", help="every dead letter of the queue")
    _queue_command(actions, "remove", "delete a dead-letter record without redriving it", common,
                   "dlq remove").add_argument("record_id", metavar="RECORD_ID")


def _schedule_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    schedules = sub.add_parser("schedules", help="repeatable jobs: list, add, remove, create Scheduler schedules",
                               parents=[common])
    schedules.set_defaults(command="schedules list")
    actions = schedules.add_subparsers(title="actions", metavar="ACTION")
    actions.add_parser("list", help="cron entries, Scheduler expressions, next runs (the default)",
                       parents=[common]).set_defaults(command="schedules list")
    init = actions.add_parser("init", help="create or update one EventBridge Scheduler schedule per cron entry",
                              parents=[common])
    init.add_argument("--prune", action="store_true", help="also delete schedules no cron entry matches")
    init.set_defaults(command="schedules init")
    add = actions.add_parser("add", help="add a repeatable job at run time (an EventBridge Scheduler schedule)",
                             parents=[common])
    add.add_argument("queue")
    add.add_argument("name", help="job name; unique among schedules")
    timing = add.add_mutually_exclusive_group(required=True)
    timing.add_argument("--pattern", help="5-field cron pattern, e.g. '0 9 * * *'")
    timing.add_argument("--every", type=_count, metavar="MS", help="ms between runs (whole minutes)")
    add.add_argument("--tz", help="IANA time zone of the pattern (default UTC)")
    add.add_argument("--data", type=_json_value, help="the jobs' data, JSON")
    add.add_argument("--limit", type=_count, help="run at most this many times")
    add.add_argument("--start-date", metavar="ISO8601", help="no run before")
    add.add_argument("--end-date", metavar="ISO8601", help="no run after")
    add.set_defaults(command="schedules add")
    remove = actions.add_parser("remove", help="remove a repeatable job added at run time", parents=[common])
    remove.add_argument("name")
    remove.set_defaults(command="schedules remove")


# -- running ---------------------------------------------------------------------------------------------


def _backend(args: argparse.Namespace) -> Backend:
    url = getattr(args, "api", None) or os.environ.get("JOBQUEUE_API_URL")
    return ApiBackend(url, api_token(getattr(args, "token", None))) if url else DirectBackend()


def _dev(args: argparse.Namespace) -> int:
    from jobqueue.local.dev import main as dev

    return dev(["--fresh"] if args.fresh else [])


def _env() -> int:
    from jobqueue.local.services import LocalServiceError
    from jobqueue.local.state import running_export_line, state_dir

    try:
        sys.stdout.write(running_export_line(state_dir()) + "\n")
    except LocalServiceError as exc:
        sys.stderr.write(f"jobqueue: {exc}\n")
        return ExitCode.FAILED
    return ExitCode.OK


def _invoke(args: argparse.Namespace) -> int:
    from jobqueue.local.invoke import InvokeUsageError, invoke, parse_env, read_event

    try:
        ok, response = invoke(args.function, read_event(args.event), parse_env(args.env))
    except InvokeUsageError as exc:
        sys.stderr.write(f"jobqueue: {exc}\n")
        return ExitCode.USAGE
    sys.stdout.write(json.dumps(response) + "\n")
    return ExitCode.OK if ok else ExitCode.FAILED


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return int(exc.code or 0)
    if not hasattr(args, "command"):
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    if args.command == "dev":
        return _dev(args)
    if args.command == "env":
        return _env()
    if args.command == "invoke":
        return _invoke(args)
    command = COMMANDS[args.command]
    try:
        body = command.run(_backend(args), args)
    except CommandError as exc:
        sys.stderr.write(f"jobqueue: {exc}\n")
        return exc.code
    except KeyboardInterrupt:
        sys.stderr.write("jobqueue: interrupted\n")
        return 130
    try:
        if getattr(args, "json", False):
            as_json(body, sys.stdout)
        else:
            command.show(body, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`jobqueue stats | head -1`): it had what it wanted. Later writes, the
        # interpreter's last flush included, go nowhere instead of failing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return command.status(body)

