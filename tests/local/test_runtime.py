"""What `jobqueue dev` creates and runs, compared with the catalog; pausing a queue stops its event sources."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest

from jobqueue import Queue, QueueAdmin
from jobqueue.connection import aws_client
from jobqueue.cron import to_scheduler_expression
from jobqueue.local.dev import DEFAULT_MAX_CONCURRENCY, LocalRuntime
from jobqueue.sweeper import SWEEP_EVENT, sweep_schedule
from tests.conftest import Namespace


@pytest.fixture
def runtime(ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalRuntime]:
    """The whole local runtime in this process, in the test's namespace, schedules under a prefix of its own."""
    monkeypatch.setenv("JOBQUEUE_SCHEDULE_PREFIX", f"t{uuid.uuid4().hex[:8]}-")
    running = LocalRuntime(api_port=0, poll_wait_seconds=1).start()
    yield running
    running.stop()


def test_the_topology_equals_the_catalog(ns: Namespace, runtime: LocalRuntime) -> None:
    sqs, prefix, catalog = ns.sqs, ns.settings.sqs_name_prefix, ns.catalog
    urls = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=1000)["QueueUrls"]
    attributes = {url.rsplit("/", 1)[-1][len(prefix):]: sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["All"])["Attributes"] for url in urls}
    lanes = {lane.sqs_name: queue for queue in catalog.queues.values() for lane in queue.lanes()}
    assert set(attributes) == set(lanes) | set(catalog.dead_letters)
    assert {"email-p1", "email", "lead-processing-dlq", "dead", "dead-letter"} <= set(attributes)
    for name, queue in lanes.items():
        redrive = json.loads(attributes[name]["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == attributes[queue.dead_letter]["QueueArn"], name
        assert int(redrive["maxReceiveCount"]) == queue.max_receive_count, name
        assert int(attributes[name]["VisibilityTimeout"]) == 6 * queue.timeout, name
    for name, dlq in catalog.dead_letters.items():
        assert "RedrivePolicy" not in attributes[name]
        assert int(attributes[name]["MessageRetentionPeriod"]) == dlq.retention_days * 86400

    # One event source per lane of every queue and per DLQ, with the catalog's batch size, window, concurrency.
    expected = {(lane.sqs_name, q.batch_size, q.batching_window, q.effective_concurrency())
                for q in catalog.queues.values() for lane in q.lanes()}
    expected |= {(name, 10, 0, dlq.concurrency) for name, dlq in catalog.dead_letters.items()}
    sources = [p.source for p in runtime.pollers]
    assert len(sources) == len(expected)
    assert {(s.sqs_name, s.batch_size, s.batching_window, s.max_concurrency) for s in sources} == expected
    assert all(p.concurrency == min(p.source.max_concurrency, DEFAULT_MAX_CONCURRENCY) for p in runtime.pollers)
    assert set(runtime.pools) == ({f"worker-{q}" for q in catalog.queues}
                                  | {f"dead-letter-{d}" for d in catalog.dead_letters} | {"api", "scheduler"})

    # One Scheduler schedule per cron entry, in its time zone, invoking the scheduler function.
    scheduler = aws_client("scheduler")
    schedule_prefix = runtime.ticker.prefix if runtime.ticker else ""
    listed = scheduler.list_schedules(GroupName="default", NamePrefix=schedule_prefix)["Schedules"]
    schedules = {s["Name"]: scheduler.get_schedule(Name=s["Name"], GroupName="default") for s in listed
                 if s["Name"].startswith(schedule_prefix)}
    sweep = schedules.pop(sweep_schedule(schedule_prefix)["Name"])  # beside the catalog's: the sweeper's
    assert (sweep["ScheduleExpression"], json.loads(sweep["Target"]["Input"])) == ("rate(1 minute)", SWEEP_EVENT)
    entries = {(q.name, e.name): e for q in catalog.queues.values() for e in q.cron}
    assert {(s["ScheduleExpression"], s["ScheduleExpressionTimezone"], s["Target"]["Arn"].rsplit(":", 1)[-1])
            for s in schedules.values()} == {(to_scheduler_expression(e.pattern), e.tz, "scheduler")
                                             for e in entries.values()}
    assert {(json.loads(s["Target"]["Input"])["queue"], json.loads(s["Target"]["Input"])["name"])
            for s in schedules.values()} == set(entries)


def test_pause_stops_the_queues_event_sources_and_resume_continues(ns: Namespace, runtime: LocalRuntime) -> None:
    admin = QueueAdmin("lead-processing")
    pollers = [p for p in runtime.pollers if p.function == "worker-lead-processing"]
    client = aws_client("lambda")  # the runtime's Lambda API, as the API function and the CLI reach it
    assert runtime.lambda_api is not None and client.meta.endpoint_url == runtime.lambda_api.endpoint
    assert f"AWS_ENDPOINT_URL_LAMBDA={runtime.lambda_api.endpoint}" in runtime.shell_environment()
    admin.pause()
    deadline = time.monotonic() + 30
    while not admin.event_sources().stopped:  # Disabling until each poller is between receives
        assert time.monotonic() < deadline, "the event source did not stop"
        time.sleep(0.05)
    assert all(p.is_disabled.is_set() for p in pollers)
    mappings = client.list_event_source_mappings(FunctionName="worker-lead-processing")["EventSourceMappings"]
    assert [m["State"] for m in mappings] == ["Disabled"] * len(pollers)
    job_id = Queue("lead-processing").add("process-lead", {"leadId": 7})
    time.sleep(3)
    url = ns.queue_urls["lead-processing"]
    counts = ns.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("1", "0")
    assert Queue("lead-processing").get_state(job_id) == "waiting"
    admin.resume()
    deadline = time.monotonic() + 60
    while Queue("lead-processing").get_state(job_id) != "completed":
        assert time.monotonic() < deadline, "the job did not complete after resume"
        time.sleep(0.1)
    job = Queue("lead-processing").get_job(job_id)
    assert job is not None and job.attemptsMade == 1  # the pause consumed no attempt
    assert admin.event_sources().enabled == len(pollers)
