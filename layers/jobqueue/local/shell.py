"""The export line `jobqueue dev` prints for other shells, and what a later `jobqueue dev` makes of one pasted
into its own shell.

The line ends with JOBQUEUE_LOCAL, naming the endpoints that runtime started itself (`AWS_ENDPOINT_URL`,
`REDIS_URL`, or `none`). Pasted, then Ctrl-C, then `make run` again in the same shell: those values point at
what just stopped. `forget_stale` drops each that no longer answers, so the runtime starts its own again (on
the ports its state folder keeps: the line is valid again); a value the user gave that does not answer is
refused in one line saying what to do, never taken for an endpoint to fail on later.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
from collections.abc import MutableMapping
from urllib.parse import urlsplit

from jobqueue.local.services import LocalServiceError

__all__ = ["ENDPOINTS", "MARKER", "export_line", "forget_stale", "hide_password"]

MARKER = "JOBQUEUE_LOCAL"
ENDPOINTS = ("AWS_ENDPOINT_URL", "REDIS_URL")
"""The endpoints a runtime starts itself when they are not given (moto, redis-server)."""
_DEFAULT_PORTS = {"http": 80, "https": 443, "redis": 6379, "rediss": 6379}


def export_line(values: dict[str, str], own: list[str], *, reveal: bool = True) -> str:
    """`export NAME=value ...` for a shell, ending with the marker that names the endpoints in `own`; passwords
    in URLs shown as `***` unless `reveal` (for printing where logs may keep them)."""
    values = {**values, MARKER: ",".join(own) or "none"}
    return "export " + " ".join(f"{name}={shlex.quote(value if reveal else hide_password(value))}"
                                for name, value in values.items())


def hide_password(value: str) -> str:
    """`value` with the password of a URL replaced by `***`."""
    url = urlsplit(value)
    try:
        password = url.password
    except ValueError:
        return value
    if not password:
        return value
    return url._replace(netloc=f"{url.username or ''}:***@{url.netloc.rsplit('@', 1)[1]}").geturl()


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether something accepts connections where `url` points (a TCP connect; a unix socket's path exists)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return os.path.exists(parts.path)
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return False
    if not parts.hostname or port is None:
        return False
    with contextlib.suppress(OSError), socket.create_connection((parts.hostname, port), timeout):
        return True
    return False


def forget_stale(environ: MutableMapping[str, str]) -> list[str]:
    """Remove the endpoints a stopped runtime's pasted export line left in `environ` (named by its marker, no
    longer answering) and the marker; returns their names. A given endpoint that does not answer is a
    LocalServiceError saying what to do."""
    own = set(environ.pop(MARKER, "").split(","))
    forgotten = []
    for name in ENDPOINTS:
        value = environ.get(name)
        if not value or answers(value):
            continue
        if name not in own:
            raise LocalServiceError(f"{name}={hide_password(value)} does not answer: start what it names, or "
                                    f"`unset {name}` and jobqueue dev starts its own")
        del environ[name]
        forgotten.append(name)
    return forgotten
