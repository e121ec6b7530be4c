"""Seed 004's email jobs, validated and rendered from the package's templates (`templates/<name>.txt|.html`)."""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from string import Template
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from workloads.clients.mailer import Outgoing

__all__ = ["Generic", "PasswordReset", "render"]

Address = Annotated[str, Field(pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$", max_length=254)]


class _Email(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: Address


class PasswordReset(_Email):
    """`password_reset`: the link the user follows (priority 1 in the catalog)."""

    reset_url: HttpUrl = Field(alias="resetUrl")
    name: str = Field("there", max_length=200)
    expires_minutes: int = Field(60, alias="expiresMinutes", gt=0, le=7 * 24 * 60)


class Generic(_Email):
    """`generic`: a notification with its own subject and text."""

    subject: str = Field(min_length=1, max_length=998)
    message: str = Field(min_length=1, max_length=100_000)


SUBJECTS = {"password_reset": "Reset your password"}


@cache
def _template(name: str, kind: str) -> Template:
    return Template(resources.files("workloads").joinpath(f"templates/{name}.{kind}").read_text())


def render(name: str, email: PasswordReset | Generic) -> Outgoing:
    """Fill both templates of `name` with the job's fields (HTML-escaped in the HTML part)."""
    fields = {k: str(v) for k, v in email.model_dump().items()}
    subject = email.subject if isinstance(email, Generic) else SUBJECTS[name]
    return Outgoing(to=email.to, subject=subject, text=_template(name, "txt").substitute(fields),
                    html=_template(name, "html").substitute({k: html.escape(v) for k, v in fields.items()}))
