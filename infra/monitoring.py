"""Alarms and the dashboard: per queue, a DLQ that is not empty, old messages, worker errors and throttles; the
cache's memory.

`Monitoring(stack, "Monitoring", ...).topic` is the SNS topic every alarm notifies (`alarm_email` subscribes an
address to it); `.dashboard` shows every queue's backlog and its worker.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

__all__ = ["CACHE_MEMORY_ALARM_PERCENT", "OLDEST_MESSAGE_ALARM_S", "PERIOD", "Monitoring"]

PERIOD = Duration.minutes(5)
OLDEST_MESSAGE_ALARM_S = 900  # a job waiting 15 minutes means its worker is stuck, paused or far too slow
CACHE_MEMORY_ALARM_PERCENT = 80  # under noeviction a full Redis refuses writes: every add and every job fails


class Monitoring(Construct):
    """An encrypted SNS topic, the alarms of each queue added by `watch_queue`, and one dashboard."""

    def __init__(self, scope: Construct, id: str, *, name: str, alarm_email: str | None = None) -> None:
        super().__init__(scope, id)
        # CloudWatch may publish to an encrypted topic only with a key whose policy lets it use the key.
        key = kms.Key(self, "TopicKey", enable_key_rotation=True, description=f"{name}: alarm topic encryption")
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(self, "Alarms", display_name=f"{name} alarms", master_key=key, enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=name)
        self._action = actions.SnsAction(self.topic)

    def _alarm(self, id: str, metric: cloudwatch.Metric, threshold: float, description: str) -> None:
        alarm = cloudwatch.Alarm(
            self, id, metric=metric, threshold=threshold, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING, alarm_description=description,
        )
        alarm.add_alarm_action(self._action)

    def watch_queue(
        self, name: str, *, lanes: list[sqs.IQueue], dead_letter: sqs.IQueue, worker: lambda_.IFunction
    ) -> None:
        """Alarms for one catalog queue (each lane's oldest message, the worker's errors and throttles) and its
        dashboard row."""
        for lane in lanes:
            self._alarm(
                f"{lane.node.id}-OldestMessage",
                lane.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum"),
                OLDEST_MESSAGE_ALARM_S, f"jobqueue {lane.node.id}: a job has waited {OLDEST_MESSAGE_ALARM_S} s or more",
            )
        self._alarm(f"{name}-Errors", worker.metric_errors(period=PERIOD), 1,
                    f"jobqueue {name}: the worker failed (an invocation error, not a job's retry)")
        self._alarm(f"{name}-Throttles", worker.metric_throttles(period=PERIOD), 1,
                    f"jobqueue {name}: the worker was throttled")
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title=f"{name}: waiting", width=8,
                left=[q.metric_approximate_number_of_messages_visible(period=PERIOD) for q in [*lanes, dead_letter]],
            ),
            cloudwatch.GraphWidget(
                title=f"{name}: oldest message (s)", width=8,
                left=[q.metric_approximate_age_of_oldest_message(period=PERIOD) for q in lanes],
            ),
            cloudwatch.GraphWidget(
                title=f"{name}: worker", width=8,
                left=[worker.metric_invocations(period=PERIOD), worker.metric_errors(period=PERIOD),
                      worker.metric_throttles(period=PERIOD)],
                right=[worker.metric_duration(period=PERIOD, statistic="p99")],
            ),
        )

    def watch_dead_letter_queue(self, name: str, queue: sqs.IQueue) -> None:
        """Any message in a DLQ is a job that failed for good: alarm on the first."""
        self._alarm(f"{name}-NotEmpty", queue.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum"), 1, f"jobqueue {name}: jobs failed for good")

    def watch_cache(self, node_ids: list[str]) -> None:
        """Each Redis node's memory against its maxmemory (DatabaseMemoryUsagePercentage), the replica's too: it
        becomes the primary on failover."""
        for n, node_id in enumerate(node_ids, start=1):
            metric = cloudwatch.Metric(namespace="AWS/ElastiCache", metric_name="DatabaseMemoryUsagePercentage",
                                       dimensions_map={"CacheClusterId": node_id}, period=PERIOD, statistic="Maximum")
            self._alarm(f"Cache-{n}-Memory", metric, CACHE_MEMORY_ALARM_PERCENT,
                        f"jobqueue Redis node {n}: memory at {CACHE_MEMORY_ALARM_PERCENT} % of maxmemory or more "
                        "(writes fail when full: check retention settings and `make bench-memory`)")

    def watch_api(self, api: apigw.RestApi) -> None:
        """The API's row: requests and errors by class, and latency."""
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API: requests", width=12,
                left=[api.metric_count(period=PERIOD), api.metric_client_error(period=PERIOD),
                      api.metric_server_error(period=PERIOD)],
            ),
            cloudwatch.GraphWidget(title="API: latency (ms)", width=12,
                                   left=[api.metric_latency(period=PERIOD, statistic="p99")]),
        )
