"""`GET /metrics`: queue depths, finished-job counters and dead-letter depths in Prometheus' text format.

The queue metrics carry the names and labels of npm BullMQ's own `Queue.exportPrometheusMetrics()`
(`bullmq_job_count{queue, state}` per `getJobCounts()` state, `bullmq_job_completed_total` and
`bullmq_job_failed_total`), so dashboards and alerts built for BullMQ's exporter work unchanged. The counters
are BullMQ's metrics hashes (`<prefix>:<queue>:metrics:completed|failed`, field `count`), which the worker's
moveToFinished script increments as BullMQ's workers do; they survive Lambda restarts and read the same from
any instance. jobqueue adds
`jobqueue_queue_paused{queue}` and `jobqueue_dead_letters{queue}` (records awaiting triage per DLQ).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobqueue.queue import COUNT_STATES, read_counts

if TYPE_CHECKING:
    from jobqueue.api.services import Services

__all__ = ["CONTENT_TYPE", "render_metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# getJobCounts()'s states, in the order the pipeline reads them.
_PER_QUEUE = len(COUNT_STATES) + 3


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_metrics(svc: Services) -> str:
    """One scrape: one pipelined Redis round trip for every queue together."""
    queues = sorted(svc.catalog.queues)
    dead_letters = sorted(svc.catalog.dead_letters)
    pipe = svc.redis.pipeline(transaction=False)
    for name in queues:
        k = svc.settings.queue_keys(name)
        read_counts(pipe, k)
        pipe.hexists(k.meta, "paused")
        pipe.hget(k.metrics("completed"), "count")
        pipe.hget(k.metrics("failed"), "count")
    for name in dead_letters:
        pipe.llen(svc.settings.queue_keys(name).wait)
    values = pipe.execute()
    counts = ["# HELP bullmq_job_count Number of jobs in the queue by state", "# TYPE bullmq_job_count gauge"]
    completed = ["# HELP bullmq_job_completed_total Total number of completed jobs",
                 "# TYPE bullmq_job_completed_total counter"]
    failed = ["# HELP bullmq_job_failed_total Total number of failed jobs", "# TYPE bullmq_job_failed_total counter"]
    paused = ["# HELP jobqueue_queue_paused 1 while the queue is paused", "# TYPE jobqueue_queue_paused gauge"]
    for i, name in enumerate(queues):
        row = values[i * _PER_QUEUE:(i + 1) * _PER_QUEUE]
        q = _label(name)
        states, is_paused, done, dead = row[:len(COUNT_STATES)], row[-3], row[-2], row[-1]
        counts += [f'bullmq_job_count{{queue="{q}", state="{state}"}} {int(n)}'
                   for state, n in zip(COUNT_STATES, states, strict=True)]
        paused.append(f'jobqueue_queue_paused{{queue="{q}"}} {int(bool(is_paused))}')
        completed.append(f'bullmq_job_completed_total{{queue="{q}"}} {int(done or 0)}')
        failed.append(f'bullmq_job_failed_total{{queue="{q}"}} {int(dead or 0)}')
    dlq = ["# HELP jobqueue_dead_letters Dead-letter records awaiting triage, per dead-letter queue",
           "# TYPE jobqueue_dead_letters gauge"]
    offset = len(queues) * _PER_QUEUE
    dlq += [f'jobqueue_dead_letters{{queue="{_label(name)}"}} {int(values[offset + j])}'
            for j, name in enumerate(dead_letters)]
    return "\n".join([*counts, *completed, *failed, *paused, *dlq]) + "\n"
