"""Lambda cold start: each handler's import and client setup against a bare `import boto3` + client.

DESIGN.md section 9's budget: at most 1.3x the baseline. Every sample is a fresh interpreter (what a Lambda
cold start pays), runs alternate between the baseline and the handlers so machine load hits both alike, and
the median of `--runs` samples is reported. The last line is one JSON object.

    $ .venv/bin/python -m bench.coldstart --runs 9
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUDGET = 1.3

BASELINE = "import boto3; boto3.client('sqs')"
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
_TIMED = "import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"


def sample(code: str, env: dict[str, str]) -> float:
    """Seconds one fresh interpreter spends running `code` (interpreter start-up itself excluded)."""
    result = subprocess.run([sys.executable, "-c", _TIMED.format(code=code)], env={**os.environ, **env},
                            capture_output=True, text=True, check=True, cwd=REPO)
    return float(result.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    env = {"AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
           "POWERTOOLS_LOG_LEVEL": "WARNING"}
    baseline: list[float] = []
    handlers: dict[str, list[float]] = {name: [] for name in HANDLERS}
    for _ in range(args.runs):
        baseline.append(sample(BASELINE, env))
        for name, extra in HANDLERS.items():
            path = str(REPO / "functions" / name / "handler.py")
            handlers[name].append(sample(_LOAD.format(path=path), {**env, **extra}))
    base = statistics.median(baseline)
    print(f"baseline (import boto3 + sqs client): {base * 1000:.0f} ms (median of {args.runs})")
    ratios: dict[str, float] = {}
    for name, times in handlers.items():
        median = statistics.median(times)
        ratios[name] = round(median / base, 2)
        verdict = "OK" if ratios[name] <= BUDGET else "MISSED"
        print(f"{name:12} {median * 1000:6.0f} ms  {ratios[name]:.2f}x  (budget <= {BUDGET}x: {verdict})")
    print(json.dumps({"baseline_ms": round(base * 1000, 1), "ratio": ratios,
                      "budget_ok": all(r <= BUDGET for r in ratios.values())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
