"""checkov's acknowledgements: written into the template as the resource's `Metadata: checkov: skip` (the form checkov
reads from CloudFormation), one resource and one reason at a time, as cdk-nag's are recorded with
`Validations.of(...).acknowledge`. `tests/infra/test_checkov.py` runs checkov on every stage's template.

    skip_checks(log_group, CKV_AWS_158=LOG_GROUP_KMS)

The reasons several constructs share are here; the others sit beside the resource they excuse.
"""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import CfnResource
from constructs import IConstruct

__all__ = ["LOG_GROUP_KMS", "MIN_REASON", "SECRET_KMS", "SQS_SSE", "skip_checks"]

MIN_REASON = 60
"""The shortest reason accepted: long enough to say why the check does not apply or what guards instead."""
_CHECK_ID = re.compile(r"^CKV2?_AWS_\d+$")

LOG_GROUP_KMS = (
    "CloudWatch Logs encrypts every log group at rest with its own key; a customer key would add a key policy for "
    "the logs service and a monthly cost and guard nothing more: no secret value is ever logged, and reading logs "
    "already needs IAM"
)
SECRET_KMS = (
    "Encrypted with Secrets Manager's AWS-managed key (aws/secretsmanager); who reads it is decided by IAM grants "
    "naming this secret for the functions that use it; a customer key matters for cross-account sharing, which "
    "this stack never does"
)
SQS_SSE = (
    "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled), which this check does not read (it looks for "
    "KmsMasterKeyId only); a KMS key would need key grants for EventBridge, Scheduler and every function and "
    "bills per request; the queue policy admits TLS only"
)


def skip_checks(construct: IConstruct, **reasons: str) -> None:
    """Acknowledge checkov checks on `construct`'s CloudFormation resource (itself or its default child), each
    with its reason; calling again for the same resource adds to (or replaces the reason of) what is there."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path}: no CloudFormation resource to acknowledge checkov checks on")
    for check, reason in reasons.items():
        if not _CHECK_ID.match(check) or len(reason) < MIN_REASON:
            raise ValueError(f"{construct.node.path}: checkov skip {check!r}: expected a check id (CKV_AWS_<n>) "
                             f"and a reason of at least {MIN_REASON} characters")
    existing: dict[str, Any] = resource.get_metadata("checkov") or {}
    skips = {skip["id"]: skip["comment"] for skip in existing.get("skip", [])} | reasons
    resource.add_metadata("checkov", {"skip": [{"id": check, "comment": skips[check]} for check in sorted(skips)]})
