"""Cold start through a first real event: each handler loaded in a fresh interpreter, then invoked once.

`bench.coldstart` times import and client setup; this times the same plus the handler's first event (the shapes
of events/), against Redis and an AWS endpoint, so work moved from init into the first request shows. Each
sample gets an event of its own: a job added and received from SQS for the worker, a dead letter of a new job,
a `POST /jobs` with a new job id, a cron tick of another minute. The baseline is a bare `import boto3` + SQS
client + one SendMessage, in the same run. Everything lives under key and queue prefixes of its own, removed
afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EVENTS = REPO / "events"
SERVICE_TOKEN = "test-service-token-5b1d0c"  # the test-only token the API events carry (events/README.md)
PROCESSORS = "bench.noop_processor"

# The event is read before the clock starts; the context has what Powertools' inject_lambda_context reads.
_INVOKE = """import json, sys, time, types
event = json.loads(sys.stdin.read())
t, c = time.perf_counter(), time.process_time()
import importlib.util
spec = importlib.util.spec_from_file_location('handler', {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
context = types.SimpleNamespace(function_name={name!r}, memory_limit_in_mb=512, aws_request_id='bench',
    invoked_function_arn='arn:aws:lambda:us-east-1:000000000000:function:{name}',
    get_remaining_time_in_millis=lambda: 60000)
result = module.lambda_handler(event, context)
elapsed = time.perf_counter() - t, time.process_time() - c
print(json.dumps(result, default=str))
print(*elapsed)
"""
_BASELINE = """import time
t, c = time.perf_counter(), time.process_time()
import boto3
boto3.client('sqs').send_message(QueueUrl={url!r}, MessageBody='{{}}')
print(time.perf_counter() - t, time.process_time() - c)
"""


def _load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())  # type: ignore[no-any-return]


class FirstEvents:
    """A private world on the AWS endpoint and Redis (`start()`), and one fresh event per handler per sample."""

    def __init__(self) -> None:
        token = uuid.uuid4().hex[:10]
        self.env = {
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            "JOBQUEUE_PREFIX": f"bench-cold-{token}",
            "JOBQUEUE_SQS_PREFIX": f"bc{token}-",
            "JOBQUEUE_TABLE_PREFIX": f"bc{token}-",
            "JOBQUEUE_PROCESSORS": PROCESSORS,
            "SERVICE_TOKEN": SERVICE_TOKEN,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
        self.urls: dict[str, str] = {}
        self.sqs: Any = None
        self.n = 0

    @contextmanager
    def start(self) -> Iterator[FirstEvents]:
        """The embedded moto unless AWS_ENDPOINT_URL names an endpoint; the catalog's queues and the seeds' tables."""
        from jobqueue.catalog import default_catalog
        from jobqueue.connection import aws_client, redis_client
        from jobqueue.local.services import EmbeddedMoto
        from jobqueue.local.topology import create_topology
        from jobqueue.settings import get_settings
        from workloads.records import create_tables

        with ExitStack() as stack:
            if not os.environ.get("AWS_ENDPOINT_URL"):
                moto = EmbeddedMoto().start()
                stack.callback(moto.stop)
            os.environ.update(self.env)
            get_settings.cache_clear()
            default_catalog.cache_clear()
            self.sqs = aws_client("sqs")
            self.urls = create_topology(self.sqs, default_catalog(), self.env["JOBQUEUE_SQS_PREFIX"])
            stack.callback(self._delete_queues)
            create_tables(aws_client("dynamodb"), self.env["JOBQUEUE_TABLE_PREFIX"])
            redis = redis_client(self.env["REDIS_URL"])
            stack.callback(lambda: [redis.unlink(k) for k in redis.scan_iter(f"{self.env['JOBQUEUE_PREFIX']}:*")])
            self.env.update({name: os.environ[name] for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                                                                "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
                             if name in os.environ})
            yield self

    def _delete_queues(self) -> None:
        for url in self.urls.values():
            self.sqs.delete_queue(QueueUrl=url)

    def baseline(self) -> tuple[float, float]:
        """Seconds (wall, CPU) a fresh interpreter spends importing boto3, making an SQS client, sending a message."""
        code = _BASELINE.format(url=self.urls["workflow"])
        result = subprocess.run([sys.executable, "-c", code], env={**os.environ, **self.env}, capture_output=True,
                                text=True, check=True, cwd=REPO)
        wall, cpu = result.stdout.split()
        return float(wall), float(cpu)

    def sample(self, handler: str, extra_env: dict[str, str]) -> tuple[float, float]:
        """Seconds (wall, CPU) a fresh interpreter spends loading `handler` and handling its first event (checked
        to succeed)."""
        self.n += 1
        event, check, after = self._event(handler)
        code = _INVOKE.format(path=str(REPO / "functions" / handler / "handler.py"), name=handler)
        result = subprocess.run([sys.executable, "-c", code], input=json.dumps(event), capture_output=True,
                                text=True, env={**os.environ, **self.env, **extra_env}, cwd=REPO, check=False)
        lines = result.stdout.strip().splitlines()
        if result.returncode != 0 or len(lines) < 2 or not check(json.loads(lines[-2])):
            raise RuntimeError(f"{handler}'s first event failed: {result.stdout[-600:]}{result.stderr[-1500:]}")
        after()
        wall, cpu = lines[-1].split()
        return float(wall), float(cpu)

    def _event(self, handler: str) -> tuple[dict[str, Any], Callable[[Any], bool], Callable[[], object]]:
        """(event, what a success looks like, what the event source does after it) for this sample."""
        nothing: Callable[[], object] = dict
        if handler == "worker":
            return self._worker_event()
        if handler == "dead_letter":
            event = _load("sqs-dlq-lead-processing.json")
            record = event["Records"][0]
            body = json.loads(record["body"])
            body["id"] = f"bench-dead-{self.n}"
            record["body"], record["messageId"] = json.dumps(body), str(uuid.uuid4())
            return event, lambda r: r == {"batchItemFailures": []}, nothing
        if handler == "api":
            event = _load("api-post-jobs.json")
            body = json.loads(event["body"])
            body["opts"]["jobId"] = f"bench-api-{self.n}"
            event["body"] = json.dumps(body)
            return event, lambda r: r.get("statusCode") == 202, nothing
        event = _load("scheduler.json")
        tick = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=self.n)
        event["scheduledTime"] = tick.isoformat().replace("+00:00", "Z")
        return event, lambda r: bool(r.get("jobId")), nothing

    def _worker_event(self) -> tuple[dict[str, Any], Callable[[Any], bool], Callable[[], object]]:
        """A job added to lead-processing and its message received from SQS, as its event source mapping does."""
        from jobqueue.local.runner import settle, sqs_event
        from jobqueue.queue import Queue

        Queue("lead-processing").add("process-lead", {"leadId": self.n})
        url = self.urls["lead-processing"]
        messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=5,
                                            MessageSystemAttributeNames=["All"],
                                            MessageAttributeNames=["All"])["Messages"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        event = sqs_event(messages, arn, "us-east-1")
        return (event, lambda r: r == {"batchItemFailures": []},
                lambda: settle(self.sqs, url, messages, set()))
