"""The processor `bench.first_event` gives the worker (JOBQUEUE_PROCESSORS): its first event runs a real job whose
own cost is nothing, so the figure is the engine's."""

from __future__ import annotations

from jobqueue.registry import processor


@processor("lead-processing", "process-lead")
def no_op(job: object) -> None:
    """Completes at once."""
