"""Stage settings: what differs between deployments, read from CDK context (`cdk deploy -c stage=prod ...`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from constructs import Node

__all__ = ["CDK_JSON", "CONTEXT_KEYS", "MAX_SHARDS", "StageSettings", "cdk_json_context"]

CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"

_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_PREFIX = re.compile(r"^[A-Za-z0-9_-]{0,19}$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NODE_TYPE = re.compile(r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# context key -> StageSettings field
CONTEXT_KEYS = {
    "stage": "stage",
    "name_prefix": "name_prefix",
    "vpcId": "vpc_id",
    "natGateways": "nat_gateways",
    "alarmEmail": "alarm_email",
    "managementAuth": "management_auth",
    "cache": "cache",
    "cacheNodeType": "cache_node_type",
    "redisShards": "redis_shards",
    "logLevel": "log_level",
    "metricsToken": "metrics_token",
    "readOnlyToken": "read_only_token",
}
_FLAGS = {"metrics_token": "metricsToken", "read_only_token": "readOnlyToken"}
_COUNTS = {"nat_gateways": "natGateways", "redis_shards": "redisShards"}
MAX_SHARDS = 45  # ElastiCache's default quota is 90 nodes per cluster: a primary and a replica per shard


@dataclass(frozen=True)
class StageSettings:
    """One deployment's settings; every field has a context key (CONTEXT_KEYS) and a safe default.

    `name_prefix` prefixes every SQS queue and schedule name (the functions get it as JOBQUEUE_SQS_PREFIX, so
    runtime and infrastructure agree on names). Without `vpc_id` the stack creates its own VPC with
    `nat_gateways` NAT gateways (0: AWS services through VPC endpoints only, no internet egress).
    `redis_shards` > 0 deploys ElastiCache with cluster mode enabled (that many shards, a replica each) and runs
    the engine's cluster client over it (JOBQUEUE_REDIS_CLUSTER): queues spread over shards (README).
    """

    stage: str = "dev"
    name_prefix: str = ""
    vpc_id: str | None = None
    nat_gateways: int = 0
    alarm_email: str | None = None
    management_auth: Literal["token", "iam"] = "token"
    cache: Literal["node", "serverless"] = "node"
    cache_node_type: str = "cache.t4g.small"
    redis_shards: int = 0  # 0: one shard, cluster mode disabled; n: ElastiCache cluster mode with n shards
    log_level: str = "INFO"
    metrics_token: bool = False  # a scrape token for GET /metrics alone (Secrets Manager), public route under IAM
    read_only_token: bool = False  # a token answered on GET routes only (Secrets Manager): the dashboard's viewers

    def __post_init__(self) -> None:
        checks = [
            (_STAGE.match(self.stage), f"stage {self.stage!r}: expected lowercase letters, digits and '-', at most 20"),
            (_PREFIX.match(self.name_prefix),
             f"name_prefix {self.name_prefix!r}: expected [A-Za-z0-9_-], at most 19 characters"),
            (self.vpc_id is None or _VPC_ID.match(self.vpc_id), f"vpcId {self.vpc_id!r}: expected vpc-<hex>"),
            (0 <= self.nat_gateways <= 3, f"natGateways {self.nat_gateways!r}: expected 0 to 3"),
            (self.alarm_email is None or _EMAIL.match(self.alarm_email),
             f"alarmEmail {self.alarm_email!r}: not an email address"),
            (self.management_auth in ("token", "iam"),
             f"managementAuth {self.management_auth!r}: expected token or iam"),
            (self.cache in ("node", "serverless"), f"cache {self.cache!r}: expected node or serverless"),
            (_NODE_TYPE.match(self.cache_node_type),
             f"cacheNodeType {self.cache_node_type!r}: expected cache.<family>.<size>"),
            (not (self.read_only_token and self.management_auth == "iam"),
             "readOnlyToken: needs managementAuth=token (under IAM, API Gateway signs every management call)"),
            (0 <= self.redis_shards <= MAX_SHARDS, f"redisShards {self.redis_shards!r}: expected 0 to {MAX_SHARDS}"),
            (not (self.redis_shards and self.cache == "serverless"),
             "redisShards: needs cache=node (serverless ElastiCache shards by itself)"),
            (self.log_level in _LOG_LEVELS, f"logLevel {self.log_level!r}: expected one of {list(_LOG_LEVELS)}"),
        ]
        found = [message for ok, message in checks if not ok]
        if found:
            raise ValueError("invalid stage settings: " + "; ".join(found))

    @classmethod
    def from_context(cls, node: Node) -> StageSettings:
        """Read `-c stage=prod -c vpcId=vpc-0abc... -c alarmEmail=ops@example.com ...`; unset keys keep defaults."""
        raw: dict[str, Any] = {}
        for key, field in CONTEXT_KEYS.items():
            value = node.try_get_context(key)
            if value is None or value == "":
                continue
            if field in _FLAGS:
                if str(value).lower() not in ("true", "false"):
                    raise ValueError(f"invalid stage settings: {_FLAGS[field]} {value!r}: expected true or false")
                raw[field] = str(value).lower() == "true"
            elif field in _COUNTS:
                text = str(value)
                if not text.isdigit():
                    raise ValueError(f"invalid stage settings: {_COUNTS[field]} {text!r}: expected a number")
                raw[field] = int(text)
            else:
                raw[field] = str(value)
        return cls(**raw)

    @property
    def iam_management(self) -> bool:
        return self.management_auth == "iam"


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """cdk.json's context (the feature flags), so `python app.py` and tests synthesize as `cdk synth` does.

    Under the CDK CLI the same values arrive twice; context given on the command line still wins.
    """
    return cast("dict[str, Any]", json.loads(path.read_text())["context"])
