"""Lambda cold start: each handler's import and client setup against a bare `import boto3` + client.

DESIGN.md section 9's budget: at most 1.3x the baseline. Every sample is a fresh interpreter (what a Lambda
cold start pays), runs alternate between the baseline and the handlers so machine load hits both alike, and
the median of `--runs` samples is reported. The last line is one JSON object.

It also times, per handler, init plus a first real event (`bench.first_event`: against REDIS_URL and the AWS
endpoint, the embedded moto unless AWS_ENDPOINT_URL is set), so work moved from init into the first request shows:
`first_event_ms`, and `first_event_ratio` against a bare boto3 + SQS client + one SendMessage of the same run.
`--no-first-event` skips it.

jobqueue's modules are compiled to bytecode first, as the deployed layer ships them (infra/layer.py): where
PYTHONDONTWRITEBYTECODE is set, nothing else would write it, and every sample would compile them from source.

Wall time swings with the load of a shared machine; each figure also has a `cpu_` twin: the same ratio of the
child's own CPU time (`time.process_time`), which other processes hardly move (for a first event it leaves out
the wait on Redis and SQS).

    $ .venv/bin/python -m bench.coldstart --runs 9
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.first_event import FirstEvents

REPO = Path(__file__).resolve().parents[1]
BUDGET = 1.3

BASELINE = "import boto3; boto3.client('sqs')"
# The baseline plus what every handler must load: a Redis client, Powertools' Logger, one pydantic model validated.
# No handler can start below it; `floor_ratio` tells how much of a handler's ratio is jobqueue's own.
FLOOR = (BASELINE + "; import redis; redis.Redis.from_url('redis://127.0.0.1:6379/0'); "
         "from aws_lambda_powertools import Logger; Logger(service='floor'); from pydantic import BaseModel; "
         "type('Floor', (BaseModel,), {'__annotations__': {'a': int}}).model_validate({'a': 1})")
# Each handler as Lambda loads it: the module by file, with the function's environment.
HANDLERS = {
    "worker": {"QUEUE_NAME": "lead-processing"},
    "dead_letter": {"DEAD_LETTER_QUEUE": "lead-processing-dlq"},
    "api": {},
    "scheduler": {},
}
_LOAD = (
    "import importlib.util; spec = importlib.util.spec_from_file_location('handler', {path!r}); "
    "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)"
)
_TIMED = ("import time; t, c = time.perf_counter(), time.process_time(); {code}; "
          "print(time.perf_counter() - t, time.process_time() - c)")
Sample = tuple[float, float]
"""Seconds of wall time and of the process's own CPU time."""


def sample(code: str, env: dict[str, str]) -> Sample:
    """What one fresh interpreter spends running `code` (interpreter start-up itself excluded)."""
    result = subprocess.run([sys.executable, "-c", _TIMED.format(code=code)], env={**os.environ, **env},
                            capture_output=True, text=True, check=True, cwd=REPO)
    return parse_sample(result.stdout)


def parse_sample(stdout: str) -> Sample:
    """The `wall cpu` pair a timed child prints last."""
    wall, cpu = stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def medians(baseline: list[Sample], handlers: dict[str, list[Sample]]) -> tuple[Sample, dict[str, Sample]]:
    """Median wall and CPU time of the baseline and of each handler."""
    def median(samples: list[Sample]) -> Sample:
        return statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)

    return median(baseline), {name: median(samples) for name, samples in handlers.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--first-event", action=argparse.BooleanOptionalAction, default=True,
                        help="also time init + a first real event per handler (default: yes)")
    args = parser.parse_args(argv)
    for folder in ("layers", "functions"):  # as the layer ships them; a function's handler.py is one small file
        compileall.compile_dir(REPO / folder, quiet=1)
    env = {"AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
           "POWERTOOLS_LOG_LEVEL": "WARNING"}
    baseline: list[Sample] = []
    handlers: dict[str, list[Sample]] = {name: [] for name in HANDLERS}
    floor: list[Sample] = []
    for _ in range(args.runs):
        baseline.append(sample(BASELINE, env))
        floor.append(sample(FLOOR, env))
        for name, extra in HANDLERS.items():
            path = str(REPO / "functions" / name / "handler.py")
            handlers[name].append(sample(_LOAD.format(path=path), {**env, **extra}))
    (base, base_cpu), times = medians(baseline, {**handlers, "floor": floor})
    floor_wall, floor_cpu = times.pop("floor")
    print(f"baseline (import boto3 + sqs client): {base * 1000:.0f} ms, {base_cpu * 1000:.0f} ms CPU "
          f"(median of {args.runs})")
    print(f"floor (baseline + redis client, Logger, a pydantic model): {floor_wall / base:.2f}x, "
          f"CPU {floor_cpu / base_cpu:.2f}x")
    ratios = {name: round(wall / base, 2) for name, (wall, _) in times.items()}
    cpu_ratios = {name: round(cpu / base_cpu, 2) for name, (_, cpu) in times.items()}
    for name, (wall, cpu) in times.items():
        verdict = "OK" if ratios[name] <= BUDGET else "MISSED"
        print(f"{name:12} {wall * 1000:6.0f} ms  {ratios[name]:.2f}x  (budget <= {BUDGET}x: {verdict})  "
              f"CPU {cpu * 1000:4.0f} ms  {cpu_ratios[name]:.2f}x")
    result: dict[str, object] = {"baseline_ms": round(base * 1000, 1), "ratio": ratios,
                                 "budget_ok": all(r <= BUDGET for r in ratios.values()),
                                 "cpu_baseline_ms": round(base_cpu * 1000, 1), "cpu_ratio": cpu_ratios,
                                 "floor_ratio": round(floor_wall / base, 2),
                                 "cpu_floor_ratio": round(floor_cpu / base_cpu, 2)}
    if args.first_event:
        result.update(first_events(args.runs, env))
    print(json.dumps(result))
    return 0


def first_events(runs: int, env: dict[str, str]) -> dict[str, object]:
    """Init + first event per handler (median of `runs` fresh interpreters), alternating with its baseline."""
    baseline: list[Sample] = []
    handlers: dict[str, list[Sample]] = {name: [] for name in HANDLERS}
    with FirstEvents().start() as world:
        for _ in range(runs):
            baseline.append(world.baseline())
            for name, extra in HANDLERS.items():
                handlers[name].append(world.sample(name, {**env, **extra}))
    (base, base_cpu), times = medians(baseline, handlers)
    print(f"first-event baseline (import boto3 + sqs client + one SendMessage): {base * 1000:.0f} ms, "
          f"{base_cpu * 1000:.0f} ms CPU")
    for name, (wall, cpu) in times.items():
        print(f"{name:12} {wall * 1000:6.0f} ms  {wall / base:.2f}x  (init + first event)  "
              f"CPU {cpu * 1000:4.0f} ms  {cpu / base_cpu:.2f}x")
    return {"first_event_baseline_ms": round(base * 1000, 1),
            "first_event_ms": {name: round(wall * 1000, 1) for name, (wall, _) in times.items()},
            "first_event_ratio": {name: round(wall / base, 2) for name, (wall, _) in times.items()},
            "first_event_cpu_baseline_ms": round(base_cpu * 1000, 1),
            "first_event_cpu_ms": {name: round(cpu * 1000, 1) for name, (_, cpu) in times.items()},
            "first_event_cpu_ratio": {name: round(cpu / base_cpu, 2) for name, (_, cpu) in times.items()}}


if __name__ == "__main__":
    sys.exit(main())
