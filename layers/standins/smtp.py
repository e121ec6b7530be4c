"""An SMTP sink (aiosmtpd) that requires STARTTLS before AUTH, as a real submission server does, and keeps
every message it accepts in order (`sink.messages`)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from standins.keys import self_signed_cert

__all__ = ["Delivered", "SmtpSink"]

USER, PASSWORD = "standin", "standin-smtp-password"


@dataclass(frozen=True)
class Delivered:
    at: float
    sender: str
    recipients: list[str]
    message: EmailMessage


class SmtpSink:
    """Listens on a free port of `host`; its certificate (to trust: `ca_file`) is made at start."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.messages: list[Delivered] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None
        self.ca_file: Path | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        cert, key = self_signed_cert(self.directory, host)
        self.ca_file = cert
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        if not port:
            with socket.socket() as probe:
                probe.bind((host, 0))
                port = int(probe.getsockname()[1])
        self._controller = Controller(self, hostname=host, port=port, tls_context=context, require_starttls=True,
                                      authenticator=_authenticate, auth_require_tls=True)
        self._controller.start()
        return host, port

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(Delivered(time.time(), envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)
