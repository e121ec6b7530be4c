"""Issue 15, point 5: checkov on every stage's template finds no failed check that the template does not acknowledge
with a reason (`infra.checkov.skip_checks`, beside the resource it excuses), and the changes it asked for hold.

checkov runs once, from its own venv (`make checkov`), over the session's synthesized templates.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.api import BEARER_REASON, OPENAPI, PUBLIC_REASONS, routes
from infra.checkov import MIN_REASON
from infra.layer import REPO
from infra.stack import JobQueueStack
from tests.infra.conftest import VARIANTS
from tests.infra.helpers import function_by_description

CHECKOV = REPO / ".checkov" / "venv" / "bin" / "checkov"
# Every kind of check the templates acknowledge: a new kind is a decision to make here, not a side effect.
ACKNOWLEDGED = {
    "CKV_AWS_18",  # the payload bucket: no server access logs (transient job data, CloudTrail has the calls)
    "CKV_AWS_21",  # the payload bucket: no versioning (a removed job's data must go)
    "CKV_AWS_27",  # SQS: SSE-SQS, which the check does not read
    "CKV_AWS_59",  # API methods authorized by the function (bearer token, HMAC) or public by design
    "CKV_AWS_111",  # ENI and X-Ray actions on '*'
    "CKV_AWS_115",  # concurrency capped by event source mappings and throttling, not reserved
    "CKV_AWS_116",  # synchronously invoked functions: a Lambda DLQ does not apply
    "CKV_AWS_117",  # CDK's deploy-time custom resource outside the VPC
    "CKV_AWS_119",  # DynamoDB: AWS-managed key
    "CKV_AWS_120",  # no API cache for live job state
    "CKV_AWS_149",  # Secrets Manager: AWS-managed key
    "CKV_AWS_158",  # log groups: CloudWatch Logs' own encryption
    "CKV_AWS_173",  # Lambda environments without secret values
}
STAGES = {"default": {}, **{"-".join(settings): settings for settings in VARIANTS}}
# One acknowledged and one unacknowledged failure: proves a failure is reported and an acknowledgement honoured.
PLANTED = {"Resources": {
    "Open": {"Type": "AWS::SQS::Queue", "Properties": {}},
    "Acknowledged": {"Type": "AWS::SQS::Queue", "Properties": {},
                     "Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_27", "comment": "planted"}]}}},
}}
Report = dict[str, dict[str, list[dict[str, Any]]]]
"""Template name -> "passed" | "failed" | "skipped" -> checkov's check records."""
# The first test's setup may synthesize the variants (when this file runs before the others that share them) and
# runs checkov over six templates: minutes of CPU on a loaded 2-core machine, above the suite's 300 s default.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def reports(
    template: Template, variant: Callable[..., tuple[JobQueueStack, Template]], tmp_path_factory: pytest.TempPathFactory
) -> Report:
    """checkov's results on every stage's template and on PLANTED, from one checkov process (its start-up and
    check loading are most of its cost)."""
    assert CHECKOV.exists(), f"{CHECKOV} is missing: `make checkov` installs it"
    out = tmp_path_factory.mktemp("checkov")
    for name, settings in STAGES.items():
        synthesized = variant(**settings)[1] if settings else template
        # One line per property: checkov copies a resource's lines into each of its records.
        (out / f"{name}.json").write_text(json.dumps(synthesized.to_json(), indent=1))
    (out / "planted.json").write_text(json.dumps(PLANTED, indent=1))
    result = subprocess.run(
        [str(CHECKOV), "--directory", str(out), "--framework", "cloudformation", "--output", "json",
         "--compact", "--skip-download"],  # no code blocks in the output; no network: checkov's own check ids only
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 1 and result.stdout, result.stderr[-4000:]  # 1: PLANTED's failure
    results = json.loads(result.stdout)["results"]
    found: Report = {name: {"passed": [], "failed": [], "skipped": []} for name in [*STAGES, "planted"]}
    for outcome in ("passed", "failed", "skipped"):
        for check in results.get(f"{outcome}_checks", []):
            found[Path(check["file_path"]).stem][outcome].append(check)
    return found


def test_checkov_reports_a_failure_and_honours_an_acknowledgement(reports: Report) -> None:
    planted = reports["planted"]
    assert [(c["check_id"], c["resource"]) for c in planted["failed"]] == [("CKV_AWS_27", "AWS::SQS::Queue.Open")]
    assert [(c["check_id"], c["resource"], c["check_result"]["suppress_comment"]) for c in planted["skipped"]] == [
        ("CKV_AWS_27", "AWS::SQS::Queue.Acknowledged", "planted")]


@pytest.mark.parametrize("stage", STAGES)
def test_checkov_finds_no_unacknowledged_failure(reports: Report, stage: str) -> None:
    report = reports[stage]
    assert report["passed"] and report["skipped"]
    assert [(c["check_id"], c["resource"]) for c in report["failed"]] == []


def test_every_acknowledgement_is_one_resources_and_gives_a_reason(reports: Report) -> None:
    skipped = [c for stage in STAGES for c in reports[stage]["skipped"]]
    assert {c["check_id"] for c in skipped} == ACKNOWLEDGED
    for check in skipped:
        assert len(check["check_result"]["suppress_comment"]) >= MIN_REASON, (check["check_id"], check["resource"])


def test_management_routes_are_open_to_api_gateway_only_where_the_function_checks_the_token(reports: Report) -> None:
    """Under `managementAuth=iam` only the routes the document leaves public are acknowledged (each with its own
    reason); with the bearer token every secured route carries the reason that the function checks it."""
    document = json.loads(OPENAPI.read_text())
    operations = routes(document)
    secured = sum(bool(o.get("security", document.get("security"))) for _, _, o in operations)

    def open_methods(stage: str) -> list[str]:
        skipped = reports[stage]["skipped"]
        return [c["check_result"]["suppress_comment"] for c in skipped if c["check_id"] == "CKV_AWS_59"]

    public = list(PUBLIC_REASONS.values())
    assert sorted(open_methods("management_auth")) == sorted(public)
    assert sorted(open_methods("default")) == sorted(public + [BEARER_REASON] * secured)
    assert secured == len(operations) - len(public) > 0


def test_the_scheduler_function_has_its_dead_letter_queue(reports: Report, template: Template) -> None:
    """The one function invoked asynchronously (by Scheduler) passes CKV_AWS_116 itself; SQS- and API-fed ones are
    acknowledged (a Lambda DLQ applies to asynchronous invocations only)."""
    scheduler_id, _ = function_by_description(template, "jobqueue scheduler target: turns schedule ticks into jobs")
    passed = {c["resource"] for c in reports["default"]["passed"] if c["check_id"] == "CKV_AWS_116"}
    assert passed == {f"AWS::Lambda::Function.{scheduler_id}"}
