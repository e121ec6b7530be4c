"""Issue 14: what the dashboard needs from the API, through the API function with real proxy events.

Its files are public and hold nothing secret; its JSON routes (`/session`, `/overview`, a job's timeline, retry
and promote) are guarded like every other; the read-only token reads and changes nothing; a cross-site form post,
which can carry cookies but never the bearer header, is refused before anything runs.
"""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities import parameters

from jobqueue import Queue, QueueAdmin
from tests.api.conftest import TOKEN, ApiClient
from tests.conftest import Namespace
from tests.support.functions import LocalFunctions, messages_in
from tests.support.mappings import create_worker_mappings

READ_ONLY = "test-read-only-token-93c1e7"


@pytest.fixture
def viewer(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> ApiClient:
    """The API with a read-only token configured too."""
    monkeypatch.setenv("READ_ONLY_TOKEN", READ_ONLY)
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    return api


def dead_lead(ns: Namespace, job_id: str) -> str:
    """A lead-processing job that failed for good (unrecoverable: one attempt) and reached the DLQ."""
    Queue("lead-processing").add("process-lead", {"leadId": 1, "behavior": "unrecoverable-once"}, jobId=job_id)
    admin = QueueAdmin("lead-processing")
    LocalFunctions(ns, ["lead-processing"], dead_letters=["lead-processing-dlq"]).pump(
        lambda: admin.dead_letter_count() == 1, timeout=30)
    return job_id


def test_the_dashboard_files_are_public_and_locked_down(api: ApiClient) -> None:
    page = api.call("GET", "/dashboard", token=None)
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="dashboard/app.js"' in page.text and 'href="dashboard/app.css"' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    script = api.call("GET", "/dashboard/app.js", token=None)
    assert script.status == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "sessionStorage" in script.text and "innerHTML" not in script.text and "localStorage" not in script.text
    assert api.call("GET", "/dashboard/app.css", token=None).headers["content-type"].startswith("text/css")
    missing = api.call("GET", "/dashboard/secrets.py", token=None)
    assert missing.status == 404 and missing.json["error"] == "Not Found"
    assert api.call("GET", "/dashboard/__init__.py", token=None).status == 404


def test_the_dashboards_json_routes_need_a_token(api: ApiClient) -> None:
    for path in ("/session", "/overview", "/queues/email/jobs/1/timeline"):
        assert api.call("GET", path, token=None).status == 401, path
        assert api.call("GET", path, token="wrong-token-000000").status == 401, path
    assert api.call("GET", "/session").json == {"readOnly": False}


def test_the_read_only_token_reads_everything_and_changes_nothing(ns: Namespace, viewer: ApiClient) -> None:
    job_id = Queue("email").add("generic", {"to": "a@x.io"})
    create_worker_mappings(ns, "email")
    assert viewer.call("GET", "/session", token=READ_ONLY).json == {"readOnly": True}
    assert viewer.call("GET", "/queues/email", token=READ_ONLY).json["waiting"] == 1
    assert viewer.call("GET", f"/queues/email/jobs/{job_id}", token=READ_ONLY).status == 200
    for method, path, body in [("POST", "/queues/email/pause", None), ("POST", "/queues/email/drain", {}),
                               ("POST", "/queues/email/promote", {}),
                               ("POST", f"/queues/email/jobs/{job_id}/promote", None),
                               ("DELETE", f"/queues/email/jobs/{job_id}", None),
                               ("POST", "/jobs", {"queue": "email", "name": "generic", "data": {}}),
                               ("POST", "/schedules", {"queue": "email", "name": "x", "every": 60000})]:
        refused = viewer.call(method, path, body=body, token=READ_ONLY)
        assert refused.status == 403, (method, path, refused.text)
        assert refused.json["message"] == "the read-only token may only read (GET)"
    status = viewer.call("GET", "/queues/email").json
    assert (status["paused"], status["waiting"], status["eventSources"]["stopped"]) == (0, 1, False)
    assert viewer.call("POST", "/queues/email/pause").status == 200  # the service token still acts
    viewer.call("POST", "/queues/email/resume")


def test_a_cross_site_form_post_is_refused_before_anything_runs(ns: Namespace, api: ApiClient) -> None:
    """What a page on another site can make a signed-in browser send: a form post with the site's cookies and an
    Origin of its own, but no Authorization header (the dashboard keeps its token in sessionStorage)."""
    create_worker_mappings(ns, "email")
    forged = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example",
              "Cookie": f"token={TOKEN}; session={TOKEN}", "Referer": "https://evil.example/page"}
    for path in ("/queues/email/pause", "/queues/email/drain", "/queues/email/retry-failed", "/queues/email/promote"):
        answer = api.call("POST", path, raw=b"confirm=1", headers=forged, token=None)
        assert answer.status == 401, (path, answer.text)
        assert "access-control-allow-origin" not in answer.headers
    assert api.call("GET", "/queues/email").json["eventSources"]["stopped"] is False


