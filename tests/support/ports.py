"""Free loopback ports for the servers tests start (never fixed ones: the machine is shared)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now, picked by the OS on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
