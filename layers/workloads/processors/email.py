"""Seed 004's email worker: `password_reset` (priority 1, its own lane) and `generic`, over SMTP."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobqueue.registry import processor
from workloads.clients.mailer import Mailer
from workloads.emails import Generic, PasswordReset, render
from workloads.jobdata import parse

if TYPE_CHECKING:
    from jobqueue.job import Job

__all__ = ["send_generic", "send_password_reset"]


@processor("email", "password_reset")
def send_password_reset(job: Job) -> dict[str, str]:
    Mailer.from_env().send(render("password_reset", parse(job, PasswordReset)))
    return {"template": "password_reset"}


@processor("email", "generic")
def send_generic(job: Job) -> dict[str, str]:
    Mailer.from_env().send(render("generic", parse(job, Generic)))
    return {"template": "generic"}
