"""Dead letters over the API: redriven jobs go back to their own queue, complete, and their records go."""

from __future__ import annotations

import pytest

from jobqueue import Queue
from tests.api.conftest import ApiClient
from tests.conftest import Namespace
from tests.support.functions import LocalFunctions
from tests.support.processors import attempts_of

pytestmark = pytest.mark.cluster  # also run on a real Redis Cluster (tests/conftest.py)


def test_redrive_one_then_all_returns_jobs_to_their_queue_and_they_complete(ns: Namespace, api: ApiClient) -> None:
    leads = Queue("lead-processing")
    ids = [leads.add("process-lead", {"leadId": i, "behavior": "unrecoverable-once"}) for i in range(3)]
    functions = LocalFunctions(ns, ["lead-processing"], ["lead-processing-dlq"])

    def dead_letters() -> list[dict[str, object]]:
        answer = api.call("GET", "/queues/lead-processing/dlq")
        assert answer.status == 200
        records: list[dict[str, object]] = answer.json["records"]
        return records

    functions.pump(lambda: len(dead_letters()) == 3, 20)
    records = {r["originalJobId"]: r for r in dead_letters()}
    assert set(records) == set(ids)
    assert all(r["queue"] == "lead-processing" and r["error"] == "lead has no address" for r in records.values())
    assert all(leads.get_state(i) == "failed" for i in ids)

    first = api.call("POST", "/queues/lead-processing/dlq/redrive", body={"recordIds": [records[ids[0]]["recordId"]]})
    assert first.status == 200 and first.json == {"queue": "lead-processing", "redriven": [ids[0]], "remaining": 0}
    assert {r["originalJobId"] for r in dead_letters()} == set(ids[1:])
    rest = api.call("POST", "/queues/lead-processing/dlq/redrive")
    assert rest.status == 200 and sorted(rest.json["redriven"]) == sorted(ids[1:])
    assert dead_letters() == []

    functions.pump(lambda: all(leads.get_state(i) == "completed" for i in ids), 20)
    for job_id in ids:
        job = leads.get_job(job_id)
        assert job is not None and job.returnvalue["leadId"] == ids.index(job_id)
        assert len(attempts_of(job_id)) == 2  # the dead attempt, then the redriven one
    metrics = api.call("GET", "/queues/lead-processing").json
    assert (metrics["completed"], metrics["failed"]) == (3, 0)
    assert api.call("GET", "/stats").json["deadLetters"]["lead-processing-dlq"] == 0