def test_overview_shows_every_queue_with_dead_letters_last_hour_and_event_sources(
        ns: Namespace, api: ApiClient) -> None:
    dead_lead(ns, "lead-overview")
    create_worker_mappings(ns, "email")
    api.call("POST", "/queues/email/pause")
    queues = {q["queueName"]: q for q in api.call("GET", "/overview").json["queues"]}
    assert set(queues) == set(ns.catalog.queues)
    lead = queues["lead-processing"]
    assert (lead["failed"], lead["failedLastHour"], lead["completedLastHour"], lead["deadLetters"]) == (1, 1, 0, 1)
    assert (queues["email"]["paused"], queues["email"]["eventSources"]["stopped"]) == (1, True)
    api.call("POST", "/queues/email/resume")


def test_a_jobs_timeline_and_retrying_one_failed_job(ns: Namespace, api: ApiClient) -> None:
    job_id = dead_lead(ns, "lead-timeline")
    path = f"/queues/lead-processing/jobs/{job_id}"
    timeline = api.call("GET", f"{path}/timeline").json
    assert [e["event"] for e in timeline["events"]] == ["added", "waiting", "active", "failed"]
    [only] = timeline["attempts"]
    assert (only["attempt"], only["outcome"], only["delayMs"], only["reason"]) == (1, "failed", None,
                                                                                  "lead has no address")
    assert timeline["complete"] is True and timeline["addedAt"] <= only["startedAt"] <= only["endedAt"]

    retried = api.call("POST", f"{path}/retry")
    assert (retried.status, retried.json) == (200, {"queue": "lead-processing", "jobId": job_id, "retried": True})
    assert Queue("lead-processing").get_state(job_id) == "waiting"
    assert messages_in(ns, "lead-processing") == 1 and QueueAdmin("lead-processing").dead_letter_count() == 0
    again = api.call("POST", f"{path}/retry")
    assert (again.status, again.json["message"]) == (409, "queue 'lead-processing': job 'lead-timeline' is waiting, "
                                                          "not failed")
    LocalFunctions(ns, ["lead-processing"]).pump(
        lambda: Queue("lead-processing").get_state(job_id) == "completed", timeout=30)
    events = [e["event"] for e in api.call("GET", f"{path}/timeline").json["events"] if e["event"] != "progress"]
    assert events == ["added", "waiting", "active", "failed", "waiting", "active", "completed"]
    assert [a["attempt"] for a in api.call("GET", f"{path}/timeline").json["attempts"]] == [1, 1]
    assert api.call("POST", "/queues/lead-processing/jobs/nope/retry").status == 404
    assert api.call("GET", "/queues/lead-processing/jobs/nope/timeline").status == 404
    assert api.call("POST", "/queues/lead-processing/jobs/wait/retry").status == 400
    keys = ns.settings.queue_keys("lead-processing")
    assert ns.redis.zcard(keys.unsent) == 0


def test_promoting_a_delayed_job_and_all_delayed_jobs(ns: Namespace, api: ApiClient) -> None:
    queue = Queue("lead-processing")
    first, second, third = (queue.add("process-lead", {"leadId": i}, jobId=f"later-{i}", delay=3_600_000 * i)
                            for i in (1, 2, 3))
    path = f"/queues/lead-processing/jobs/{first}"
    promoted = api.call("POST", f"{path}/promote")
    assert (promoted.status, promoted.json) == (200, {"queue": "lead-processing", "jobId": first, "promoted": True})
    again = api.call("POST", f"{path}/promote")
    assert (again.status, again.json["message"]) == (409, "queue 'lead-processing': job 'later-1' is waiting, "
                                                          "not delayed")
    assert api.call("POST", "/queues/lead-processing/jobs/nope/promote").status == 404
    assert api.call("POST", "/queues/lead-processing/jobs/wait/promote").status == 400
    assert api.call("POST", "/queues/lead-processing/promote", body={"limit": 0}).status == 400
    one = api.call("POST", "/queues/lead-processing/promote", body={"limit": 1}).json
    assert one == {"queue": "lead-processing", "promoted": [second], "remaining": 0}, "soonest due first"
    assert api.call("POST", "/queues/lead-processing/promote").json["promoted"] == [third]
    LocalFunctions(ns, ["lead-processing"]).pump(
        lambda: all(queue.get_state(j) == "completed" for j in (first, second, third)), timeout=30)
    events = [e["event"] for e in api.call("GET", f"{path}/timeline").json["events"] if e["event"] != "progress"]
    assert events == ["added", "delayed", "waiting", "active", "completed"]
    keys = ns.settings.queue_keys("lead-processing")
    assert (ns.redis.zcard(keys.unsent), ns.redis.zcard(keys.delayed)) == (0, 0)
