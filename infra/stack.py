"""The jobqueue stack: builds the constructs and wires them together; resources live in the constructs."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, CfnOutput, Stack, Validations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.api import JobQueueApi
from infra.cache import Cache
from infra.checkov import SECRET_KMS, skip_checks
from infra.functions import JobFunctions
from infra.layer import EngineLayer
from infra.monitoring import Monitoring
from infra.network import Network
from infra.payloads import PayloadBucket
from infra.queues import JobQueues
from infra.records import SeedRecords
from infra.schedules import Schedules
from infra.seed_services import SeedServices
from infra.settings import StageSettings
from jobqueue.api.secrets import METRICS_TOKEN, READ_ONLY_TOKEN, SERVICE_TOKEN
from jobqueue.catalog import Catalog
from jobqueue.deployment import function_specs
from workloads.processors import ALL as SEED_PROCESSORS

__all__ = ["JobQueueStack"]

SERVICE_NAME = "jobqueue"
SHARED_SECRET_REASON = (
    "A secret shared with a party outside AWS (the API's callers, a webhook sender): rotating it needs that "
    "party to change too, so it is rotated by hand (put-secret-value); the API re-reads it within 5 minutes"
)


class JobQueueStack(Stack):
    """jobqueue for one stage: network, cache, SQS topology, engine layer, functions, API, schedules, alarms."""

    def __init__(self, scope: Construct, id: str, *, settings: StageSettings, catalog: Catalog, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.settings = settings
        name = f"{SERVICE_NAME}-{settings.stage}"
        self.network = Network(self, "Network", vpc_id=settings.vpc_id, nat_gateways=settings.nat_gateways)
        self.queues = JobQueues(self, "Queues", catalog=catalog, name_prefix=settings.name_prefix)
        self.cache = Cache(self, "Cache", network=self.network, name=name, serverless=settings.cache == "serverless",
                           node_type=settings.cache_node_type, shards=settings.redis_shards)
        self.engine = EngineLayer(self, "Engine")
        self.payloads = PayloadBucket(self, "Payloads")
        self.records = SeedRecords(self, "Records", catalog=catalog, search_queue=self.queues.lanes["search"][-1],
                                   name_prefix=settings.name_prefix)
        self.services = SeedServices(self, "SeedServices", settings=self.node.try_get_context("seedServices") or {})
        self.functions = JobFunctions(
            self, "Functions", specs=function_specs(catalog), queues=self.queues, layer=self.engine.layer,
            network=self.network,
            environment={
                "JOBQUEUE_SQS_PREFIX": settings.name_prefix,
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_LOG_LEVEL": settings.log_level,
                "POWERTOOLS_METRICS_NAMESPACE": SERVICE_NAME,
                "REDIS_HOST": self.cache.host,
                "REDIS_PORT": self.cache.port,
                "REDIS_AUTH_SECRET_ID": self.cache.auth_token.secret_arn,
                **({"JOBQUEUE_REDIS_CLUSTER": "1"} if self.cache.cluster else {}),
                "JOBQUEUE_PROCESSORS": ",".join(SEED_PROCESSORS),  # the API too: it runs small bulk checks inline
                "JOBQUEUE_PAYLOAD_BUCKET": self.payloads.bucket.bucket_name,
                **self.records.environment(),
            },
        )
        self.monitoring = Monitoring(self, "Monitoring", name=name, alarm_email=settings.alarm_email)
        for function in self.functions.functions.values():
            self.cache.auth_token.grant_read(function)  # every function keeps job state in Redis
        self._wire_workers(catalog)
        [api_function] = self._functions_of("api")
        [scheduler_function] = self._functions_of("scheduler")
        # The API adds jobs to, and redrives into, any queue; the scheduler function fires the cron entries and
        # runs the sweeper, which sends any queue's jobs whose producer never confirmed their message.
        for lanes in self.queues.lanes.values():
            for lane in lanes:
                lane.grant_send_messages(api_function)
                lane.grant_send_messages(scheduler_function)
        self.functions.grant_pause(api_function)  # POST /queues/{q}/pause|resume, GET /queues/{q}
        # Large job data (claim check): the producers put it, the sweeper (scheduler function) deletes it.
        self.payloads.grant_put(api_function)
        self.payloads.grant_put(scheduler_function)
        self.payloads.grant_delete(scheduler_function)
        self._api_secrets(catalog, api_function)
        # The API answers bulk availability checks of 10 leads or fewer itself, with that queue's processor.
        self.records.grant(api_function, "bulk-availability")
        self.services.grant(api_function, "bulk-availability")
        self.api = JobQueueApi(self, "Api", handler=api_function, iam_management=settings.iam_management, name=name,
                               metrics_token=settings.metrics_token)
        self.monitoring.watch_api(self.api.api)
        self.schedules = Schedules(self, "Schedules", catalog=catalog, target=scheduler_function, group_name=name,
                                   name_prefix=settings.name_prefix)
        # Ticks Scheduler could not deliver and sweeps or ticks the scheduler function failed for good land here.
        self.monitoring.watch_dead_letter_queue("schedules-dlq", self.schedules.dead_letter_queue)
        CfnOutput(self, "ApiUrl", value=self.api.api.url)
        CfnOutput(self, "AlarmTopic", value=self.monitoring.topic.topic_arn)

    def _functions_of(self, handler: str) -> list[lambda_.Function]:
        specs = self.functions.specs.items()
        return [self.functions.functions[name] for name, spec in specs if spec.handler == handler]

    def _wire_workers(self, catalog: Catalog) -> None:
        """Grants and alarms of each worker. The event sources grant consumption; a worker also sends to its own
        lanes (deferred jobs, long-delay hops), to its DLQ (jobs that failed for good) and to the queues it hands
        jobs over to; it reads and writes the seed tables and services its processors use (`ACCESS`, `USES`).
        Dead-letter functions only consume, and write the tables their hooks update."""
        for name, spec in self.functions.specs.items():
            if spec.handler == "dead_letter":  # the on_dead hooks write the lead's final status
                self.records.grant(self.functions.functions[name], spec.environment["DEAD_LETTER_QUEUE"])
            if spec.handler != "worker":
                continue
            worker, queue = self.functions.functions[name], catalog.queues[spec.environment["QUEUE_NAME"]]
            self.records.grant(worker, queue.name)
            self.services.grant(worker, queue.name)
            self.payloads.grant_get(worker)  # a claim-checked job's data
            if queue.sends_to:
                self.payloads.grant_put(worker)  # it adds jobs, whose data may be large
            for target in queue.sends_to:  # jobs its processors add, flow parents its jobs release
                for lane in self.queues.lanes[target]:
                    lane.grant_send_messages(worker)
            lanes, dead_letter = self.queues.lanes[queue.name], self.queues.dead_letter_queues[queue.dead_letter]
            for lane in lanes:
                lane.grant_send_messages(worker)
            dead_letter.grant_send_messages(worker)
            self.monitoring.watch_queue(queue.name, lanes=list(lanes), dead_letter=dead_letter, worker=worker)
        for dlq_name, dlq in self.queues.dead_letter_queues.items():
            self.monitoring.watch_dead_letter_queue(dlq_name, dlq)
        self.monitoring.watch_cache(self.cache.node_ids)

    def _api_secrets(self, catalog: Catalog, api_function: lambda_.Function) -> None:
        """The service token (unless IAM guards management) and one secret per webhook source, read only by the
        API: `<NAME>_SECRET_ID` is where `jobqueue.api.secrets.read_secret(NAME)` looks when deployed."""
        descriptions = {f"Webhook-{s.name}": (s.secret, f"HMAC secret of webhook source {s.name}: set it to the "
                                                         "sender's signing secret") for s in catalog.webhooks.values()}
        if self.settings.iam_management:
            api_function.add_environment("JOBQUEUE_MANAGEMENT_AUTH", "iam")
        else:
            descriptions["ServiceToken"] = (SERVICE_TOKEN, "bearer token of the management API")
        if self.settings.metrics_token:
            descriptions["MetricsToken"] = (METRICS_TOKEN, "bearer token a Prometheus scraper sends to GET /metrics "
                                                           "(that route only)")
        if self.settings.read_only_token:
            descriptions["ReadOnlyToken"] = (READ_ONLY_TOKEN, "bearer token of the dashboard's read-only viewers "
                                                              "(GET routes only)")
        for id, (variable, description) in descriptions.items():
            secret = secretsmanager.Secret(
                self, id, description=f"{self.stack_name}: {description}",
                generate_secret_string=secretsmanager.SecretStringGenerator(password_length=48,
                                                                            exclude_punctuation=True),
            )
            Validations.of(secret).acknowledge(Acknowledgment(id="AwsSolutions-SMG4", reason=SHARED_SECRET_REASON))
            skip_checks(secret, CKV_AWS_149=SECRET_KMS)
            secret.grant_read(api_function)
            api_function.add_environment(f"{variable}_SECRET_ID", secret.secret_arn)
            CfnOutput(self, f"{id}Secret", value=secret.secret_arn)
