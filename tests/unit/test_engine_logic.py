"""Pure logic: backoff, key names, option resolution, catalog validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import jobqueue
from jobqueue.backoff import backoff_delay_ms, visibility_seconds
from jobqueue.catalog import Backoff, load_catalog
from jobqueue.deployment import function_specs
from jobqueue.errors import CatalogError
from jobqueue.job import resolve_options
from jobqueue.keys import REMOVED_TTL_MS, QueueKeys, dead_letter_record_id, dead_letter_record_name, queue_of_key
from jobqueue.scripts import _source
from jobqueue.settings import Settings


def test_exponential_backoff_doubles_from_the_delay() -> None:
    seed_000 = Backoff(type="exponential", delay=1000)
    assert [backoff_delay_ms(seed_000, n) for n in range(1, 5)] == [1000, 2000, 4000, 8000]
    assert backoff_delay_ms(Backoff(type="fixed", delay=500), 4) == 500


def test_jitter_never_lengthens_and_visibility_never_shortens() -> None:
    jittered = Backoff(type="exponential", delay=1000, jitter=0.5)
    delays = [backoff_delay_ms(jittered, 2) for _ in range(200)]
    assert all(1000 <= d <= 2000 for d in delays) and len(set(delays)) > 1
    assert visibility_seconds(1001) == 2 and visibility_seconds(1000) == 1
    assert visibility_seconds(10**9) == 12 * 3600


def test_keys_are_bullmqs() -> None:
    keys = QueueKeys("bull", "lead-processing")
    assert (keys.wait, keys.failed, keys.job("7"), keys.events) == (
        "bull:lead-processing:wait", "bull:lead-processing:failed", "bull:lead-processing:7",
        "bull:lead-processing:events")


def test_cluster_layout_puts_every_key_of_a_queue_under_its_hash_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    """JOBQUEUE_REDIS_CLUSTER: `<prefix>:{<queue>}:...`, what BullMQ clients open as Queue('{email}'); the plain
    layout otherwise, byte for byte."""
    keys = QueueKeys("bull", "email", cluster=True)
    assert (keys.name, keys.queue_key, keys.wait, keys.job("7"), keys.logs("7"), keys.base) == (
        "{email}", "bull:{email}", "bull:{email}:wait", "bull:{email}:7", "bull:{email}:7:logs", "bull:{email}:")
    assert QueueKeys("bull", "email").queue_key == "bull:email"
    assert queue_of_key("bull", "bull:{email}") == queue_of_key("bull", "bull:email") == "email"
    monkeypatch.setenv("JOBQUEUE_REDIS_CLUSTER", "1")
    assert Settings.from_env().queue_keys("email") == keys
    monkeypatch.setenv("JOBQUEUE_REDIS_CLUSTER", "")
    assert Settings.from_env().queue_keys("email") == QueueKeys("bull", "email")


def test_keys_of_jobqueue_own_stay_in_the_queue_namespace() -> None:
    keys = QueueKeys("bull", "email")
    assert (keys.removed, keys.meta) == ("bull:email:removed", "bull:email:meta")
    assert (dead_letter_record_id("email", "42"), dead_letter_record_name("email")) == ("email-42", "email_failed")
    # Tombstones outlive every message a work queue can hold (4 days' retention).
    assert REMOVED_TTL_MS > 4 * 24 * 3600 * 1000


def test_options_layer_call_over_job_name_over_queue() -> None:
    email = load_catalog().queue("email")
    reset = resolve_options(email, "password_reset", {})
    assert (reset.priority, reset.attempts) == (1, 5)
    generic = resolve_options(email, "generic", {"priority": 2})
    assert (generic.priority, generic.attempts) == (2, 3)
    assert email.max_attempts == 5
    assert resolve_options(load_catalog().queue("lead-enrichment"), "x", {}).remove_on_complete is not None


def test_catalog_has_every_seed_queue() -> None:
    catalog = load_catalog()
    assert {"lead-processing", "lead-enrichment", "scheduled-messages", "health-check", "bulk-availability",
            "integration-sync", "message-processing", "workflow", "tool-execution", "llm-requests",
            "notifications", "webhooks", "data-processing", "cache-warmup", "email", "search",
            "notification"} <= set(catalog.queues)
    assert set(catalog.dead_letters) == {"lead-processing-dlq", "dead-letter", "dead"} | {
        f"{q}-dlq" for q in ("lead-enrichment", "scheduled-messages", "health-check", "bulk-availability",
                             "integration-sync", "message-processing")}
    assert catalog.queue("email").effective_concurrency({"EMAIL_WORKER_CONCURRENCY": "9"}) == 9
    limiter = catalog.queue("lead-enrichment").effective_limiter({"ENRICH_RATE_PER_SECOND": "3"})
    assert limiter is not None and limiter.max == 3


@pytest.mark.parametrize(("toml", "message"), [
    ('[queues.email]\nattempts = 0\n', "queue 'email': field attempts"),
    ('[queues.mine]\nbackoff = { type = "linear" }\n', "queue 'mine': field backoff.type"),
    ('[queues.mine]\ncron = [{ name = "x", pattern = "* * *" }]\n', "queue 'mine': field cron.0.pattern"),
    ('[queues."bad:name"]\n', "queue 'bad:name': field name"),
    ('[queues.mine]\nconcurency = 2\n', "queue 'mine': field concurency: Extra inputs"),
    ('queues = 3\n', r"\[queues\] must be a table"),
    ('[queues.mine\n', "not valid TOML"),
    ('[queues.mine]\npriority_lanes = [5, 1]\n', "queue 'mine': field priority_lanes: .*distinct and ascending"),
    ('[queues.mine]\npriority_lanes = [0]\n', "queue 'mine': field priority_lanes.0"),
    ('[queues.mine]\nbatch_size = 100\n', "queue 'mine': .*batch_size 100 needs batching_window"),
    ('[queues.mine]\npriority_lanes = [1]\n[queues.mine-p1]\n', "priority lane 'mine-p1' has the name of a work"),
    ('[queues.mine]\nsends_to = ["nowhere"]\n', r"queue 'mine': field sends_to: unknown queue\(s\) \['nowhere'\]"),
])
def test_bad_catalog_fails_at_load_naming_queue_and_field(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(toml)
    with pytest.raises(CatalogError, match=message):
        load_catalog(str(path))


def test_priority_lanes_route_jobs_by_band() -> None:
    email = load_catalog().queue("email")
    assert [(lane.sqs_name, lane.max_priority) for lane in email.lanes()] == [("email-p1", 1), ("email", None)]
    assert [email.lane_for(p).sqs_name for p in (0, 1, 2, 5)] == ["email", "email-p1", "email", "email"]
    assert [lane.sqs_name for lane in load_catalog().queue("search").lanes()] == ["search"]


def test_function_specs_list_every_function_and_its_event_sources() -> None:
    specs = {spec.name: spec for spec in function_specs(load_catalog(), env={"EMAIL_WORKER_CONCURRENCY": "7"})}
    catalog = load_catalog()
    assert set(specs) == {*(f"worker-{q}" for q in catalog.queues), *(f"dead-letter-{d}" for d in catalog.dead_letters),
                          "api", "scheduler"}
    email = specs["worker-email"]
    assert email.environment == {"QUEUE_NAME": "email"} and email.handler == "worker"
    assert [(s.sqs_name, s.max_concurrency) for s in email.event_sources] == [("email-p1", 7), ("email", 7)]
    assert specs["dead-letter-dead-letter"].event_sources[0].max_concurrency == 1
    assert specs["api"].event_sources == ()


def test_user_catalog_adds_queues_and_processor_modules(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text('processors = ["myapp.jobs"]\n[queues.reports]\nattempts = 2\nconcurrency = 4\n')
    catalog = load_catalog(str(path))
    assert catalog.queue("reports").attempts == 2 and catalog.queue("reports").dead_letter == "reports-dlq"
    assert catalog.processors == ["myapp.jobs"]
    assert "reports-dlq" in catalog.dead_letters


def test_bad_environment_override_names_queue_and_variable() -> None:
    with pytest.raises(CatalogError, match=r"queue 'email': EMAIL_WORKER_CONCURRENCY='0' is not a positive integer"):
        load_catalog().queue("email").effective_concurrency({"EMAIL_WORKER_CONCURRENCY": "0"})
    with pytest.raises(CatalogError, match="ENRICH_RATE_PER_SECOND='fast'"):
        load_catalog().queue("lead-enrichment").effective_limiter({"ENRICH_RATE_PER_SECOND": "fast"})


def test_every_script_is_named_for_the_keys_it_takes() -> None:
    """BullMQ's convention, `<name>-<number of KEYS>.lua`: the number says how many keys a caller passes."""
    commands = Path(jobqueue.__file__).parent / "commands"
    for script in sorted(commands.glob("*.lua")):
        used = {int(n) for n in re.findall(r"KEYS\[(\d+)\]", script.read_text())}
        assert used == set(range(1, int(script.stem.rsplit("-", 1)[1]) + 1)), script.name


def test_every_include_is_pasted_into_the_scripts_that_name_it() -> None:
    commands = Path(jobqueue.__file__).parent / "commands"
    includes = {path.stem for path in (commands / "includes").glob("*.lua")}
    named: set[str] = set()
    for script in sorted(commands.glob("*.lua")):
        named |= set(re.findall(r'^--- @include "(\w+)"$', script.read_text(), re.MULTILINE))
        source = _source(script.name)
        assert "@include" not in source, script.name
    assert named == includes  # each include is used, and each one used exists
    assert "local function emit(" in _source("moveToFinished-13.lua")
