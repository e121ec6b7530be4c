"""The payload bucket of the claim check (`jobqueue.payloads`): job data too large for an SQS message.

    payloads = PayloadBucket(stack, "Payloads", expire_after=Duration.days(30))
    payloads.grant_put(api_function)      # producers store large data before they add the job
    payloads.grant_get(worker_function)   # workers read it when the job starts
    payloads.grant_delete(scheduler_function)  # the sweeper deletes the objects of removed jobs
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.checkov import skip_checks

__all__ = ["PAYLOAD_EXPIRY", "PayloadBucket"]

PAYLOAD_EXPIRY = Duration.days(30)
"""The lifecycle backstop: longer than any message can live (SQS keeps work for 4 days, dead letters for 14) and
than Redis keeps a dead-letter record; an object the sweeper was never told about (a producer that lost Redis
between its put and its add) expires then. A finished job kept longer by its retention keeps its placeholder."""
KEY_PATTERN = "payloads/*"
"""The objects the functions may touch: every payload key starts so (`jobqueue.payloads.object_key`)."""
_OBJECT_WILDCARD = (
    "Payload objects are named per job as they are created (payloads/<queue>/<jobId>/<random>), so no ARN can "
    "name them in advance: the grant is one action on this bucket's payloads/ prefix only"
)
_ACCESS_LOGS = (
    "Objects are transient copies of job data written and read only by this stack's functions through IAM grants "
    "naming this bucket; CloudTrail records the API calls, and server access logs would need a second bucket"
)


class PayloadBucket(Construct):
    """A private bucket: S3-managed encryption, TLS only, public access blocked, objects expire after
    `expire_after`; `.bucket`, and grants of exactly the actions each function needs."""

    def __init__(self, scope: Construct, id: str, *, expire_after: Duration = PAYLOAD_EXPIRY,
                 removal_policy: RemovalPolicy = RemovalPolicy.RETAIN) -> None:
        super().__init__(scope, id)
        self.bucket = s3.Bucket(
            self, "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-payloads", expiration=expire_after,
                                              abort_incomplete_multipart_upload_after=Duration.days(1))],
            removal_policy=removal_policy,
        )
        skip_checks(
            self.bucket,
            CKV_AWS_18=_ACCESS_LOGS,
            CKV_AWS_21="Versioning would keep every deleted payload as a noncurrent version: removing a job must "
            "delete its data, and the data's source of truth is the job's producer",
        )
        Validations.of(self.bucket).acknowledge(Acknowledgment(id="AwsSolutions-S1", reason=_ACCESS_LOGS))
        self._acknowledged: set[str] = set()

    def _grant(self, function: lambda_.Function, action: str) -> None:
        function.add_to_role_policy(iam.PolicyStatement(
            actions=[action], resources=[self.bucket.arn_for_objects(KEY_PATTERN)]))
        policy = function.role.node.find_child("DefaultPolicy") if function.role else None
        if policy is None or policy.node.path in self._acknowledged:
            return
        self._acknowledged.add(policy.node.path)
        stack = Stack.of(self)
        bucket_id = stack.resolve(stack.get_logical_id(self.bucket.node.default_child))  # type: ignore[arg-type]
        Validations.of(policy).acknowledge(Acknowledgment(
            id=f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{KEY_PATTERN}]", reason=_OBJECT_WILDCARD))

    def grant_put(self, function: lambda_.Function) -> None:
        """A producer: PutObject under `payloads/`."""
        self._grant(function, "s3:PutObject")

    def grant_get(self, function: lambda_.Function) -> None:
        """A worker: GetObject under `payloads/`."""
        self._grant(function, "s3:GetObject")

    def grant_delete(self, function: lambda_.Function) -> None:
        """The sweeper: DeleteObject (what DeleteObjects checks per key) under `payloads/`."""
        self._grant(function, "s3:DeleteObject")
