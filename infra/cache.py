"""The Redis that holds job state: ElastiCache, TLS in transit, AUTH token in Secrets Manager, no eviction.

`Cache(stack, "Cache", network=network, name="jobqueue-prod").host` is the primary endpoint; `.auth_token` is
the Secrets Manager secret the functions read at cold start (REDIS_AUTH_SECRET_ID); `.node_ids` the nodes' cache
cluster ids, which CloudWatch's ElastiCache metrics are per (none for serverless). Node-based by default (a
replication group: Multi-AZ, automatic failover, `maxmemory-policy noeviction`); `shards=n` turns cluster mode on
(n node groups of a primary and a replica, `cluster-enabled yes`; `.host` is then the configuration endpoint);
`serverless=True` deploys serverless ElastiCache instead, whose eviction policy cannot be set (see README). `.cluster`
says whether the functions need the cluster client and key layout (cluster mode, and serverless, a cluster too).
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Fn, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.checkov import SECRET_KMS, skip_checks
from infra.network import Network

__all__ = ["ENGINE_VERSION", "PARAMETER_FAMILY", "PORT", "Cache"]

PORT = 6379
ENGINE_VERSION = "7.1"
PARAMETER_FAMILY = "redis7"
NODES = 2  # a primary and a replica in another AZ
NOEVICTION = {"maxmemory-policy": "noeviction"}  # BullMQ's requirement: evicting a job key loses job state
CLUSTER_MODE = {"cluster-enabled": "yes"}


class Cache(Construct):
    """ElastiCache Redis reachable only from `network.functions_security_group`, on `PORT`, over TLS with AUTH."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        network: Network,
        name: str,
        serverless: bool = False,
        node_type: str = "cache.t4g.small",
        shards: int = 0,
    ) -> None:
        super().__init__(scope, id)
        # Serverless ElastiCache is a cluster too (keys hash to slots; clients must be cluster clients).
        self.cluster = shards > 0 or serverless
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=network.vpc, allow_all_outbound=False,
            description="jobqueue Redis: only the jobqueue functions, on the Redis port",
        )
        self.security_group.add_ingress_rule(network.functions_security_group, ec2.Port.tcp(PORT), "jobqueue functions")
        network.functions_security_group.add_egress_rule(self.security_group, ec2.Port.tcp(PORT), "jobqueue Redis")
        self.auth_token = secretsmanager.Secret(
            self,
            "AuthToken",
            description=f"{name}: Redis AUTH token",
            # ElastiCache accepts 16-128 printable characters without @, " or /: letters and digits only.
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True, include_space=False
            ),
        )
        Validations.of(self.auth_token).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SMG4",
                reason="ElastiCache AUTH tokens rotate through ModifyReplicationGroup (AuthTokenUpdateStrategy "
                "ROTATE then SET), which a Secrets Manager rotation function cannot do atomically with the "
                "functions' cached token; README 'Deploying to AWS' documents the manual rotation",
            )
        )
        self.node_ids: list[str] = []
        skip_checks(self.auth_token, CKV_AWS_149=SECRET_KMS)
        subnet_ids = network.vpc.select_subnets(subnet_type=network.subnets.subnet_type).subnet_ids
        token = self.auth_token.secret_value.unsafe_unwrap()  # a CloudFormation dynamic reference, not the value
        if serverless:
            self._serverless(name, subnet_ids, token)
        else:
            self._replication_group(name, subnet_ids, token, node_type, shards)

    def _replication_group(self, name: str, subnet_ids: list[str], token: str, node_type: str, shards: int) -> None:
        subnet_group = elasticache.CfnSubnetGroup(
            self, "Subnets", description=f"{name}: private subnets", subnet_ids=subnet_ids
        )
        self.parameter_group = elasticache.CfnParameterGroup(
            self, "Parameters", cache_parameter_group_family=PARAMETER_FAMILY,
            description=f"{name}: BullMQ needs noeviction", properties=NOEVICTION | (CLUSTER_MODE if shards else {}),
        )
        group = elasticache.CfnReplicationGroup(
            self,
            "ReplicationGroup",
            replication_group_description=f"{name}: job state in BullMQ's layout",
            engine="redis",
            engine_version=ENGINE_VERSION,
            cache_node_type=node_type,
            cache_parameter_group_name=self.parameter_group.ref,
            cache_subnet_group_name=subnet_group.ref,
            security_group_ids=[self.security_group.security_group_id],
            port=PORT,
            multi_az_enabled=True,
            automatic_failover_enabled=True,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            auth_token=token,
            snapshot_retention_limit=1,
            # Cluster mode: `shards` node groups of a primary and a replica; else one group of NODES.
            num_cache_clusters=None if shards else NODES,
            num_node_groups=shards or None,
            replicas_per_node_group=NODES - 1 if shards else None,
        )
        Validations.of(group).acknowledge(
            Acknowledgment(
                id="AwsSolutions-AEC5",
                reason="The port is no secret worth hiding: only the functions' security group reaches it, and "
                "every connection needs TLS and the AUTH token",
            )
        )
        if shards:
            # Any node answers for the cluster's slot map: the configuration endpoint names them all.
            self.host, self.port = group.attr_configuration_end_point_address, group.attr_configuration_end_point_port
            # ... and its nodes <group id>-<shard 0001..>-<node 001..>.
            self.node_ids = [Fn.join("-", [group.ref, f"{shard:04d}", f"{n:03d}"])
                             for shard in range(1, shards + 1) for n in range(1, NODES + 1)]
            return
        self.host = group.attr_primary_end_point_address
        # ElastiCache names a replication group's nodes <group id>-001, -002, ...
        self.node_ids = [Fn.join("-", [group.ref, f"{n:03d}"]) for n in range(1, NODES + 1)]
        self.port = group.attr_primary_end_point_port

    def _serverless(self, name: str, subnet_ids: list[str], token: str) -> None:
        # A user group needs a user called "default"; its password makes plain AUTH <token> work as on nodes.
        user = elasticache.CfnUser(
            self, "User", engine="redis", user_id=f"{name}-default", user_name="default",
            access_string="on ~* +@all", authentication_mode={"Type": "password", "Passwords": [token]},
        )
        users = elasticache.CfnUserGroup(self, "Users", engine="redis", user_group_id=f"{name}-users",
                                         user_ids=[user.user_id])
        users.add_resource_dependency(user)
        cache = elasticache.CfnServerlessCache(
            self, "Serverless", serverless_cache_name=name, engine="redis", major_engine_version="7",
            security_group_ids=[self.security_group.security_group_id], subnet_ids=subnet_ids,
            user_group_id=users.user_group_id, description=f"{name}: job state (serverless: eviction not settable)",
        )
        cache.add_resource_dependency(users)
        self.host = cache.attr_endpoint_address
        self.port = cache.attr_endpoint_port
