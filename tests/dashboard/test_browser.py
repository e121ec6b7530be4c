"""Issue 14's acceptance: the dashboard in a real headless Chromium (Debian's `chromium` and `chromium-driver`)
against one `jobqueue dev` runtime, as `make run` starts it.

The scenario, in order (the tests share the runtime and the browser): a wrong token is refused and the service
token signs in; the overview lists the seed queues; pausing and resuming a queue stops and starts its event
source mappings (asked of the Lambda API too); a schedule is added and removed; a cross-site form post is
refused; a delayed job is promoted, then all delayed ones; seed 000's lead whose CRM sync always fails shows its
1, 2, 4, 8 s timeline, is redriven from the dead-letter page and completes; the read-only token sees no actions.
Every page is checked with axe-core (no serious or critical violation) and written to build/screenshots/ (`make
screenshots` writes the README's, in docs/screenshots/).
"""

from __future__ import annotations

import json
import os
import shlex
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from jobqueue.api.intake import sign
from tests.conftest import ROOT
from tests.local.test_readme import Runtime, makefile_defaults

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
AXE = ROOT / "compat" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(os.environ.get("JOBQUEUE_SCREENSHOTS", ROOT / "build" / "screenshots"))
DEFAULTS = makefile_defaults()
TOKEN, READ_ONLY = DEFAULTS["SERVICE_TOKEN"], DEFAULTS["READ_ONLY_TOKEN"]
LEAD = "demo-contact"  # a contact the GoHighLevel stand-in knows



def exported(runtime: Runtime) -> dict[str, str]:
    """The variables of the runtime's export line."""
    return dict(item.split("=", 1) for item in shlex.split(runtime.export_line)[1:])


def call(runtime: Runtime, method: str, path: str, body: Any = None, *, token: str | None = TOKEN,
         headers: dict[str, str] | None = None, base: str | None = None) -> tuple[int, Any]:
    """One HTTP request; the status and the JSON answer (None when there is none)."""
    sent = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    request = urllib.request.Request((base or runtime.api) + path, data=data, headers=sent, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, text = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    return status, json.loads(text) if text else None


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.25)
    return found


@pytest.fixture(scope="module")
def failing_lead(runtime: Runtime) -> str:
    """Seed 000's story, started first so it runs while the other tests do: a lead (made by a GoHighLevel
    webhook, as in the README) whose CRM sync always fails; its job id."""
    env = exported(runtime)
    body = json.dumps({"type": "ContactCreate", "webhookId": "wh-dashboard", "contactId": LEAD,
                       "timestamp": int(time.time())}).encode()
    signature = f"sha256={sign(DEFAULTS['GHL_WEBHOOK_SECRET'], body)}"
    assert call(runtime, "POST", "/webhooks/gohighlevel", body, token=None,
                headers={"X-GHL-Signature": signature})[0] == 202
    until(lambda: call(runtime, "GET", "/queues/lead-enrichment")[1]["completed"] >= 1, 30, "the lead enriched")
    assert call(runtime, "POST", "/_standin/faults", {"path": "/leads", "status": 503, "times": None}, token=None,
                base=env["CRM_API_URL"])[0] == 201
    status, accepted = call(runtime, "POST", "/jobs",
                            {"queue": "lead-processing", "name": "process-lead", "data": {"leadId": LEAD}})
    assert status == 202
    return str(accepted["jobId"])


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    # A browser test that silently does not run proves nothing: a missing browser fails, naming the fix.
    for needed in (CHROMIUM, CHROMEDRIVER):
        assert needed.exists(), f"{needed} is missing: `make chromium` installs Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # read by diagnosis() when a wait fails
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def diagnosis(driver: WebDriver) -> str:
    """What the tab shows and logged (failed requests with their status), for a wait that timed out."""
    shown = driver.execute_script(
        "return {url: location.href, signedIn: !!sessionStorage.getItem('jobqueue.token'),"
        " text: document.body.innerText.slice(0, 1500)}")
    console = [f"{e['level']} {e['message']}" for e in driver.execute("getLog", {"type": "browser"})["value"]]
    return f"the tab: {shown}; its console: {console[-30:]}"


def wait_for(driver: WebDriver, css: str, text: str | None = None, timeout: float = 45) -> WebElement:
    def found(d: WebDriver) -> WebElement | bool:
        return next((e for e in d.find_elements(By.CSS_SELECTOR, css) if text is None or text in e.text), False)

    # The pages re-render as they refresh: an element read while it is replaced is looked up again.
    wait = WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException])
    try:
        element = wait.until(found, f"{css} {text or ''}")
    except TimeoutException:
        raise AssertionError(f"no {css} {text or ''} within {timeout} s; {diagnosis(driver)}") from None
    assert isinstance(element, WebElement)
    return element


def texts(driver: WebDriver, css: str) -> list[str]:
    """The text of every element `css` matches, read in one script, so a re-render cannot stale them midway."""
    found: list[str] = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText)", css)
    return found


