"""The seed systems' records and domain events: the DynamoDB tables of `workloads.records.TABLES`, and an
EventBridge bus whose rule sends entity events to the search queue as `index_doc` jobs.

    records = SeedRecords(stack, "Records", catalog=catalog, name_prefix="dev-", search_queue=queues["search"])
    records.grant(worker_function, "lead-processing")     # only the tables that queue's processors use
    worker_function.add_environment(**records.environment())   # or pass it when creating the function
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.checkov import skip_checks
from jobqueue.catalog import Catalog
from workloads.events import DETAIL_TYPES, SOURCE, search_input_transformer
from workloads.records import ACCESS, TABLES

__all__ = ["SeedRecords"]

_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}
# What `workloads.stores` calls; CDK's grant_read_data/grant_read_write_data would add Scan, DeleteItem,
# BatchWriteItem and every index (`<table>/index/*`).
READ_ACTIONS = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:DescribeTable"]
WRITE_ACTIONS = ["dynamodb:PutItem", "dynamodb:UpdateItem"]
TABLE_KMS = (
    "Encrypted with DynamoDB's AWS-managed KMS key (aws/dynamodb); who reads it is decided by IAM grants naming "
    "this table and its indexes for the functions that use them; a customer key matters for cross-account access, "
    "which this stack never gives"
)


class SeedRecords(Construct):
    """Tables named `<name_prefix><base name>` (on demand, encrypted, point-in-time recovery, TTL where the
    spec has one), exposed as `.tables[key]`; the bus `<name_prefix>domain-events` and its rule as `.bus`,
    `.rule`. Tables are retained when the stack is deleted unless `removal_policy` says otherwise."""

    def __init__(self, scope: Construct, id: str, *, catalog: Catalog, search_queue: sqs.IQueue,
                 name_prefix: str = "", removal_policy: RemovalPolicy = RemovalPolicy.RETAIN) -> None:
        super().__init__(scope, id)
        self.tables: dict[str, dynamodb.Table] = {}
        for key, spec in TABLES.items():
            types = spec.attribute_types()
            table = dynamodb.Table(
                self, key,
                table_name=f"{name_prefix}{spec.base_name}",
                partition_key=dynamodb.Attribute(name=spec.partition_key, type=_TYPES[types[spec.partition_key]]),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                encryption=dynamodb.TableEncryption.AWS_MANAGED,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True),
                time_to_live_attribute=spec.ttl_attribute,
                removal_policy=removal_policy,
            )
            skip_checks(table, CKV_AWS_119=TABLE_KMS)
            for index in spec.indexes:
                table.add_global_secondary_index(
                    index_name=index.name,
                    partition_key=dynamodb.Attribute(name=index.partition_key, type=_TYPES[types[index.partition_key]]),
                    sort_key=dynamodb.Attribute(name=index.sort_key, type=_TYPES[types[index.sort_key]]),
                )
            self.tables[key] = table
        self.bus = events.EventBus(self, "DomainEvents", event_bus_name=f"{name_prefix}domain-events")
        self.rule = events.Rule(
            self, "EntitiesToSearch", event_bus=self.bus,
            description="entity events -> search queue (index_doc jobs)",
            event_pattern=events.EventPattern(source=[SOURCE], detail_type=DETAIL_TYPES),
            targets=[targets.SqsQueue(search_queue)],  # also lets this rule (only) send to the queue
        )
        # The template writes a whole jobqueue message; CDK's RuleTargetInput would quote the JSON document.
        rule = self.rule.node.default_child
        assert isinstance(rule, events.CfnRule)
        rule.add_property_override("Targets.0.InputTransformer", search_input_transformer(catalog))

    def environment(self) -> dict[str, str]:
        """The variables the stores read (LEADS_TABLE, ...), for every function that uses them."""
        return {spec.env: self.tables[key].table_name for key, spec in TABLES.items()}

    def grant(self, grantee: iam.IGrantable, function: str) -> None:
        """What `workloads.records.ACCESS` gives `function` (a queue's worker or a DLQ's dead-letter function):
        the calls the stores make, read or read and write, on those tables and their named indexes only; nothing
        for a function that uses none."""
        for key, access in ACCESS.get(function, {}).items():
            table = self.tables[key]
            indexes = [f"{table.table_arn}/index/{index.name}" for index in TABLES[key].indexes]
            iam.Grant.add_to_principal(
                grantee=grantee, actions=READ_ACTIONS + (WRITE_ACTIONS if access == "write" else []),
                resource_arns=[table.table_arn, *indexes])
