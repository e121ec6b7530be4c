"""The catalog's cron entries as EventBridge Scheduler schedules that invoke the scheduler function, and the
sweeper's every-minute schedule (`jobqueue.sweeper`).

Built from `jobqueue.schedules.schedule_definitions`, the same names, expressions, time zones and target Input
that `POST /schedules/initialize` uses, so a deployed schedule and an initialized one are the same schedule.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.checkov import SQS_SSE, skip_checks
from jobqueue.catalog import Catalog
from jobqueue.schedules import schedule_definitions
from jobqueue.sweeper import sweep_schedule

__all__ = ["RETRY_POLICY", "Schedules"]

# A tick is retried for up to 5 minutes (a cron of `* * * * *` would otherwise pile up), then dead-lettered.
RETRY_POLICY = {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 300}


class Schedules(Construct):
    """One schedule per cron entry (`.schedules[name]`) in a group of jobqueue's own (`.group_name`), with
    flexible window off, Scheduler's role (`.role`, may invoke only `target`) and a DLQ (`.dead_letter_queue`)
    for the ticks that failed: those Scheduler could not deliver and, as `target`'s own dead-letter queue, those
    `target` failed (Scheduler invokes it asynchronously: Lambda retries twice, then dead-letters the event).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        catalog: Catalog,
        target: lambda_.Function,
        group_name: str,
        name_prefix: str = "",
    ) -> None:
        super().__init__(scope, id)
        self.group_name = group_name
        group = scheduler.CfnScheduleGroup(self, "Group", name=group_name)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetters",
            queue_name=f"{name_prefix}schedules-dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        skip_checks(self.dead_letter_queue, CKV_AWS_27=SQS_SSE)
        function = target.node.default_child
        assert isinstance(function, lambda_.CfnFunction)
        function.dead_letter_config = lambda_.CfnFunction.DeadLetterConfigProperty(
            target_arn=self.dead_letter_queue.queue_arn)
        self.dead_letter_queue.grant_send_messages(target)
        Validations.of(self.dead_letter_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is itself a dead-letter queue: Scheduler's, for ticks it could not deliver",
            )
        )
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            description="EventBridge Scheduler: invokes the jobqueue scheduler function, dead-letters to its DLQ",
        )
        # The function itself, not grant_invoke's `<arn>:*` (its versions and aliases): schedules invoke $LATEST.
        self.role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[target.function_arn]))
        self.dead_letter_queue.grant_send_messages(self.role)
        self.schedules: dict[str, scheduler.CfnSchedule] = {}
        definitions: list[dict[str, str]] = [
            {k: v for k, v in d.items() if isinstance(v, str)} for d in schedule_definitions(catalog, name_prefix)]
        for definition in [*definitions, sweep_schedule(name_prefix)]:
            schedule = scheduler.CfnSchedule(
                self,
                definition["Name"],
                name=definition["Name"],
                group_name=group_name,
                description=definition["Description"],
                schedule_expression=definition["ScheduleExpression"],
                schedule_expression_timezone=definition.get("ScheduleExpressionTimezone"),
                flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                state="ENABLED",
                target=scheduler.CfnSchedule.TargetProperty(
                    arn=target.function_arn,
                    role_arn=self.role.role_arn,
                    input=definition["Input"],
                    retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                        maximum_retry_attempts=RETRY_POLICY["MaximumRetryAttempts"],
                        maximum_event_age_in_seconds=RETRY_POLICY["MaximumEventAgeInSeconds"],
                    ),
                    dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                        arn=self.dead_letter_queue.queue_arn
                    ),
                ),
            )
            schedule.add_resource_dependency(group)
            self.schedules[definition["Name"]] = schedule
