"""SMTP delivery for seed 004's email worker: STARTTLS (or implicit TLS), login, one message per job.

Environment (the seed's names): `SMTP_HOST`, `SMTP_PORT` (default 587), `SMTP_USER`, `SMTP_PASS` (or
`SMTP_PASS_SECRET_ID`), `SMTP_SECURE` ("true": implicit TLS, usually port 465; otherwise STARTTLS is required),
`MAIL_FROM`, `SMTP_TIMEOUT` (seconds), `SMTP_CA_FILE` (a CA bundle to trust besides the system's).
"""

from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from workloads.config import env_float, secret
from workloads.errors import ConfigurationError, RejectedError, TransientServiceError

__all__ = ["Mailer", "Outgoing"]


@dataclass(frozen=True)
class Outgoing:
    """One rendered email."""

    to: str
    subject: str
    text: str
    html: str | None = None


class Mailer:
    """Sends `Outgoing` emails; 5xx answers are unrecoverable, everything else transient."""

    def __init__(self, host: str, port: int, *, sender: str, user: str | None = None, password: str | None = None,
                 implicit_tls: bool = False, timeout: float = 10.0, ca_file: str | None = None) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.user, self._password = user, password
        self.implicit_tls, self.timeout = implicit_tls, timeout
        self.tls = ssl.create_default_context(cafile=ca_file)

    @classmethod
    def from_env(cls) -> Mailer:
        host, sender = os.environ.get("SMTP_HOST"), os.environ.get("MAIL_FROM")
        if not host or not sender:
            raise ConfigurationError("SMTP_HOST and MAIL_FROM are required")
        port = os.environ.get("SMTP_PORT", "587")
        if not port.isdigit():
            raise ConfigurationError(f"SMTP_PORT={port!r} is not a port number")
        return cls(host, int(port), sender=sender, user=os.environ.get("SMTP_USER") or None,
                   password=secret("SMTP_PASS"), implicit_tls=os.environ.get("SMTP_SECURE", "").lower() == "true",
                   timeout=env_float("SMTP_TIMEOUT", 10.0), ca_file=os.environ.get("SMTP_CA_FILE") or None)

    def message(self, outgoing: Outgoing) -> EmailMessage:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, outgoing.to, outgoing.subject
        message.set_content(outgoing.text)
        if outgoing.html:
            message.add_alternative(outgoing.html, subtype="html")
        return message

    def send(self, outgoing: Outgoing) -> None:
        try:
            with self._connect() as smtp:
                if self.user:
                    smtp.login(self.user, self._password or "")
                smtp.send_message(self.message(outgoing))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {code for code, _ in exc.recipients.values()}
            if all(code >= 500 for code in codes):
                raise RejectedError(f"SMTP refused recipient {outgoing.to!r}: {exc.recipients}") from exc
            raise TransientServiceError(f"SMTP deferred recipient {outgoing.to!r}: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            detail = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            if exc.smtp_code >= 500:
                raise RejectedError(detail, status=exc.smtp_code) from exc
            raise TransientServiceError(detail) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientServiceError(f"SMTP {self.host}:{self.port}: {type(exc).__name__}: {exc}") from exc

    def _connect(self) -> smtplib.SMTP:
        if self.implicit_tls:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.tls)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise TransientServiceError(f"SMTP {self.host}:{self.port} offers no STARTTLS; not sending in clear")
            smtp.starttls(context=self.tls)
            smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp
