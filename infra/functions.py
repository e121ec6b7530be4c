"""The Lambda functions that consume the queues: a worker per catalog queue, a dead-letter function per DLQ.

`JobFunctions(stack, "Functions", catalog=..., queues=job_queues, layer=engine.layer).workers["email"]` runs
`functions/worker/handler.py` with QUEUE_NAME=email, fed by the `email` queue's SQS event source.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_lambda_event_sources import SqsEventSource
from constructs import Construct

from infra.layer import ARCHITECTURE, REPO, RUNTIME
from infra.queues import JobQueues
from jobqueue.catalog import Catalog

__all__ = ["LOG_RETENTION", "MIN_EVENT_SOURCE_CONCURRENCY", "XRAY_WILDCARD_REASON", "JobFunctions"]

# SQS event sources accept a MaximumConcurrency of 2 or more; concurrency 1 is the function's reserved concurrency.
MIN_EVENT_SOURCE_CONCURRENCY = 2
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
HANDLER = "handler.lambda_handler"
XRAY_WILDCARD_REASON = (
    "Resource '*' only for xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing): these X-Ray "
    "actions support no resource-level permissions; every other statement names its queue or log group"
)


class JobFunctions(Construct):
    """Workers (`.workers[queue]`) and dead-letter functions (`.dead_letter_functions[dlq]`) with their event sources.

    Each function runs `RUNTIME` on `ARCHITECTURE` with the engine layer, X-Ray tracing and a log group of its
    own; its role may write only to that log group (the event source adds SQS consumption; the stack grants
    the rest). Concurrency follows the catalog: the event source's MaximumConcurrency, or for a concurrency
    of 1, which event sources cannot express, a reserved concurrency of 1.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        catalog: Catalog,
        queues: JobQueues,
        layer: lambda_.ILayerVersion,
        name_prefix: str = "",
        log_level: str = "INFO",
        service_name: str = "jobqueue",
        metrics_namespace: str = "jobqueue",
    ) -> None:
        super().__init__(scope, id)
        self._layer = layer
        self._environment = {
            "JOBQUEUE_SQS_PREFIX": name_prefix,
            "POWERTOOLS_SERVICE_NAME": service_name,
            "POWERTOOLS_LOG_LEVEL": log_level,
            "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace,
        }
        self.workers: dict[str, lambda_.Function] = {}
        self.dead_letter_functions: dict[str, lambda_.Function] = {}
        worker_code = lambda_.Code.from_asset(str(REPO / "functions" / "worker"), exclude=["__pycache__"])
        dead_letter_code = lambda_.Code.from_asset(str(REPO / "functions" / "dead_letter"), exclude=["__pycache__"])
        for name, config in catalog.queues.items():
            self.workers[name] = self._function(
                f"Worker-{name}",
                code=worker_code,
                environment={"QUEUE_NAME": name},
                timeout=config.timeout,
                concurrency=config.effective_concurrency(),
                batch_size=config.batch_size,
                queue=queues.queues[name],
                description=f"jobqueue worker of queue {name}",
            )
        for name, dlq in catalog.dead_letters.items():
            # Runs the sources' on_dead hooks, so it gets their longest timeout (JobQueues sizes the DLQ for it).
            timeout = max((q.timeout for q in catalog.sources_of(name)), default=60)
            self.dead_letter_functions[name] = self._function(
                f"DeadLetter-{name}",
                code=dead_letter_code,
                environment={"DEAD_LETTER_QUEUE": name},
                timeout=timeout,
                concurrency=dlq.concurrency,
                batch_size=10,
                queue=queues.dead_letter_queues[name],
                description=f"jobqueue dead-letter function of queue {name}",
            )

    def _function(
        self,
        id: str,
        *,
        code: lambda_.Code,
        environment: dict[str, str],
        timeout: int,
        concurrency: int,
        batch_size: int,
        queue: sqs.IQueue,
        description: str,
    ) -> lambda_.Function:
        """One function, its log group and role, and its SQS event source."""
        scope = Construct(self, id)
        log_group = logs.LogGroup(scope, "Logs", retention=LOG_RETENTION)
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{description}: writes its own log group only, plus what the stack grants",
        )
        log_group.grant_write(role)
        reserve_one = concurrency < MIN_EVENT_SOURCE_CONCURRENCY
        function = lambda_.Function(
            scope,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=code,
            layers=[self._layer],
            environment={**environment, **self._environment},
            timeout=Duration.seconds(timeout),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            role=role,
            reserved_concurrent_executions=1 if reserve_one else None,
            description=description,
        )
        # Tracing.ACTIVE put X-Ray's PutTraceSegments/PutTelemetryRecords on Resource "*" into the role's policy.
        Validations.of(role.node.find_child("DefaultPolicy")).acknowledge(
            Acknowledgment(id="AwsSolutions-IAM5[Resource::*]", reason=XRAY_WILDCARD_REASON)
        )
        function.add_event_source(
            SqsEventSource(
                queue,
                batch_size=batch_size,
                report_batch_item_failures=True,
                max_concurrency=None if reserve_one else concurrency,
            )
        )
        return function
