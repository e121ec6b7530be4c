"""The catalog validated at build time (jobqueue.prebuilt) is the catalog validation gives, and never stale."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jobqueue import catalog as catalog_module
from jobqueue import prebuilt as prebuilt_module
from jobqueue.catalog import Catalog, default_catalog, load_catalog
from jobqueue.prebuilt import MODEL_SOURCES, fingerprint, load_prebuilt, write_prebuilt
from jobqueue.settings import get_settings


@pytest.fixture
def prebuilt(tmp_path: Path) -> Path:
    return write_prebuilt(tmp_path / "catalog.json")


def test_prebuilt_catalog_equals_the_validated_one_field_for_field(prebuilt: Path) -> None:
    loaded = load_prebuilt(["my.processors"], path=prebuilt)
    validated = load_catalog(None, ["my.processors"])
    assert isinstance(loaded, Catalog)
    assert loaded == validated
    assert loaded.model_dump() == validated.model_dump()
    for name, queue in validated.queues.items():  # nested models are models again, with their behaviour
        twin = loaded.queue(name)
        assert type(twin) is type(queue)
        assert twin.lanes() == queue.lanes()
        assert twin.max_receive_count == queue.max_receive_count
        assert twin.effective_limiter({}) == queue.effective_limiter({})
        assert [type(e) for e in twin.cron] == [type(e) for e in queue.cron]
        assert {n: type(j) for n, j in twin.jobs.items()} == {n: type(j) for n, j in queue.jobs.items()}


def test_a_stale_prebuilt_catalog_is_refused_and_said_so(prebuilt: Path, caplog: pytest.LogCaptureFixture) -> None:
    document = json.loads(prebuilt.read_text())
    document["catalog"]["queues"]["lead-processing"]["attempts"] = 2  # an edit the fingerprint does not know
    document["fingerprint"] = "0" * 64
    prebuilt.write_text(json.dumps(document))
    assert load_prebuilt(path=prebuilt) is None
    assert "prebuilt catalog is stale" in caplog.text
    prebuilt.write_text("{not json")
    assert load_prebuilt(path=prebuilt) is None
    assert "prebuilt catalog unreadable" in caplog.text
    assert load_prebuilt(path=prebuilt.with_name("missing.json")) is None


def test_the_fingerprint_covers_every_module_the_catalog_is_validated_by() -> None:
    # A module that catalog.py imports from jobqueue can change what validation gives, so it must be hashed too.
    code = "import sys, jobqueue.catalog; print(' '.join(m for m in sys.modules if m.startswith('jobqueue.')))"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    hashed = {f"jobqueue.{name.removesuffix('.py')}" for name in MODEL_SOURCES if name.endswith(".py")}
    assert set(imported) - {"jobqueue.errors"} <= hashed  # errors only words the messages
    assert len(fingerprint()) == 64


@pytest.mark.parametrize("state", ["current", "stale", "missing"])
def test_default_catalog_uses_the_prebuilt_file_only_when_it_is_current(
    state: str, prebuilt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if state == "stale":
        prebuilt.write_text(json.dumps({**json.loads(prebuilt.read_text()), "fingerprint": "0" * 64}))
    elif state == "missing":
        prebuilt.unlink()
    monkeypatch.setattr(prebuilt_module, "PREBUILT_PATH", prebuilt)
    monkeypatch.delenv("JOBQUEUE_CATALOG", raising=False)
    monkeypatch.setenv("JOBQUEUE_PROCESSORS", "my.processors")
    validations: list[object] = []
    real = catalog_module.load_catalog

    def validating(*args: Any) -> Catalog:
        validations.append(args)
        return real(*args)

    monkeypatch.setattr(catalog_module, "load_catalog", validating)
    get_settings.cache_clear()
    default_catalog.cache_clear()
    try:
        assert default_catalog() == real(None, ["my.processors"])
        assert validations == ([] if state == "current" else [(None, ["my.processors"])])
    finally:
        get_settings.cache_clear()
        default_catalog.cache_clear()
