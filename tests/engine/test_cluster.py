"""Redis Cluster: a queue's keys stay on its hash tag's slot while queues spread over shards, and the one path
that writes two queues (a dead job: failed in its queue, recorded in the dead-letter queue) is two per-slot calls
whose seam loses nothing and does nothing twice. Both on REDIS_URL and on a real Redis Cluster."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

import pytest
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError

from jobqueue import Queue
from jobqueue.deadletter import DeadLetterHandler
from jobqueue.scripts import Delivery, Gates, Scripts
from tests.conftest import Namespace
from tests.support.dead_letters import dlq_records
from tests.support.delivery import Killed, receive
from tests.support.faults import KINDS, Fault, Kind, inject
from tests.support.functions import LocalFunctions
from workloads.stores import LeadStore

if TYPE_CHECKING:
    from redis.cluster import RedisCluster

pytestmark = pytest.mark.cluster  # also run on a real Redis Cluster (tests/conftest.py)


def test_every_key_is_under_its_queues_name_and_queues_spread_over_shards(ns: Namespace) -> None:
    """After jobs completed, failed and were dead-lettered, every key of the run is a queue's (`<prefix>:<name>:`,
    the name being `{queue}` in a cluster) or an app-wide one (`~jobqueue`); in a cluster the catalog's queues
    hash to slots that more than one shard serves."""
    status = LeadStore()
    status.put({"leadId": "5"})
    leads, email = Queue("lead-processing"), Queue("email")
    leads.add_bulk([{"name": "process-lead", "data": {"leadId": i}} for i in range(3)])
    dead = leads.add("process-lead", {"leadId": 5, "behavior": "unrecoverable"})
    email.add("generic", {"to": "a@example.com"})
    functions = LocalFunctions(ns, ["lead-processing", "email"], ["lead-processing-dlq"])
    functions.pump(lambda: leads.get_job_counts()["completed"] == 3 and len(dlq_records(ns, "lead-processing-dlq"))
                   == 1 and email.get_job_counts()["completed"] == 1, timeout=30)
    assert leads.get_state(dead) == "failed"

    names = {ns.settings.queue_keys(q).name: q for q in (*ns.catalog.queues, *ns.catalog.dead_letters)}
    prefix = ns.settings.prefix
    keys = [cast("str", k) for k in ns.redis.scan_iter(match=f"{prefix}:*", count=1000)]
    owners = {k.removeprefix(f"{prefix}:").split(":", 1)[0] for k in keys}
    assert {"~jobqueue", "{lead-processing}" if ns.settings.redis_cluster else "lead-processing"} <= owners
    assert owners - {"~jobqueue"} <= set(names), owners
    if ns.settings.redis_cluster:
        for name in ("{lead-processing}", "{email}", "{lead-processing-dlq}"):  # one queue: one slot
            assert len({key_slot(k.encode()) for k in keys if k.startswith(f"{prefix}:{name}:")}) == 1, name
        waits = [ns.settings.queue_keys(q).wait for q in ns.catalog.queues]
        assert len({key_slot(k.encode()) for k in waits}) == len(waits)
        cluster = cast("RedisCluster", ns.redis)
        assert len({cluster.get_node_from_key(k).name for k in waits}) > 1  # type: ignore[no-untyped-call]


def _events(ns: Namespace, key: str) -> list[dict[str, str]]:
    return [fields for _, fields in cast("list[tuple[str, dict[str, str]]]", ns.redis.xrange(key))]


def _dying_job(ns: Namespace) -> tuple[str, dict[str, object]]:
    """A job that was running when its invocation died for good: active in Redis, and the SQS record of its
    message as redrive delivers it to the dead-letter queue."""
    queue = Queue("lead-processing")
    job_id = queue.add("process-lead", {"leadId": 9})
    [record] = receive(ns, "lead-processing", count=1)
    job = queue.get_job(job_id)
    assert job is not None
    scripts = Scripts(ns.redis, ns.settings.queue_keys("lead-processing"))
    now = int(time.time() * 1000)
    claims = scripts.move_to_active([Delivery(job_id, job.timestamp, "wait")], Gates(token="dead", lease_ms=1), now)
    assert claims.codes == [0]
    return job_id, record


@pytest.mark.parametrize("step", ["fail_dead_jobs", "record_dead_letters"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_fault_between_failing_and_recording_a_dead_job_loses_nothing_and_does_nothing_twice(
        ns: Namespace, step: str, kind: Kind) -> None:
    """A fault at either call of a dead batch (in the job's queue, then in the dead-letter queue) fails the batch;
    SQS delivers it again, and the job ends failed once, with one record, one "failed" event and its hook run."""
    status = LeadStore()
    status.put({"leadId": "9"})
    job_id, record = _dying_job(ns)
    event = {"Records": [record]}

    handler = DeadLetterHandler("lead-processing-dlq")
    target = handler.source_scripts("lead-processing") if step == "fail_dead_jobs" else handler.scripts
    fault = inject(target, step, Fault(kind))
    with pytest.raises((Killed, RedisConnectionError)):
        handler.handle(event)
    assert fault.calls == 1
    assert (status.get("9") or {}).get("status") != "PERMANENTLY_FAILED", "no hook before the batch is recorded"

    DeadLetterHandler("lead-processing-dlq").handle(event)  # SQS's next delivery of the same batch

    keys, dlq = ns.settings.queue_keys("lead-processing"), ns.settings.queue_keys("lead-processing-dlq")
    assert ns.redis.zrange(keys.failed, 0, -1) == [job_id] and ns.redis.llen(keys.active) == 0
    events = _events(ns, keys.events)
    assert [e["jobId"] for e in events if e["event"] == "failed"] == [job_id]
    [dead] = dlq_records(ns, "lead-processing-dlq")
    assert dead["originalJobId"] == job_id
    dlq_events = _events(ns, dlq.events)
    assert [e["event"] for e in dlq_events] == ["added", "waiting"]
    assert (status.get("9") or {}).get("status") == "PERMANENTLY_FAILED"
