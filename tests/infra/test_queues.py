"""Template tests of the SQS topology: the synthesized queues match the catalog the runtime reads."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from infra.queues import JobQueues
from infra.stack import JobQueueStack, StageSettings
from jobqueue.catalog import build_catalog
from jobqueue.errors import CatalogError
from tests.infra.conftest import CATALOG, PREFIX

DAY = 24 * 3600
DEAD_LETTERS = sorted({q.dead_letter for q in CATALOG.queues.values()})


def queue(template: Template, name: str) -> tuple[str, dict[str, Any]]:
    """The logical id and properties of the queue named `<PREFIX><name>` (there must be exactly one)."""
    found = template.find_resources("AWS::SQS::Queue", {"Properties": {"QueueName": PREFIX + name}})
    assert len(found) == 1, f"{len(found)} queues named {PREFIX + name}"
    [(logical_id, resource)] = found.items()
    return logical_id, resource["Properties"]


def test_one_queue_per_catalog_queue_and_one_per_dead_letter_name(template: Template) -> None:
    assert sorted(CATALOG.dead_letters) == DEAD_LETTERS  # every DLQ has a source queue
    template.resource_count_is("AWS::SQS::Queue", len(CATALOG.queues) + len(DEAD_LETTERS))
    names = {r["Properties"]["QueueName"] for r in template.find_resources("AWS::SQS::Queue").values()}
    assert names == {PREFIX + n for n in [*CATALOG.queues, *DEAD_LETTERS]}


@pytest.mark.parametrize(
    ("name", "max_receive_count", "dead_letter"),
    [
        ("lead-processing", 5, "lead-processing-dlq"),  # seed 000
        ("lead-enrichment", 3, "lead-enrichment-dlq"),  # seed 001
        ("workflow", 1, "dead-letter"),  # seed 003: BullMQ's default, one attempt
        ("webhooks", 5, "dead-letter"),
        ("email", 5, "dead"),  # seed 004: password_reset's 5 attempts, not the queue's default 1
        ("search", 5, "dead"),
        ("notification", 3, "dead"),
    ],
)
def test_seed_queues_redrive_after_their_most_attempts(
    template: Template, name: str, max_receive_count: int, dead_letter: str
) -> None:
    dlq_id, _ = queue(template, dead_letter)
    _, props = queue(template, name)
    assert props["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": max_receive_count,
    }


@pytest.mark.parametrize("name", sorted(CATALOG.queues))
def test_work_queue(template: Template, name: str) -> None:
    config = CATALOG.queues[name]
    dlq_id, dlq = queue(template, config.dead_letter)
    _, props = queue(template, name)
    assert props["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": config.max_attempts,
    }
    assert props["SqsManagedSseEnabled"] is True
    assert "KmsMasterKeyId" not in props
    assert props["VisibilityTimeout"] == 6 * config.timeout
    assert props["MessageRetentionPeriod"] == 4 * DAY
    assert dlq["MessageRetentionPeriod"] > props["MessageRetentionPeriod"]


@pytest.mark.parametrize("name", DEAD_LETTERS)
def test_dead_letter_queue(template: Template, name: str) -> None:
    _, props = queue(template, name)
    assert "RedrivePolicy" not in props
    assert props["SqsManagedSseEnabled"] is True
    assert props["MessageRetentionPeriod"] == CATALOG.dead_letters[name].retention_days * DAY == 14 * DAY
    # The dead-letter function runs its sources' on_dead hooks: it may take as long as their workers.
    assert props["VisibilityTimeout"] == 6 * max(q.timeout for q in CATALOG.sources_of(name))


def test_every_queue_denies_requests_without_tls(template: Template) -> None:
    deny_plain_http = {
        "Effect": "Deny",
        "Action": "sqs:*",
        "Principal": {"AWS": "*"},
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    for name in [*CATALOG.queues, *DEAD_LETTERS]:
        logical_id, _ = queue(template, name)
        template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": logical_id}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [Match.object_like({**deny_plain_http, "Resource": {"Fn::GetAtt": [logical_id, "Arn"]}})]
                    )
                },
            },
        )


def test_aws_solutions_checks_find_nothing(stack: JobQueueStack) -> None:
    report = AwsSolutionsChecks().validate_scope(stack)
    findings = [f"{v.rule_name}: {[r.construct_path for r in v.violating_resources]}" for v in report.violations]
    assert findings == []
    assert report.success


def test_aws_solutions_checks_do_flag_a_bare_queue() -> None:
    """The check above is not vacuous: a queue with neither DLQ nor TLS policy is reported."""
    stack = Stack(App(), "bare")
    sqs.Queue(stack, "Bare")
    report = AwsSolutionsChecks().validate_scope(stack)
    assert {v.rule_name for v in report.violations} == {"AwsSolutions-SQS3", "AwsSolutions-SQS4"}


def test_a_dead_letter_queue_must_outlive_its_sources() -> None:
    catalog = build_catalog({"jobs": {}}, {"jobs-dlq": {"retention_days": 4}})
    with pytest.raises(CatalogError, match="'jobs-dlq': field retention_days: 4"):
        JobQueues(Stack(App(), "short"), "Queues", catalog=catalog)


def test_stage_settings_come_from_context() -> None:
    assert StageSettings.from_context(App().node) == StageSettings(stage="dev", name_prefix="")
    app = App(context={"stage": "prod", "name_prefix": "prod-"})
    assert StageSettings.from_context(app.node) == StageSettings(stage="prod", name_prefix="prod-")
    with pytest.raises(ValueError, match="stage 'Prod!'"):
        StageSettings(stage="Prod!")
