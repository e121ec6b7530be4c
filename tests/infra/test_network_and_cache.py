"""Template tests of the VPC, its endpoints and security groups, and the ElastiCache Redis (node and serverless)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_cdk.assertions import Template

from infra.cache import PORT
from infra.stack import JobQueueStack
from tests.infra.conftest import EXISTING_VPC, PRIVATE_SUBNETS
from tests.infra.helpers import job_functions, one


def group_id(template: Template, description_start: str) -> str:
    found = [i for i, r in template.find_resources("AWS::EC2::SecurityGroup").items()
             if r["Properties"]["GroupDescription"].startswith(description_start)]
    assert len(found) == 1, description_start
    return found[0]


def test_new_vpc_has_two_private_isolated_subnets_flow_logs_and_no_internet(template: Template) -> None:
    template.resource_count_is("AWS::EC2::VPC", 1)
    subnets = [r["Properties"] for r in template.find_resources("AWS::EC2::Subnet").values()]
    assert len(subnets) == 2
    assert all({"Key": "aws-cdk:subnet-type", "Value": "Isolated"} in s["Tags"] for s in subnets)
    assert all(s["MapPublicIpOnLaunch"] is False for s in subnets)
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::InternetGateway", 0)
    template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "REJECT", "ResourceType": "VPC"})


def test_sqs_and_secrets_manager_endpoints_admit_only_the_functions(template: Template) -> None:
    every = [r["Properties"] for r in template.find_resources("AWS::EC2::VPCEndpoint").values()]
    endpoints = [e for e in every if e.get("VpcEndpointType") == "Interface"]
    services = sorted(e["ServiceName"]["Fn::Join"][1][-1] for e in endpoints)
    assert services == [".secretsmanager", ".sqs"]
    gateways = [e for e in every if e.get("VpcEndpointType") == "Gateway"]  # the seed tables, the payload bucket
    assert sorted(g["ServiceName"]["Fn::Join"][1][-1] for g in gateways) == [".dynamodb", ".s3"]
    endpoints_group, functions_group = group_id(template, "jobqueue VPC endpoints"), group_id(template, "jobqueue func")
    assert all(e["PrivateDnsEnabled"] and e["SecurityGroupIds"] == [{"Fn::GetAtt": [endpoints_group, "GroupId"]}]
               for e in endpoints)
    ingress = template.find_resources("AWS::EC2::SecurityGroupIngress", {"Properties": {
        "GroupId": {"Fn::GetAtt": [endpoints_group, "GroupId"]}}})
    assert [(r["Properties"]["FromPort"], r["Properties"]["SourceSecurityGroupId"]) for r in ingress.values()] == [
        (443, {"Fn::GetAtt": [functions_group, "GroupId"]})]


def test_functions_group_goes_out_to_https_and_the_cache_only(template: Template) -> None:
    functions_group, cache_group = group_id(template, "jobqueue func"), group_id(template, "jobqueue Redis")
    functions_ref, cache_ref = {"Fn::GetAtt": [functions_group, "GroupId"]}, {"Fn::GetAtt": [cache_group, "GroupId"]}
    egress = template.find_resources("AWS::EC2::SecurityGroup")[functions_group]["Properties"]["SecurityGroupEgress"]
    assert [(e["FromPort"], e["ToPort"], e["CidrIp"]) for e in egress] == [(443, 443, "0.0.0.0/0")]
    _, to_cache = one(template, "AWS::EC2::SecurityGroupEgress", {"GroupId": functions_ref})
    assert (to_cache["FromPort"], to_cache["DestinationSecurityGroupId"]) == (PORT, cache_ref)
    for function in job_functions(template).values():
        assert function["VpcConfig"]["SecurityGroupIds"] == [functions_ref]


def test_cache_admits_only_the_functions_on_the_redis_port(template: Template) -> None:
    functions_group, cache_group = group_id(template, "jobqueue func"), group_id(template, "jobqueue Redis")
    ingress = template.find_resources("AWS::EC2::SecurityGroupIngress", {"Properties": {
        "GroupId": {"Fn::GetAtt": [cache_group, "GroupId"]}}})
    assert [(r["Properties"]["FromPort"], r["Properties"]["ToPort"], r["Properties"]["SourceSecurityGroupId"])
            for r in ingress.values()] == [(PORT, PORT, {"Fn::GetAtt": [functions_group, "GroupId"]})]
    egress = template.find_resources("AWS::EC2::SecurityGroup")[cache_group]["Properties"]["SecurityGroupEgress"]
    assert egress[0]["Description"] == "Disallow all traffic"


def test_replication_group_is_multi_az_tls_encrypted_with_auth_and_noeviction(template: Template) -> None:
    params_id, params = one(template, "AWS::ElastiCache::ParameterGroup", {})
    assert params["Properties"] == {"maxmemory-policy": "noeviction"}
    assert params["CacheParameterGroupFamily"] == "redis7"
    [(token_id, token)] = [(i, r) for i, r in template.find_resources("AWS::SecretsManager::Secret").items()
                           if r["Properties"]["Description"].endswith("Redis AUTH token")]
    assert token["Properties"]["GenerateSecretString"]["ExcludePunctuation"] is True
    _, group = one(template, "AWS::ElastiCache::ReplicationGroup", {})
    assert group["Engine"] == "redis"
    assert group["CacheParameterGroupName"] == {"Ref": params_id}
    assert group["TransitEncryptionEnabled"] is True and group["TransitEncryptionMode"] == "required"
    assert group["AtRestEncryptionEnabled"] is True
    assert group["MultiAZEnabled"] is True and group["AutomaticFailoverEnabled"] is True
    assert group["NumCacheClusters"] == 2
    assert group["Port"] == PORT
    # A dynamic reference resolved by CloudFormation: the token never appears in the template.
    assert group["AuthToken"] == {"Fn::Join": ["", ["{{resolve:secretsmanager:", {"Ref": token_id},
                                                    ":SecretString:::}}"]]}
    subnet_group_id, _ = one(template, "AWS::ElastiCache::SubnetGroup", {})
    assert group["CacheSubnetGroupName"] == {"Ref": subnet_group_id}
    assert group["SecurityGroupIds"] == [{"Fn::GetAtt": [group_id(template, "jobqueue Redis"), "GroupId"]}]


def test_functions_get_the_primary_endpoint_and_the_token_secret(template: Template) -> None:
    [group_id_] = template.find_resources("AWS::ElastiCache::ReplicationGroup")
    for function in job_functions(template).values():
        variables = function["Environment"]["Variables"]
        assert variables["REDIS_HOST"] == {"Fn::GetAtt": [group_id_, "PrimaryEndPoint.Address"]}
        assert variables["REDIS_PORT"] == {"Fn::GetAtt": [group_id_, "PrimaryEndPoint.Port"]}
        assert "REDIS_URL" not in variables


def test_functions_use_the_plain_client_without_shards(template: Template) -> None:
    for function in job_functions(template).values():
        assert "JOBQUEUE_REDIS_CLUSTER" not in function["Environment"]["Variables"]


def test_redis_shards_option_deploys_cluster_mode_and_the_cluster_client(
        variant: Callable[..., tuple[JobQueueStack, Template]]) -> None:
    """`-c redisShards=3`: a cluster-mode replication group of three shards (a primary and a replica each), its
    parameter group with `cluster-enabled yes`; the functions get its configuration endpoint and run the cluster
    client (JOBQUEUE_REDIS_CLUSTER), and every node's memory is watched."""
    _, template = variant(redis_shards=3)
    params_id, params = one(template, "AWS::ElastiCache::ParameterGroup", {})
    assert params["Properties"] == {"maxmemory-policy": "noeviction", "cluster-enabled": "yes"}
    group_id_, group = one(template, "AWS::ElastiCache::ReplicationGroup", {})
    assert group["CacheParameterGroupName"] == {"Ref": params_id}
    assert (group["NumNodeGroups"], group["ReplicasPerNodeGroup"]) == (3, 1) and "NumCacheClusters" not in group
    assert group["MultiAZEnabled"] is True and group["AutomaticFailoverEnabled"] is True
    assert group["TransitEncryptionEnabled"] is True and "AuthToken" in group
    for function in job_functions(template).values():
        variables = function["Environment"]["Variables"]
        assert variables["REDIS_HOST"] == {"Fn::GetAtt": [group_id_, "ConfigurationEndPoint.Address"]}
        assert variables["REDIS_PORT"] == {"Fn::GetAtt": [group_id_, "ConfigurationEndPoint.Port"]}
        assert variables["JOBQUEUE_REDIS_CLUSTER"] == "1"
    memory = template.find_resources("AWS::CloudWatch::Alarm", {"Properties": {
        "MetricName": "DatabaseMemoryUsagePercentage"}})
    assert len(memory) == 6


