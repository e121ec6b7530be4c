"""The example processors of seed 003's generic queues run through the worker as documented."""

from __future__ import annotations

import pytest

from jobqueue import Queue
from standins.server import Reply, StandIn
from tests.conftest import Namespace
from tests.support.functions import LocalFunctions
from workloads.local import allow_outbound


def _run(ns: Namespace, queue: str, name: str, data: object) -> Queue:
    jobs = Queue(queue)
    job_id = jobs.add(name, data, jobId=f"example-{name}")
    LocalFunctions(ns, [queue], ["dead-letter"]).pump(lambda: jobs.get_state(job_id) in ("completed", "failed"), 20)
    return jobs


def test_workflow_runs_its_steps_in_order_with_progress(ns: Namespace) -> None:
    jobs = _run(ns, "workflow", "onboarding", {"steps": ["word_count"], "input": {"text": "three small words"}})
    job = jobs.get_job("example-onboarding")
    assert job is not None and job.returnvalue == {"result": 3, "steps": 1} and job.progress == 100


def test_unknown_tool_fails_at_once(ns: Namespace) -> None:
    job = _run(ns, "tool-execution", "call", {"tool": "rm"}).get_job("example-call")
    assert job is not None and job.state == "failed" and job.attemptsMade == 1
    assert "unknown tool 'rm'" in (job.failedReason or "")


def test_data_processing_summarizes_in_chunks(ns: Namespace) -> None:
    job = _run(ns, "data-processing", "sum", {"items": [4, 1, 7, 2], "chunk": 3}).get_job("example-sum")
    assert job is not None and job.returnvalue == {"count": 4, "sum": 14.0, "min": 1.0, "max": 7.0}


def test_llm_request_and_cache_warmup_call_their_services(ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    llm = StandIn("llm")
    llm.route("POST", "/v1/chat/completions", lambda request: Reply(200, {
        "choices": [{"message": {"content": f"echo: {request.json()['messages'][0]['content']}"}}]}))
    llm.route("GET", "/page", lambda request: Reply(200, {}))
    llm.start()
    try:
        monkeypatch.setenv("LLM_API_URL", llm.url)
        monkeypatch.setenv("OUTBOUND_ALLOW_HOSTS", allow_outbound([llm.url])["OUTBOUND_ALLOW_HOSTS"])
        job = _run(ns, "llm-requests", "ask", {"model": "small", "prompt": "hi"}).get_job("example-ask")
        assert job is not None and job.returnvalue["text"] == "echo: hi"
        warm = _run(ns, "cache-warmup", "warm", {"urls": [f"{llm.url}/page", f"{llm.url}/gone"]}).get_job(
            "example-warm")
        assert warm is not None and warm.returnvalue["warmed"] == 1 and "HTTP 404" in warm.returnvalue["failed"][
            f"{llm.url}/gone"]
    finally:
        llm.stop()
