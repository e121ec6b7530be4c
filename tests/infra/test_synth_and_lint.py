"""Acceptance 1 and 5: the real CDK CLI synthesizes the app (no Docker, no AWS credentials) and cfn-lint finds no
error in its template or in the other stage variants' templates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.layer import REPO
from infra.stack import JobQueueStack
from tests.infra.conftest import CATALOG, EXISTING_VPC

CDK_CLI = REPO / "infra" / "cli" / "node_modules" / ".bin" / "cdk"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"  # the dev dependency's console script, beside this Python
STACK = "jobqueue-ci"


@pytest.fixture(scope="session")
def cli_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cdk synth -c stage=ci` into a temporary cloud assembly, as `make synth` runs it."""
    assert CDK_CLI.exists(), f"{CDK_CLI} is missing: `make install` (npm ci --prefix infra/cli) installs it"
    out = tmp_path_factory.mktemp("cdk.out")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}  # no credentials, no endpoint
    env.update(CDK_DISABLE_CLI_TELEMETRY="true", JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1")
    result = subprocess.run(
        [str(CDK_CLI), "synth", "--quiet", "--no-notices", "--no-version-reporting", "-c", "stage=ci",
         "-o", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def test_cli_synth_writes_one_worker_per_catalog_queue_and_one_dlq_each(cli_assembly: Path) -> None:
    manifest = json.loads((cli_assembly / "manifest.json").read_text())
    assert manifest["artifacts"][STACK]["properties"]["templateFile"] == f"{STACK}.template.json"
    template = json.loads((cli_assembly / f"{STACK}.template.json").read_text())
    resources = template["Resources"].values()
    variables = [r["Properties"].get("Environment", {}).get("Variables", {}) for r in resources
                 if r["Type"] == "AWS::Lambda::Function"]
    workers = {v["QUEUE_NAME"] for v in variables if "QUEUE_NAME" in v}
    assert workers == set(CATALOG.queues)
    queues = {r["Properties"]["QueueName"]: r["Properties"] for r in resources if r["Type"] == "AWS::SQS::Queue"}
    for name in CATALOG.queues:
        dlq_arn = queues[name]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert template["Resources"][dlq_arn]["Properties"]["QueueName"] == CATALOG.queues[name].dead_letter
    # cdk-nag ran inside the app (app.py adds AwsSolutionsChecks): an unacknowledged finding fails the synth.
    report = json.loads((cli_assembly / "validation-report.json").read_text())
    assert all(r["summary"]["status"] == "success" for r in report.get("pluginReports", []))


def lint(paths: list[Path]) -> list[dict[str, Any]]:
    """cfn-lint's findings on `paths`, in one process (its start-up is most of its cost)."""
    result = subprocess.run([str(CFN_LINT), "--format", "json", *map(str, paths)],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.stdout, result.stderr[-2000:]
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    return findings


def test_cfn_lint_finds_no_errors_in_any_stage(
    cli_assembly: Path, variant: Callable[..., tuple[JobQueueStack, Template]], tmp_path: Path
) -> None:
    templates = [cli_assembly / f"{STACK}.template.json"]
    # The variants that change resource types or properties (cfn-lint costs ~10 s of CPU per template).
    variants: list[dict[str, Any]] = [{"management_auth": "iam", "nat_gateways": 1, "redis_shards": 3},
                                      {"cache": "serverless", "vpc_id": EXISTING_VPC}]
    for index, settings in enumerate(variants):
        path = tmp_path / f"variant-{index}.json"
        path.write_text(json.dumps(variant(**settings)[1].to_json()))
        templates.append(path)
    broken = tmp_path / "broken.json"  # proves the linter reports errors at all
    broken.write_text(json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Delay": 1}}}}))
    findings = lint([*templates, broken])
    errors = [f for f in findings if f["Level"] == "Error"]
    assert {Path(f["Filename"]).name for f in errors} == {"broken.json"}, [
        (f["Filename"], f["Rule"]["Id"], f["Message"]) for f in errors if not f["Filename"].endswith("broken.json")]
