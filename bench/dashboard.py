"""`make bench-dashboard`: the dashboard's page load in headless Chromium with 100,000 jobs in a queue, next to
the bare JSON route calls the page makes, measured in the same run.

The whole `jobqueue dev` runtime starts in this process under key and queue prefixes of its own (Redis is
REDIS_URL when set). `--jobs` waiting jobs are added to the `workflow` queue through the engine's own script
(their SQS messages go to an in-memory stand-in: only what the pages read, Redis, holds them). Then, `--loads`
times each: the queue page (first page of waiting jobs) and the overview (every queue) are loaded in Debian's
headless Chromium until their table is drawn, and the JSON routes each page calls are called with urllib; the
same queue page for an empty queue is the size baseline. Medians in ms; the last line is one JSON object.

    $ .venv/bin/python -m bench.dashboard --jobs 100000 --loads 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from bench.lifecycle import StubSqs, delete_keys

QUEUE, EMPTY = "workflow", "cache-warmup"
FILL_CHUNK = 10_000


def median_ms(action: Callable[[], object], times: int) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1)


def json_calls(api: str, token: str, paths: Sequence[str]) -> Callable[[], None]:
    """The page's JSON requests, one after another (the page makes them at once: an upper bound)."""
    def call() -> None:
        for path in paths:
            request = urllib.request.Request(api + path, headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=60) as answer:
                answer.read()
    return call


def page_load(driver: Any, api: str, fragment: str, ready_css: str) -> Callable[[], None]:
    """Open the dashboard at `fragment` from a blank tab (signed in: the token is in sessionStorage) until
    `ready_css` is drawn."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def load() -> None:
        driver.get("about:blank")
        driver.get(f"{api}/dashboard{fragment}")
        WebDriverWait(driver, 60, poll_frequency=0.005).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, ready_css))
    return load


def browser(api: str, token: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.get(f"{api}/dashboard")
    driver.execute_script("sessionStorage.setItem('jobqueue.token', arguments[0])", token)
    return driver


def fill(jobs: int) -> None:
    from jobqueue import Queue

    queue = Queue(QUEUE, sqs=StubSqs())
    for start in range(0, jobs, FILL_CHUNK):
        queue.add_bulk([{"name": "bench", "data": {"i": i}} for i in range(start, min(jobs, start + FILL_CHUNK))])
    if queue.get_job_counts()["waiting"] != jobs:
        raise RuntimeError(f"the fill left {queue.get_job_counts()['waiting']} waiting jobs, not {jobs}")


def measure(api: str, token: str, loads: int) -> dict[str, float]:
    driver = browser(api, token)
    page = "/jobs?state=waiting&start=0&end=24"
    try:
        queue_page = page_load(driver, api, f"#/queue/{QUEUE}", "tbody tr")
        empty_page = page_load(driver, api, f"#/queue/{EMPTY}", "caption")
        overview = page_load(driver, api, "#/", "tbody tr")
        for load in (queue_page, empty_page, overview):
            load()  # warm: function processes started, clients connected
        return {
            "queue_page_ms": median_ms(queue_page, loads),
            "queue_json_ms": median_ms(json_calls(api, token, [f"/queues/{QUEUE}", f"/queues/{QUEUE}{page}"]), loads),
            "empty_queue_page_ms": median_ms(empty_page, loads),
            "overview_ms": median_ms(overview, loads),
            "overview_json_ms": median_ms(json_calls(api, token, ["/session", "/overview"]), loads),
        }
    finally:
        driver.quit()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="waiting jobs in the measured queue (100000)")
    parser.add_argument("--loads", type=int, default=10, help="page loads per figure; the median is printed (10)")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.loads < 1:
        parser.error("--jobs and --loads must be positive")
    tag, token = uuid.uuid4().hex[:8], uuid.uuid4().hex
    os.environ.update({"JOBQUEUE_PREFIX": f"bench-{tag}", "JOBQUEUE_SQS_PREFIX": f"bench-{tag}-",
                       "JOBQUEUE_SCHEDULE_PREFIX": f"bench-{tag}-", "JOBQUEUE_API_PORT": "0", "SERVICE_TOKEN": token,
                       "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING")})
    from jobqueue.connection import redis_for
    from jobqueue.local.dev import LocalRuntime
    from jobqueue.settings import get_settings

    runtime = LocalRuntime().start()
    try:
        fill(args.jobs)
        figures = measure(runtime.api.url if runtime.api else "", token, args.loads)
    finally:
        settings = get_settings()
        delete_keys(redis_for(settings), f"{settings.prefix}:*")
        runtime.stop()
    figures.update({
        "jobs": args.jobs, "loads": args.loads,
        "queue_page_vs_json": round(figures["queue_page_ms"] / figures["queue_json_ms"], 2),
        "queue_page_vs_empty_queue": round(figures["queue_page_ms"] / figures["empty_queue_page_ms"], 2),
        "overview_vs_json": round(figures["overview_ms"] / figures["overview_json_ms"], 2),
    })
    print(f"queue page, {args.jobs:,} waiting jobs: {figures['queue_page_ms']} ms (its JSON calls: "
          f"{figures['queue_json_ms']} ms; an empty queue's page: {figures['empty_queue_page_ms']} ms)")
    print(f"overview, every queue: {figures['overview_ms']} ms (its JSON calls: {figures['overview_json_ms']} ms)")
    print(json.dumps(figures, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
