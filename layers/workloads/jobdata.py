"""Job data is outside input: validated into a model, or the job fails at once with the problem named."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError

from jobqueue.errors import UnrecoverableError

if TYPE_CHECKING:
    from jobqueue.job import Job

__all__ = ["parse"]

M = TypeVar("M", bound=BaseModel)


def parse(job: Job, model: type[M]) -> M:
    """`job.data` as `model`; an UnrecoverableError naming every bad field otherwise (no retry can fix data)."""
    try:
        return model.model_validate(job.data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}" for e in exc.errors())
        raise UnrecoverableError(f"{job.queue}/{job.name}: invalid job data: {problems}") from exc
