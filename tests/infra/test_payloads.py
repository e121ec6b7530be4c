"""The claim check's bucket: private, encrypted, TLS only, expiring; each function may do only its part."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match, Template

from tests.infra.conftest import CATALOG
from tests.infra.helpers import actions, job_functions, one, resources, statements


def s3_actions(template: Template, props: dict[str, Any]) -> set[str]:
    return {a for s in statements(template, props) for a in actions(s) if a.startswith("s3:")}


def test_the_bucket_is_private_encrypted_tls_only_and_expires_its_objects(template: Template) -> None:
    bucket_id, bucket = one(template, "AWS::S3::Bucket", {})
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    [rule] = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == 30
    template.has_resource_properties("AWS::S3::BucketPolicy", {
        "Bucket": {"Ref": bucket_id},
        "PolicyDocument": {"Statement": Match.array_with([Match.object_like({
            "Effect": "Deny", "Action": "s3:*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})])}})
    # Functions without NAT reach S3 through a gateway endpoint, as they reach DynamoDB.
    template.resource_properties_count_is("AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway"}, 2)


def test_each_function_gets_the_bucket_and_only_the_actions_it_needs(template: Template) -> None:
    bucket_id, _ = one(template, "AWS::S3::Bucket", {})
    for props in job_functions(template).values():
        env = props["Environment"]["Variables"]
        assert env["JOBQUEUE_PAYLOAD_BUCKET"] == {"Ref": bucket_id}
        granted = s3_actions(template, props)
        if "QUEUE_NAME" in env:  # a worker reads; one that sends jobs to other queues (`sends_to`) also puts
            sends = CATALOG.queues[env["QUEUE_NAME"]].sends_to
            expected = {"s3:GetObject"} | ({"s3:PutObject"} if sends else set())
        elif "DEAD_LETTER_QUEUE" in env:
            expected = set()
        elif "api" in str(props.get("Description", "")).lower().split(":")[0]:
            expected = {"s3:PutObject"}
        else:  # the scheduler: cron ticks put, the sweeper deletes
            expected = {"s3:PutObject", "s3:DeleteObject"}
        assert granted == expected, (props.get("Description"), granted)
        for statement in statements(template, props):
            if any(a.startswith("s3:") for a in actions(statement)):
                assert all("payloads/*" in str(r) for r in resources(statement)), statement
