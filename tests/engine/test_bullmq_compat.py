"""Acceptance 5: npm bullmq, PyPI bullmq and the seeds' redis-cli commands read jobqueue's state correctly."""

from __future__ import annotations

from jobqueue import Queue
from jobqueue.keys import QueueKeys
from tests.conftest import Namespace
from tests.support.bullmq_py import read_state, read_state_node
from tests.support.functions import LocalFunctions

FIELDS = ("name", "data", "attemptsMade", "progress", "returnvalue", "failedReason")


def test_real_bullmq_clients_report_what_jobqueue_reports(ns: Namespace) -> None:
    leads, email = Queue("lead-processing"), Queue("email")
    done = leads.add_bulk([{"name": "process-lead", "data": {"leadId": i}} for i in range(3)])
    dead = leads.add("process-lead", {"leadId": 10, "behavior": "unrecoverable"})
    retrying = leads.add("process-lead", {"leadId": 11, "behavior": "flaky", "failures": 1},
                         backoff={"type": "fixed", "delay": 600_000})
    functions = LocalFunctions(ns, ["lead-processing"], ["lead-processing-dlq"])
    functions.pump(lambda: leads.get_job_counts()["completed"] == 3 and leads.get_state(dead) == "failed"
                   and leads.get_state(retrying) == "delayed"
                   and ns.redis.llen(QueueKeys(ns.settings.prefix, "lead-processing-dlq").wait) == 1, timeout=20)
    delayed = leads.add("process-lead", {"leadId": 12}, delay=3_600_000)
    waiting = leads.add_bulk([{"name": "process-lead", "data": {"leadId": 20 + i}} for i in range(2)])
    prioritized = email.add("generic", {"to": "a@example.com"})  # priority 5 from the catalog
    urgent = email.add("password_reset", {"to": "b@example.com"})  # priority 1
    plain = email.add("generic", {"to": "c@example.com"}, priority=0)

    ids = {"lead-processing": [*done, dead, retrying, delayed, *waiting],
           "email": [prioritized, urgent, plain]}
    from_node = read_state_node(ns.settings.redis_url, ns.settings.prefix, ids)
    from_pypi = read_state(ns.settings.redis_url, ns.settings.prefix, ids)
    for name, job_ids in ids.items():
        ours = Queue(name).get_job_counts()
        assert from_node[name]["counts"] == ours, name
        assert from_pypi[name]["counts"] == ours, name
        for job_id in job_ids:
            job = Queue(name).get_job(job_id)
            assert job is not None
            expected = {field: getattr(job, field) for field in FIELDS}
            for reader, state in (("npm", from_node), ("pypi", from_pypi)):
                seen = state[name]["jobs"][job_id]
                assert {field: seen[field] for field in FIELDS} == expected, (reader, job_id)
                assert seen["state"] == job.state, (reader, job_id)

    assert from_node["lead-processing"]["counts"] == {
        "active": 0, "completed": 3, "delayed": 2, "failed": 1, "prioritized": 0, "waiting": 2,
        "waiting-children": 0}
    assert from_node["email"]["counts"]["prioritized"] == 2
    assert from_node["email"]["counts"]["waiting"] == 1
    assert from_node["lead-processing"]["jobs"][retrying]["attemptsMade"] == 1
    assert from_node["lead-processing"]["jobs"][done[0]]["returnvalue"] == {"leadId": 0, "attempt": 1}
    assert from_node["lead-processing"]["jobs"][dead]["failedReason"] == "lead has no address"

    # The seeds' runbook commands.
    p = ns.settings.prefix
    assert ns.redis.llen(f"{p}:lead-processing:wait") == 2
    assert ns.redis.llen(f"{p}:lead-processing:active") == 0
    assert ns.redis.zcard(f"{p}:lead-processing:failed") == 1
    assert ns.redis.zcard(f"{p}:lead-processing:completed") == 3
    assert ns.redis.llen(f"{p}:lead-processing-dlq:wait") == 1
    assert ns.redis.hget(f"{p}:lead-processing:{done[0]}", "name") == "process-lead"
