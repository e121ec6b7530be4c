"""The SQS topology: one SQS queue per lane of every catalog queue and one dead-letter queue per DLQ name.

`JobQueues(stack, "Queues", catalog=load_catalog(), name_prefix="dev-").lanes["email"]` are the SQS queues
`dev-email-p1` and `dev-email` (highest priority first), whose exhausted jobs go to
`.dead_letter_queues["dead"]` (`dev-dead`); `.by_sqs_name` finds any of them by its unprefixed SQS name.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.checkov import SQS_SSE, skip_checks
from jobqueue.catalog import Catalog
from jobqueue.deployment import dead_letter_timeout
from jobqueue.errors import CatalogError
from jobqueue.local.topology import WORK_RETENTION_S, visibility_timeout

__all__ = ["WORK_RETENTION", "JobQueues"]

# SQS's default, stated explicitly (as the local runtime does); every DLQ must keep messages longer.
WORK_RETENTION = Duration.seconds(WORK_RETENTION_S)


class JobQueues(Construct):
    """Every queue of `catalog`, named `<name_prefix><lane>`, encrypted and reachable over TLS only.

    Every lane of a work queue is alike (jobqueue.catalog.Lane): it redrives to the queue's DLQ after
    `max_receive_count` receives (a safety net above the most attempts any job of the queue may get: the
    worker dead-letters exhausted jobs itself) and hides a received
    message for six times the worker's timeout. A DLQ keeps messages for its `retention_days`, longer than any
    work queue, because a redriven message keeps its first enqueue time.
    """

    def __init__(self, scope: Construct, id: str, *, catalog: Catalog, name_prefix: str = "") -> None:
        super().__init__(scope, id)
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        self.lanes: dict[str, list[sqs.Queue]] = {}
        for name, config in catalog.dead_letters.items():
            _check_retention(name, config.retention_days)
            self.dead_letter_queues[name] = sqs.Queue(
                self,
                name,
                queue_name=f"{name_prefix}{name}",
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                retention_period=Duration.days(config.retention_days),
                visibility_timeout=Duration.seconds(visibility_timeout(dead_letter_timeout(catalog, name))),
            )
        for name, queue in catalog.queues.items():
            self.lanes[name] = [
                sqs.Queue(
                    self,
                    lane.sqs_name,
                    queue_name=f"{name_prefix}{lane.sqs_name}",
                    encryption=sqs.QueueEncryption.SQS_MANAGED,
                    enforce_ssl=True,
                    retention_period=WORK_RETENTION,
                    visibility_timeout=Duration.seconds(visibility_timeout(queue.timeout)),
                    dead_letter_queue=sqs.DeadLetterQueue(
                        max_receive_count=queue.max_receive_count,
                        queue=self.dead_letter_queues[queue.dead_letter],
                    ),
                )
                for lane in queue.lanes()
            ]
        self.by_sqs_name: dict[str, sqs.Queue] = {
            **self.dead_letter_queues,
            **{lane.sqs_name: q for name, queue in catalog.queues.items()
               for lane, q in zip(queue.lanes(), self.lanes[name], strict=True)},
        }
        for sqs_queue in self.by_sqs_name.values():
            skip_checks(sqs_queue, CKV_AWS_27=SQS_SSE)

def _check_retention(name: str, retention_days: int) -> None:
    """Refuse a DLQ that would drop redriven messages before their source queue would have."""
    if Duration.days(retention_days).to_seconds() <= WORK_RETENTION.to_seconds():
        raise CatalogError(
            f"dead-letter queue {name!r}: field retention_days: {retention_days} must exceed the work queues' "
            f"{WORK_RETENTION.to_days():.0f} days"
        )
