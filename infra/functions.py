"""The Lambda functions: exactly `jobqueue.deployment.function_specs(catalog)`, as the local runtime runs them.

`JobFunctions(stack, "Functions", specs=function_specs(catalog), queues=job_queues, ...).functions["worker-email"]`
runs `functions/worker/handler.py` with QUEUE_NAME=email, fed by one SQS event source per lane of `email`.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.aws_lambda_event_sources import SqsEventSource
from constructs import Construct

from infra.checkov import LOG_GROUP_KMS, skip_checks
from infra.layer import ARCHITECTURE, REPO, RUNTIME
from infra.network import Network
from infra.queues import JobQueues
from jobqueue.deployment import MIN_EVENT_SOURCE_CONCURRENCY, FunctionSpec

__all__ = [
    "CONCURRENCY",
    "ENI_ACTIONS",
    "ENVIRONMENT_REASON",
    "LOG_RETENTION",
    "MIN_EVENT_SOURCE_CONCURRENCY",
    "RESOURCE_STAR_REASON",
    "SYNCHRONOUS",
    "JobFunctions",
]

LOG_RETENTION = logs.RetentionDays.ONE_MONTH
HANDLER = "handler.lambda_handler"
# What a function in a VPC needs to attach its network interfaces (AWSLambdaVPCAccessExecutionRole's actions).
ENI_ACTIONS = [
    "ec2:AssignPrivateIpAddresses",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:UnassignPrivateIpAddresses",
]
RESOURCE_STAR_REASON = (
    "Resource '*' only for xray:PutTraceSegments/PutTelemetryRecords (active tracing), for the EC2 network "
    "interface actions a function in a VPC needs and, for the functions that pause queues, for "
    "lambda:ListEventSourceMappings: none supports resource-level permissions; every other statement names its "
    "queue, secret, log group or event source mapping"
)
RUNTIME_REASON = (
    "Python 3.13, not Lambda's newest 3.14: the layer ships bytecode compiled by the runtime's own Python "
    "(infra/layer.py) and no Python 3.14 installs on the build machine; without bytecode every cold start would "
    "compile every module it imports"
)
ENVIRONMENT_REASON = (
    "The environment holds names, ARNs and settings, never a secret value: secrets are read from Secrets Manager "
    "at run time through their *_SECRET_ID; Lambda encrypts the variables at rest with its own key"
)
# Lambda's dead-letter queue and on-failure destination apply to asynchronous invocations only: a handler missing
# here is invoked asynchronously and must get one (the scheduler function's is Scheduler's DLQ, infra/schedules.py).
SYNCHRONOUS = {
    "worker": "Invoked synchronously by its SQS event source mappings, which a dead-letter queue does not apply to: "
    "a failed message returns to its queue and SQS redrive moves it to the queue's DLQ after maxReceiveCount",
    "dead_letter": "Invoked synchronously by its DLQ's event source mapping, which a dead-letter queue does not "
    "apply to: a failed message returns to the DLQ and is retried there until its retention ends",
    "api": "Invoked synchronously by API Gateway, which a dead-letter queue does not apply to: the caller receives "
    "the error and retries; an accepted job is already durable in SQS",
}
_MAPPED = (
    "Capped by its SQS event source mappings' MaximumConcurrency (the catalog's concurrency); a reserved "
    "concurrency would withhold as many executions from every other function of the account"
)
CONCURRENCY = {  # for the functions without a reserved concurrency
    "worker": _MAPPED,
    "dead_letter": _MAPPED,
    "api": "Capped by the API stage's throttling (rate and burst limits); a reserved concurrency would withhold "
    "executions from the workers and every other function of the account",
    "scheduler": "Invoked only by EventBridge Scheduler, once per due schedule tick (the catalog's crons and the "
    "sweeper's minute): a few executions at once; a reservation would withhold executions from the workers",
}



class JobFunctions(Construct):
    """One function per spec (`.functions[spec.name]`, `.specs[spec.name]`) with its SQS event sources.

    Each runs `RUNTIME` on `ARCHITECTURE` with the engine layer, X-Ray tracing, a log group of its own and the
    stage's `environment`, in the network's private subnets. Its role may write only to that log group and
    manage its network interfaces (the event sources add SQS consumption; the stack grants the rest).
    Concurrency follows the spec: the event sources' MaximumConcurrency, or for a concurrency of 1, which
    event sources cannot express, a reserved concurrency of 1.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        specs: list[FunctionSpec],
        queues: JobQueues,
        layer: lambda_.ILayerVersion,
        network: Network,
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, id)
        self.specs = {spec.name: spec for spec in specs}
        self._queues, self._layer, self._network, self._environment = queues, layer, network, environment
        code = {
            handler: lambda_.Code.from_asset(str(REPO / "functions" / handler), exclude=["__pycache__"])
            for handler in sorted({spec.handler for spec in specs})
        }
        self.event_sources: dict[str, list[SqsEventSource]] = {}
        self.functions = {
            spec.name: self._function(spec, code[spec.handler]) for spec in specs
        }

    def grant_pause(self, grantee: iam.IGrantable) -> None:
        """Let `grantee` pause and resume queues (`jobqueue.mappings`): list the mappings (an action without
        resource-level permissions, so on '*') and enable or disable exactly the workers' mappings, nothing else."""
        workers = [source.event_source_mapping_arn for name, sources in self.event_sources.items()
                   if self.specs[name].handler == "worker" for source in sources]
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["lambda:ListEventSourceMappings"], resources=["*"]))
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["lambda:UpdateEventSourceMapping"], resources=workers))

    def _function(self, spec: FunctionSpec, code: lambda_.Code) -> lambda_.Function:
        """One function, its log group and role, and its SQS event sources."""
        scope = Construct(self, spec.name)
        log_group = logs.LogGroup(scope, "Logs", retention=LOG_RETENTION)
        skip_checks(log_group, CKV_AWS_158=LOG_GROUP_KMS)
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{spec.description}: writes its own log group only, plus what the stack grants",
        )
        log_group.grant_write(role)
        role.add_to_principal_policy(iam.PolicyStatement(actions=ENI_ACTIONS, resources=["*"]))
        reserve_one = spec.reserve_one
        function = lambda_.Function(
            scope,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=code,
            layers=[self._layer],
            environment={**spec.environment, **self._environment},
            timeout=Duration.seconds(spec.timeout),
            memory_size=256,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            role=role,
            reserved_concurrent_executions=1 if reserve_one else None,
            vpc=self._network.vpc,
            vpc_subnets=self._network.subnets,
            security_groups=[self._network.functions_security_group],
            description=spec.description,
        )
        Validations.of(role.node.find_child("DefaultPolicy")).acknowledge(
            Acknowledgment(id="AwsSolutions-IAM5[Resource::*]", reason=RESOURCE_STAR_REASON)
        )
        Validations.of(function).acknowledge(Acknowledgment(id="AwsSolutions-L1", reason=RUNTIME_REASON))
        skip_checks(role.node.find_child("DefaultPolicy"), CKV_AWS_111=RESOURCE_STAR_REASON)
        skip_checks(function, CKV_AWS_173=ENVIRONMENT_REASON)
        if spec.handler in SYNCHRONOUS:
            skip_checks(function, CKV_AWS_116=SYNCHRONOUS[spec.handler])
        if not reserve_one:
            skip_checks(function, CKV_AWS_115=CONCURRENCY[spec.handler])
        self.event_sources[spec.name] = []
        for source in spec.event_sources:
            event_source = SqsEventSource(
                self._queues.by_sqs_name[source.sqs_name],
                batch_size=source.batch_size,
                max_batching_window=Duration.seconds(source.batching_window) if source.batching_window else None,
                report_batch_item_failures=True,
                max_concurrency=None if reserve_one else source.max_concurrency,
            )
            function.add_event_source(event_source)
            self.event_sources[spec.name].append(event_source)
        return function