def test_serverless_cache_option(variant: Callable[..., tuple[JobQueueStack, Template]]) -> None:
    _, template = variant(cache="serverless")
    template.resource_count_is("AWS::ElastiCache::ReplicationGroup", 0)
    template.resource_count_is("AWS::ElastiCache::ParameterGroup", 0)
    cache_id, cache = one(template, "AWS::ElastiCache::ServerlessCache", {"Engine": "redis"})
    _, group = one(template, "AWS::ElastiCache::UserGroup", {})
    assert cache["UserGroupId"] == group["UserGroupId"]
    _, user = one(template, "AWS::ElastiCache::User", {"UserName": "default"})
    assert user["AuthenticationMode"]["Type"] == "password"
    assert "{{resolve:secretsmanager:" in str(user["AuthenticationMode"]["Passwords"])
    for function in job_functions(template).values():
        assert function["Environment"]["Variables"]["REDIS_HOST"] == {"Fn::GetAtt": [cache_id, "Endpoint.Address"]}
        assert function["Environment"]["Variables"]["JOBQUEUE_REDIS_CLUSTER"] == "1"  # serverless is a cluster


def test_nat_gateway_option_gives_private_subnets_egress(variant: Callable[..., Any]) -> None:
    _, template = variant(nat_gateways=1)
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    private = [r["Properties"] for r in template.find_resources("AWS::EC2::Subnet").values()
               if {"Key": "aws-cdk:subnet-type", "Value": "Private"} in r["Properties"]["Tags"]]
    assert len(private) == 2
    for function in job_functions(template).values():
        assert sorted(s["Ref"] for s in function["VpcConfig"]["SubnetIds"]) == sorted(
            i for i, r in template.find_resources("AWS::EC2::Subnet").items()
            if {"Key": "aws-cdk:subnet-type", "Value": "Private"} in r["Properties"]["Tags"])


def test_existing_vpc_is_looked_up_not_created(variant: Callable[..., Any]) -> None:
    _, template = variant(vpc_id=EXISTING_VPC)
    template.resource_count_is("AWS::EC2::VPC", 0)
    template.resource_count_is("AWS::EC2::VPCEndpoint", 0)
    for group in template.find_resources("AWS::EC2::SecurityGroup").values():
        assert group["Properties"]["VpcId"] == EXISTING_VPC
    for function in job_functions(template).values():
        assert function["VpcConfig"]["SubnetIds"] == PRIVATE_SUBNETS
    _, subnets = one(template, "AWS::ElastiCache::SubnetGroup", {})
    assert subnets["SubnetIds"] == PRIVATE_SUBNETS
