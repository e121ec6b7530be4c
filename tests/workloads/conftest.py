"""Fixtures for the seed workloads: the stand-ins (once per run), DynamoDB tables on the moto server, and a
namespace whose catalog runs the workloads processors instead of the engine tests' scripted ones."""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import standins
from jobqueue.catalog import default_catalog
from jobqueue.local.topology import create_topology
from jobqueue.registry import ProcessorFn, registry
from jobqueue.settings import get_settings
from tests.api.conftest import api, api_runner
from tests.conftest import Namespace
from workloads.local import allow_outbound
from workloads.processors import ALL

__all__ = ["api", "api_runner"]

CATALOG = Path(__file__).with_name("catalog.toml")
MODULES = [*ALL, "examples.processors"]


@pytest.fixture(scope="session")
def stand_ins() -> Iterator[standins.Running]:
    standins.start_all()
    yield standins.running()
    standins.stop_all()


def _capture_registrations() -> dict[tuple[str, str | None], ProcessorFn]:
    """Import the workloads (and example) modules into an empty registry and keep what they register.

    Done when this conftest is imported, before any test module of this directory imports them, so that their
    decorators never touch the registry the engine and API tests use."""
    saved = registry._processors
    registry._processors = {}
    try:
        for module in MODULES:
            importlib.reload(sys.modules[module]) if module in sys.modules else importlib.import_module(module)
        return dict(registry._processors)
    finally:
        registry._processors = saved


WORKLOAD_PROCESSORS = _capture_registrations()


@pytest.fixture
def ns(ns: Namespace, stand_ins: standins.Running, monkeypatch: pytest.MonkeyPatch) -> Namespace:
    """The engine's namespace (with its DynamoDB tables) with this directory's catalog, fresh SQS queues, the
    stand-ins' environment, and only the workloads processors registered (restored after the test)."""
    token = uuid.uuid4().hex[:10]
    env = {**standins.environment(), **allow_outbound(stand_ins.urls().values()), "JOBQUEUE_CATALOG": str(CATALOG),
           "JOBQUEUE_SQS_PREFIX": f"w{token}-"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    default_catalog.cache_clear()
    monkeypatch.setattr(registry, "_processors", dict(WORKLOAD_PROCESSORS))
    for service in (*stand_ins.http.values(), stand_ins.push):
        service.clear()
    settings, catalog = get_settings(), default_catalog()
    urls = create_topology(ns.sqs, catalog, settings.sqs_name_prefix)
    return Namespace(settings, catalog, urls, {**ns.env, **env}, ns.redis, ns.sqs)
