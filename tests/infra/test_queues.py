"""Template tests of the SQS topology: the synthesized queues (lanes included) match the catalog the runtime reads."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from infra.queues import JobQueues
from jobqueue.catalog import RECEIVE_MARGIN, build_catalog
from jobqueue.errors import CatalogError
from tests.infra.conftest import CATALOG, PREFIX
from tests.infra.helpers import queue

DAY = 24 * 3600
DEAD_LETTERS = sorted({q.dead_letter for q in CATALOG.queues.values()})
LANES = [(q.name, lane.sqs_name) for q in CATALOG.queues.values() for lane in q.lanes()]
SCHEDULES_DLQ = "schedules-dlq"


def test_one_queue_per_lane_and_one_per_dead_letter_name(template: Template) -> None:
    assert sorted(CATALOG.dead_letters) == DEAD_LETTERS  # every DLQ has a source queue
    assert len(LANES) > len(CATALOG.queues)  # the catalog has priority lanes (email-p1)
    template.resource_count_is("AWS::SQS::Queue", len(LANES) + len(DEAD_LETTERS) + 1)
    names = {r["Properties"]["QueueName"] for r in template.find_resources("AWS::SQS::Queue").values()}
    assert names == {PREFIX + n for n in [*(sqs_name for _, sqs_name in LANES), *DEAD_LETTERS, SCHEDULES_DLQ]}


def test_email_has_a_priority_lane_with_the_same_dead_letter_queue(template: Template) -> None:
    _, lane = queue(template, "email-p1")
    _, default = queue(template, "email")
    assert lane["RedrivePolicy"] == default["RedrivePolicy"]
    assert lane["VisibilityTimeout"] == default["VisibilityTimeout"]


@pytest.mark.parametrize(
    ("name", "most_attempts", "dead_letter"),
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
def test_seed_queues_redrive_a_margin_above_their_most_attempts(
    template: Template, name: str, most_attempts: int, dead_letter: str
) -> None:
    """The worker dead-letters exhausted jobs itself; redrive is the safety net RECEIVE_MARGIN receives above."""
    dlq_id, _ = queue(template, dead_letter)
    _, props = queue(template, name)
    assert props["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": most_attempts + RECEIVE_MARGIN,
    }


@pytest.mark.parametrize(("name", "sqs_name"), LANES)
def test_work_queue_lane(template: Template, name: str, sqs_name: str) -> None:
    config = CATALOG.queues[name]
    dlq_id, dlq = queue(template, config.dead_letter)
    _, props = queue(template, sqs_name)
    assert props["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": config.max_receive_count,
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
    for name in [*(sqs_name for _, sqs_name in LANES), *DEAD_LETTERS, SCHEDULES_DLQ]:
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