def button(driver: WebDriver, label: str) -> WebElement:
    return wait_for(driver, "button", label)


def open_page(driver: WebDriver, runtime: Runtime, fragment: str, heading: str) -> None:
    """Open a page of the signed-in tab and wait for its heading; a load that stalled (a starved CI machine) is
    reloaded once."""
    driver.get(f"{runtime.api}/dashboard{fragment}")
    assert driver.execute_script("return !!sessionStorage.getItem('jobqueue.token')"), \
        f"{fragment}: the tab is signed out; {diagnosis(driver)}"
    try:
        wait_for(driver, "h1", heading, timeout=20)
    except AssertionError:
        driver.refresh()
        wait_for(driver, "h1", heading, timeout=30)


def accessible_and_shot(driver: WebDriver, name: str) -> None:
    """axe-core finds no serious or critical violation on the page; its screenshot goes to SCREENSHOTS."""
    driver.execute_script(AXE.read_text())
    violations = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document).then((r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact,"
        " nodes: v.nodes.map((n) => n.html)})))).catch((e) => done([{id: String(e), impact: 'critical'}]));")
    assert [v for v in violations if v["impact"] in ("serious", "critical")] == [], name
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(int(height), 600), 2400))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    driver.set_window_size(1400, 1000)


def sign_in(driver: WebDriver, runtime: Runtime, token: str) -> None:
    driver.get(f"{runtime.api}/dashboard")
    driver.execute_script("sessionStorage.clear()")
    driver.get(f"{runtime.api}/dashboard")
    field = wait_for(driver, "#token")
    field.send_keys(token)
    button(driver, "Sign in").click()


def event_source_states(runtime: Runtime, queue: str) -> set[str]:
    """The states of the queue's event source mappings, as the Lambda API reports them."""
    env = exported(runtime)
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    sqs = session.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"])
    arn = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=queue)["QueueUrl"],
                                   AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mappings = session.client("lambda", endpoint_url=env["AWS_ENDPOINT_URL_LAMBDA"])
    return {m["State"] for m in mappings.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]}


def test_a_wrong_token_is_refused_and_the_service_token_signs_in(
        browser: WebDriver, runtime: Runtime, failing_lead: str) -> None:
    sign_in(browser, runtime, "not-the-token")
    wait_for(browser, "#status", "The token was refused")
    assert browser.find_element(By.ID, "nav").get_attribute("hidden") is not None
    assert browser.execute_script("return sessionStorage.getItem('jobqueue.token')") is None
    accessible_and_shot(browser, "sign-in")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    button(browser, "Sign in").click()
    wait_for(browser, "h1", "Queues")
    assert "token" not in browser.current_url and TOKEN not in browser.current_url
    # A late 401 to the wrong token (its page made more than one call) must not sign the right one out.
    until(lambda: texts(browser, "tbody th a"), 30, "the overview's rows")
    assert browser.execute_script("return sessionStorage.getItem('jobqueue.token')") == TOKEN


def test_the_overview_shows_the_seed_queues(browser: WebDriver, runtime: Runtime) -> None:
    open_page(browser, runtime, "#/", "Queues")
    wait_for(browser, "tbody th a", "lead-processing")
    names = set(texts(browser, "tbody th a"))
    assert {"lead-processing", "lead-enrichment", "scheduled-messages", "email", "search"} <= names
    wait_for(browser, "td", "receiving")
    accessible_and_shot(browser, "overview")


def test_pause_and_resume_a_queue_stop_and_start_its_event_sources(browser: WebDriver, runtime: Runtime) -> None:
    open_page(browser, runtime, "#/queue/email", "Queue email")
    button(browser, "Pause").click()
    wait_for(browser, "p", "Paused")
    until(lambda: event_source_states(runtime, "email") == {"Disabled"}, 30, "email's mappings disabled")
    browser.refresh()
    wait_for(browser, "p", "stopped")
    accessible_and_shot(browser, "queue-paused")
    button(browser, "Resume").click()
    wait_for(browser, "p", "Running")
    until(lambda: event_source_states(runtime, "email") == {"Enabled"}, 30, "email's mappings enabled")


def test_add_and_remove_a_schedule(browser: WebDriver, runtime: Runtime) -> None:
    open_page(browser, runtime, "#/schedules", "Schedules")
    wait_for(browser, "tbody th", "scheduled-messages")
    browser.find_element(By.CSS_SELECTOR, "#schedule-queue option[value='email']").click()
    browser.find_element(By.ID, "schedule-name").send_keys("dashboard-digest")
    browser.find_element(By.ID, "schedule-pattern").send_keys("0 9 * * 1")
    tz = browser.find_element(By.ID, "schedule-tz")
    tz.clear()
    tz.send_keys("Europe/Berlin")
    button(browser, "Add schedule").click()
    wait_for(browser, "tbody tr", "dashboard-digest")
    row = next(t for t in texts(browser, "tbody tr") if "dashboard-digest" in t)
    assert "Europe/Berlin" in row and "cron(0 9 ? * MON *)" in row and "09:00:00+01:00" in row
    assert any(s["name"] == "dashboard-digest" for s in call(runtime, "GET", "/schedules")[1]["schedules"])
    accessible_and_shot(browser, "schedules")
    button(browser, "Remove dashboard-digest").click()
    until(lambda: not any("dashboard-digest" in t for t in texts(browser, "tbody tr")),
          10, "the schedule's row gone")
    assert not any(s["name"] == "dashboard-digest" for s in call(runtime, "GET", "/schedules")[1]["schedules"])


