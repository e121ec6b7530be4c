"""Typed clients for the seed systems' external services, one module per service (imported on use)."""

from __future__ import annotations

__all__: list[str] = []
