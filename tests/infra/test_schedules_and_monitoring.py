"""Template tests of the Scheduler schedules (the catalog's cron entries) and of the alarms and dashboard."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_cdk.assertions import Template

from infra.cache import NODES
from infra.monitoring import CACHE_MEMORY_ALARM_PERCENT, OLDEST_MESSAGE_ALARM_S
from infra.schedules import RETRY_POLICY
from infra.stack import JobQueueStack
from jobqueue.schedules import SCHEDULED_TIME, schedule_definitions
from jobqueue.sweeper import SWEEP_EVENT, sweep_schedule
from tests.infra.conftest import CATALOG, PREFIX
from tests.infra.helpers import (
    actions_on,
    function,
    function_by_description,
    job_functions,
    one,
    queue,
    resources,
    statements,
)

SCHEDULER = "jobqueue scheduler target: turns schedule ticks into jobs"


def schedules(template: Template) -> dict[str, dict[str, Any]]:
    """The catalog's cron schedules by name (the sweeper's is tested on its own)."""
    found = template.find_resources("AWS::Scheduler::Schedule").values()
    return {r["Properties"]["Name"]: r["Properties"] for r in found
            if r["Properties"]["Name"] != sweep_schedule(PREFIX)["Name"]}


def test_the_sweeper_runs_every_minute_through_the_scheduler_function(template: Template) -> None:
    [sweep] = [r["Properties"] for r in template.find_resources("AWS::Scheduler::Schedule").values()
               if r["Properties"]["Name"] == sweep_schedule(PREFIX)["Name"]]
    assert sweep["ScheduleExpression"] == "rate(1 minute)" and sweep["State"] == "ENABLED"
    assert json.loads(sweep["Target"]["Input"]) == SWEEP_EVENT
    assert sweep["Target"]["RetryPolicy"] == RETRY_POLICY


def test_one_schedule_per_cron_entry_with_its_expression_and_time_zone(template: Template) -> None:
    found = schedules(template)
    entries = [(q.name, e) for q in CATALOG.queues.values() for e in q.cron]
    assert len(found) == len(entries) >= 2  # seed 002's two cron jobs
    assert found[f"{PREFIX}scheduled-messages.process-scheduled-messages"]["ScheduleExpression"] == "cron(* * ? * * *)"
    assert found[f"{PREFIX}health-check.run-health-check"]["ScheduleExpression"] == "cron(0/5 * ? * * *)"
    for queue_name, entry in entries:
        props = found[f"{PREFIX}{queue_name}.{entry.name}"]
        assert props["ScheduleExpressionTimezone"] == entry.tz
        assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert props["State"] == "ENABLED"
        event = json.loads(props["Target"]["Input"])
        assert event == {"queue": queue_name, "name": entry.name, "data": entry.data, "scheduledTime": SCHEDULED_TIME}


def test_schedules_are_the_engines_definitions(template: Template) -> None:
    """Built from jobqueue.schedules, so `POST /schedules/initialize` would write exactly these."""
    found = schedules(template)
    for definition in schedule_definitions(CATALOG, PREFIX):
        props = found[definition["Name"]]
        assert (props["ScheduleExpression"], props["ScheduleExpressionTimezone"], props["Target"]["Input"],
                props["Description"]) == (definition["ScheduleExpression"], definition["ScheduleExpressionTimezone"],
                                          definition["Input"], definition["Description"])


def test_schedules_invoke_the_scheduler_function_with_retries_and_a_dead_letter_queue(template: Template) -> None:
    scheduler_id, _ = function_by_description(template, SCHEDULER)
    dlq_id, dlq = queue(template, "schedules-dlq")
    assert dlq["SqsManagedSseEnabled"] is True
    [group] = template.find_resources("AWS::Scheduler::ScheduleGroup").values()
    for props in schedules(template).values():
        target = props["Target"]
        assert target["Arn"] == {"Fn::GetAtt": [scheduler_id, "Arn"]}
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
        assert target["RetryPolicy"] == RETRY_POLICY
        assert props["GroupName"] == group["Properties"]["Name"] == "jobqueue-test"
    role_id = next(iter(schedules(template).values()))["Target"]["RoleArn"]["Fn::GetAtt"][0]
    role = template.find_resources("AWS::IAM::Role")[role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    policy = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}})
    allowed = {(a, json.dumps(r)) for p in policy.values() for s in p["Properties"]["PolicyDocument"]["Statement"]
               for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]) for r in resources(s)}
    assert ("lambda:InvokeFunction", json.dumps({"Fn::GetAtt": [scheduler_id, "Arn"]})) in allowed
    assert {a for a, _ in allowed} == {"lambda:InvokeFunction", "sqs:SendMessage", "sqs:GetQueueAttributes",
                                       "sqs:GetQueueUrl"}


def test_ticks_the_scheduler_function_failed_go_to_the_schedules_dead_letter_queue(template: Template) -> None:
    """Scheduler invokes the function asynchronously: after Lambda's retries a failed tick is dead-lettered to the
    same queue as one Scheduler could not deliver, never dropped; the function's own role may send there."""
    scheduler_id, props = function_by_description(template, SCHEDULER)
    dlq_id, _ = queue(template, "schedules-dlq")
    assert props["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    assert "sqs:SendMessage" in actions_on(statements(template, props), {"Fn::GetAtt": [dlq_id, "Arn"]})
    synchronous = {i for i, p in job_functions(template).items() if i != scheduler_id}
    assert synchronous and all("DeadLetterConfig" not in job_functions(template)[i] for i in synchronous)


def alarms(template: Template) -> dict[str, dict[str, Any]]:
    return {r["Properties"]["AlarmDescription"]: r["Properties"]
            for r in template.find_resources("AWS::CloudWatch::Alarm").values()}


def test_alarms_per_queue_notify_the_encrypted_topic(template: Template) -> None:
    topic_id, topic = one(template, "AWS::SNS::Topic", {})
    assert "KmsMasterKeyId" in topic
    found = alarms(template)
    for alarm in found.values():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["TreatMissingData"] == "notBreaching"
    lanes = [lane.sqs_name for q in CATALOG.queues.values() for lane in q.lanes()]
    expected = (len(lanes) + 2 * len(CATALOG.queues) + len(CATALOG.dead_letters) + 1 + NODES)  # 1: schedules-dlq
    assert len(found) == expected
    assert found["jobqueue schedules-dlq: jobs failed for good"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    for name in CATALOG.queues:
        worker_id, _ = function(template, "QUEUE_NAME", name)
        errors = found[f"jobqueue {name}: the worker failed (an invocation error, not a job's retry)"]
        assert (errors["MetricName"], errors["Dimensions"]) == ("Errors", [{"Name": "FunctionName",
                                                                            "Value": {"Ref": worker_id}}])
        throttles = found[f"jobqueue {name}: the worker was throttled"]
        assert throttles["MetricName"] == "Throttles" and throttles["Threshold"] == 1
    for lane in lanes:
        age = found[f"jobqueue {lane}: a job has waited {OLDEST_MESSAGE_ALARM_S} s or more"]
        assert age["MetricName"] == "ApproximateAgeOfOldestMessage"
        assert age["Threshold"] == OLDEST_MESSAGE_ALARM_S
    for dlq in CATALOG.dead_letters:
        dlq_id, _ = queue(template, dlq)
        not_empty = found[f"jobqueue {dlq}: jobs failed for good"]
        assert not_empty["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert not_empty["Threshold"] == 1 and not_empty["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert not_empty["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
    group_id, _ = one(template, "AWS::ElastiCache::ReplicationGroup", {})
    for n in range(1, NODES + 1):
        memory = next(a for d, a in found.items() if d.startswith(f"jobqueue Redis node {n}: memory"))
        assert (memory["Namespace"], memory["MetricName"]) == ("AWS/ElastiCache", "DatabaseMemoryUsagePercentage")
        assert memory["Threshold"] == CACHE_MEMORY_ALARM_PERCENT == 80
        assert memory["Dimensions"] == [{"Name": "CacheClusterId",
                                         "Value": {"Fn::Join": ["-", [{"Ref": group_id}, f"{n:03d}"]]}}]


def test_cloudwatch_may_use_the_topic_key_and_one_dashboard_exists(template: Template) -> None:
    _, key = one(template, "AWS::KMS::Key", {})
    assert key["EnableKeyRotation"] is True
    statements = key["KeyPolicy"]["Statement"]
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in statements)
    _, dashboard = one(template, "AWS::CloudWatch::Dashboard", {})
    body = json.dumps(dashboard["DashboardBody"])
    assert all(f"{name}: waiting" in body for name in CATALOG.queues)
    assert "API: requests" in body and "5XXError" in body
    template.resource_count_is("AWS::SNS::Subscription", 0)


def test_alarm_email_subscribes_to_the_topic(variant: Callable[..., tuple[JobQueueStack, Template]]) -> None:
    _, template = variant(alarm_email="ops@example.com")
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})