def test_a_cross_site_form_post_is_refused(browser: WebDriver, runtime: Runtime) -> None:
    """A page of another origin posts a form to the API in the signed-in browser: no bearer header, a 401."""
    page = (f"<form method='post' action='{runtime.api}/queues/email/pause'><input name='x' value='1'></form>"
            "<script>document.forms[0].submit()</script>")
    browser.get("data:text/html," + urllib.parse.quote(page))
    until(lambda: "Unauthorized" in browser.find_element(By.TAG_NAME, "body").text, 10, "the 401 page")
    assert call(runtime, "GET", "/queues/email")[1]["paused"] == 0
    assert event_source_states(runtime, "email") == {"Enabled"}


def test_promote_a_delayed_job_and_all_delayed_jobs(browser: WebDriver, runtime: Runtime) -> None:
    def add_delayed() -> str:
        status, accepted = call(runtime, "POST", "/jobs", {"queue": "email", "name": "generic", "data": {},
                                                           "opts": {"delay": 3_600_000}})
        assert status == 202
        return str(accepted["jobId"])

    def state(job_id: str) -> str:
        return str(call(runtime, "GET", f"/queues/email/jobs/{job_id}")[1]["state"])

    one = add_delayed()
    open_page(browser, runtime, f"#/job/email/{one}", f"Job {one}")
    button(browser, "Promote").click()
    wait_for(browser, "#status", "Promote: done")
    assert state(one) != "delayed"
    others = [add_delayed(), add_delayed()]
    open_page(browser, runtime, "#/queue/email?state=delayed", "Queue email")
    wait_for(browser, "tbody tr", others[0])
    button(browser, "Promote all delayed").click()
    WebDriverWait(browser, 10).until(lambda d: d.switch_to.alert).accept()
    wait_for(browser, "#status", "Promote all delayed: done")
    assert [state(job_id) for job_id in others].count("delayed") == 0


def test_a_failed_lead_shows_its_backoff_and_is_redriven_from_the_dead_letters(
        browser: WebDriver, runtime: Runtime, failing_lead: str) -> None:
    until(lambda: call(runtime, "GET", f"/queues/lead-processing/jobs/{failing_lead}")[1]["state"] == "failed", 45,
          "the lead's five attempts")
    open_page(browser, runtime, f"#/job/lead-processing/{failing_lead}", f"Job {failing_lead}")
    wait_for(browser, "ol.timeline li", "failed for good")
    steps = texts(browser, "ol.timeline li")
    waits = [float(text.split("waited ")[1].split(" s")[0]) for text in steps if "waited" in text]
    assert [round(w) for w in waits] == [1, 2, 4, 8], steps
    assert "Attempt 5 failed for good" in steps[-1] and "HTTP 503" in steps[-1]
    accessible_and_shot(browser, "job-timeline")

    env = exported(runtime)
    assert call(runtime, "DELETE", "/_standin/faults", token=None, base=env["CRM_API_URL"])[0] < 300
    until(lambda: call(runtime, "GET", "/queues/lead-processing/dlq")[1]["records"], 15, "the dead letter")
    open_page(browser, runtime, "#/dead-letters", "Dead letters")
    wait_for(browser, "tbody tr", failing_lead)
    row = next(t for t in texts(browser, "tbody tr") if failing_lead in t)
    assert "process-lead" in row and LEAD in row and "HTTP 503" in row
    accessible_and_shot(browser, "dead-letters")
    button(browser, f"Redrive {failing_lead}").click()
    wait_for(browser, "#status", "Redrive: done")
    open_page(browser, runtime, f"#/job/lead-processing/{failing_lead}", f"Job {failing_lead}")
    def completed() -> bool:
        browser.refresh()
        wait_for(browser, "#job-state")
        return texts(browser, "#job-state") == ["completed"]

    until(completed, 30, "the redriven job completed, seen in the dashboard")


def test_the_read_only_token_sees_no_actions(browser: WebDriver, runtime: Runtime) -> None:
    sign_in(browser, runtime, READ_ONLY)
    wait_for(browser, "#access", "read-only")
    open_page(browser, runtime, "#/queue/lead-processing?state=completed", "Queue lead-processing")
    wait_for(browser, "tbody tr")
    assert browser.find_elements(By.CSS_SELECTOR, ".actions button") == []
    accessible_and_shot(browser, "queue-read-only")
    assert call(runtime, "POST", "/queues/email/pause", token=READ_ONLY)[0] == 403
