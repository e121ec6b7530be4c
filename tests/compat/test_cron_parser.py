"""jobqueue's cron reading agrees with BullMQ's own (npm `cron-parser`, as installed by `npm ci --prefix compat`).

Run times are compared away from daylight-saving changes, where Scheduler (which fires the deployed schedules)
and cron-parser differ on purpose: Scheduler skips a missing wall-clock time, cron-parser runs it an hour late.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from jobqueue.cron import next_times, parse_cron
from tests.support.bullmq_py import COMPAT_DIR, NODE_TIMEOUT_S

PATTERNS = [
    "0 9 * * 1-5", "*/5 * * * *", "5/15 * * * *", "0-30/10 8-17 * * *", "0 0 1 * 1", "0 0 1-31 * 1-5",
    "0 0 L * *", "0 12 * * 5L", "0 12 * * FRI#2", "0 0 */2 * *", "0 0 1 */3 *", "0 0 * * */2", "0 12 * * 5-7",
    "30 4 1,15 * *", "0 0 29 2 *", "0 9 * JAN,mar mon", "15 14 ? * ?", "0 0 * * 7",
]
START = "2026-01-01T00:00:00Z"
COUNT = 8
# cron-parser's next COUNT run times of each pattern after START in the time zone, as ISO strings in UTC.
NEXT_RUNS_JS = """
const { CronExpressionParser } = require("cron-parser");
const [patterns, tz, start, count] = JSON.parse(process.argv[1]);
const runs = {};
for (const pattern of patterns) {
  const it = CronExpressionParser.parse(pattern, { currentDate: new Date(start), tz });
  runs[pattern] = Array.from({ length: count }, () => it.next().toDate().toISOString());
}
console.log(JSON.stringify(runs));
"""


def cron_parser_runs(tz: str) -> dict[str, list[str]]:
    node = shutil.which("node")
    if node is None or not (COMPAT_DIR / "node_modules" / "cron-parser").is_dir():
        raise RuntimeError("needs node and `npm ci --prefix compat` (cron-parser comes with bullmq)")
    done = subprocess.run([node, "-e", NEXT_RUNS_JS, json.dumps([PATTERNS, tz, START, COUNT])], cwd=COMPAT_DIR,
                          capture_output=True, text=True, timeout=NODE_TIMEOUT_S, check=True)
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/New_York"])
def test_next_run_times_match_bullmqs_cron_parser(tz: str) -> None:
    expected = cron_parser_runs(tz)
    after = datetime.fromisoformat(START)
    for pattern in PATTERNS:
        ours = [run.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.000Z")
                for run in islice(next_times(parse_cron(pattern), ZoneInfo(tz), after), COUNT)]
        assert ours == expected[pattern], pattern
