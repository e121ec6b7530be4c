"""Where each external service is and how to authenticate: read from the environment when a job needs it.

A service NAME is configured by `NAME_API_URL` (required), `NAME_API_KEY` or `NAME_API_KEY_SECRET_ID` (a Secrets
Manager id, read through Powertools' cached parameters when deployed) and `NAME_TIMEOUT` (seconds, default 10).
`OUTBOUND_ALLOW_HOSTS` names the hosts outgoing HTTP may reach on non-public addresses (`workloads.http`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from workloads.errors import ConfigurationError

__all__ = ["ServiceConfig", "env_float", "outbound_allow_hosts", "secret", "service_config"]

DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ServiceConfig:
    """One service's base URL, credential and per-request timeout."""

    name: str
    url: str
    api_key: str | None
    timeout: float

    def __repr__(self) -> str:  # the key never reaches a log line
        return f"ServiceConfig(name={self.name!r}, url={self.url!r}, timeout={self.timeout})"


def env_float(name: str, default: float) -> float:
    """A positive number from the environment; a clear error names the variable."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise ConfigurationError(f"{name}={raw!r} must be positive")
    return value


def outbound_allow_hosts() -> frozenset[str]:
    """`OUTBOUND_ALLOW_HOSTS`: comma-separated `host` (any port) or `host:port` entries (IPv6 as `[::1]:8080`)
    that outgoing HTTP may reach whatever address they resolve to: a VPC-internal service, or the local runtime's
    stand-ins on loopback. Lower-cased; a malformed entry is a ConfigurationError naming it."""
    raw = os.environ.get("OUTBOUND_ALLOW_HOSTS", "")
    entries = frozenset(e.strip().lower().rstrip(".") for e in raw.split(",") if e.strip())
    for entry in entries:
        if any(c in entry for c in "/@?# \t"):
            raise ConfigurationError(f"OUTBOUND_ALLOW_HOSTS: {entry!r} is not a host or host:port")
    return entries


def secret(name: str, *, required: bool = False) -> str | None:
    """`NAME` itself, or the Secrets Manager secret named by `NAME_SECRET_ID` (cached by Powertools)."""
    value = os.environ.get(name)
    if value:
        return value
    secret_id = os.environ.get(f"{name}_SECRET_ID")
    if secret_id:
        from jobqueue.connection import get_secret

        return str(get_secret(secret_id, max_age=300))
    if required:
        raise ConfigurationError(f"{name} (or {name}_SECRET_ID) is not set")
    return None


def service_config(name: str) -> ServiceConfig:
    """The configuration of service `name` (e.g. "GHL" reads GHL_API_URL, GHL_API_KEY, GHL_TIMEOUT)."""
    url = os.environ.get(f"{name}_API_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{name}_API_URL={url!r}: an http(s) URL is required")
    return ServiceConfig(name=name, url=url.rstrip("/"), api_key=secret(f"{name}_API_KEY"),
                         timeout=env_float(f"{name}_TIMEOUT", DEFAULT_TIMEOUT_S))
