"""Processors for seed 003's generic queues: workflow, tool-execution, llm-requests, data-processing and
cache-warmup. The catalog defines those queues (concurrency, rate limits, the shared `dead-letter` queue); what
their jobs do is each user's, so this module shows the shape, with work that runs as is. `make run` loads it
beside the seed processors; elsewhere name it in JOBQUEUE_PROCESSORS (or the catalog's `processors`).

The data each queue's jobs carry (anything else, a missing field or an extra one, fails the job at once):

- workflow: `{"steps": ["word_count", "sum"], "input": {"text": "...", "numbers": [1, 2]}}`: 1 to 100 tools of
  TOOLS run in order on `input`, each result passed to the next as `previous`; returns `{result, steps}`; a job
  named `total` is a flow's parent instead: it adds up its children's `sum`s (README, "Flows");
- tool-execution: `{"tool": "word_count", "args": {"text": "a b c"}}` (`sum` adds `args.numbers`); returns
  `{tool, result}`;
- llm-requests: `{"model": "...", "prompt": "..."}`, sent to the OpenAI-style API at LLM_API_URL (LLM_API_KEY);
  `make run` has no stand-in for it, so without one these jobs fail to the `dead-letter` queue;
- data-processing: `{"items": [1, 2, 3], "chunk": 1000}` (1 to 1,000,000 numbers; `chunk` optional): returns
  `{count, sum, min, max}`;
- cache-warmup: `{"urls": ["https://..."], "timeout": 5}` (1 to 1000 URLs; `timeout` optional, at most 60 s):
  returns `{warmed, failed}`.

Against `make run` (its defaults: the API on port 3000, the token `local-dev-token`):

    $ API=http://127.0.0.1:3000; AUTH="Authorization: Bearer local-dev-token"
    $ curl -X POST $API/jobs -H "$AUTH" -H 'Content-Type: application/json' \\
           -d '{"queue": "data-processing", "name": "sum", "data": {"items": [1, 2, 3]}, "opts": {"jobId": "sum-1"}}'
    $ curl -H "$AUTH" $API/queues/data-processing/jobs/sum-1   # a moment later: "state": "completed", "sum": 6.0

Each processor validates its data first (a bad job fails at once instead of using its attempts), reports
progress on long work, and raises `RetryAfterError` when a service asks it to wait.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from jobqueue import Job, UnrecoverableError, processor
from workloads.config import service_config
from workloads.http import JsonService, send
from workloads.jobdata import parse

TOOLS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "word_count": lambda args: len(str(args.get("text", "")).split()),
    "sum": lambda args: sum(float(x) for x in args.get("numbers", [])),
}
"""Tools the tool-execution queue may run, by name (seed 003's TOOL_EXECUTION: 10 at a time, 100/s)."""


class Workflow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[str] = Field(min_length=1, max_length=100)
    input: dict[str, Any] = Field(default_factory=dict)


@processor("workflow")
def run_workflow(job: Job) -> dict[str, Any]:
    """Run the named tools in order, each step's result feeding the next as `previous`; progress per step."""
    request = parse(job, Workflow)
    unknown = [s for s in request.steps if s not in TOOLS]
    if unknown:
        raise UnrecoverableError(f"unknown workflow steps {unknown}; known: {sorted(TOOLS)}")
    state: dict[str, Any] = dict(request.input)
    for number, step in enumerate(request.steps, 1):
        state["previous"] = TOOLS[step](state)
        job.update_progress(round(100 * number / len(request.steps)))
    return {"result": state["previous"], "steps": len(request.steps)}


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


@processor("workflow", "total")
def total_of_children(job: Job) -> dict[str, Any]:
    """A flow's parent (README, "Flows"): adds up the sums its data-processing children returned."""
    sums = [value["sum"] for value in job.get_children_values().values() if isinstance(value, dict) and "sum" in value]
    return {"children": len(sums), "sum": sum(sums)}


@processor("tool-execution")
def execute_tool(job: Job) -> dict[str, Any]:
    call = parse(job, ToolCall)
    if call.tool not in TOOLS:
        raise UnrecoverableError(f"unknown tool {call.tool!r}; known: {sorted(TOOLS)}")
    return {"tool": call.tool, "result": TOOLS[call.tool](call.args)}


class Completion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    prompt: str = Field(min_length=1, max_length=100_000)


@processor("llm-requests")
def complete(job: Job) -> dict[str, Any]:
    """One completion from an OpenAI-style API at LLM_API_URL (LLM_API_KEY): its 429s wait for Retry-After, and
    the queue's limiter (10/s) keeps every worker together under the provider's rate."""
    request = parse(job, Completion)
    config = service_config("LLM")
    api = JsonService(config, {"Authorization": f"Bearer {config.api_key or ''}"})
    answer = api.call("POST", "/v1/chat/completions", payload={
        "model": request.model, "messages": [{"role": "user", "content": request.prompt}]}).json() or {}
    return {"text": answer["choices"][0]["message"]["content"], "usage": answer.get("usage")}


class Numbers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[float] = Field(min_length=1, max_length=1_000_000)
    chunk: int = Field(1000, ge=1)


@processor("data-processing")
def summarize(job: Job) -> dict[str, float]:
    """Count, sum, min and max of `items`, in chunks, with progress after each."""
    request = parse(job, Numbers)
    total, low, high = 0.0, request.items[0], request.items[0]
    for start in range(0, len(request.items), request.chunk):
        part = request.items[start:start + request.chunk]
        total, low, high = total + sum(part), min(low, *part), max(high, *part)
        job.update_progress(round(100 * min(start + request.chunk, len(request.items)) / len(request.items)))
    return {"count": len(request.items), "sum": total, "min": low, "max": high}


class Warmup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(min_length=1, max_length=1000)
    timeout: float = Field(5.0, gt=0, le=60)


@processor("cache-warmup")
def warm(job: Job) -> dict[str, Any]:
    """GET every URL once so the caches behind them fill; a URL that fails is reported, not retried."""
    request = parse(job, Warmup)
    failed: dict[str, str] = {}
    for url in request.urls:
        try:
            send("GET", url, timeout=request.timeout, service="warmup")
        except Exception as exc:
            failed[url] = str(exc)[:200]
    return {"warmed": len(request.urls) - len(failed), "failed": failed}
