"""The network the functions and the cache live in: private subnets, AWS APIs through VPC endpoints.

`Network(stack, "Network").vpc` is a new two-AZ VPC whose private subnets have no route to the internet;
the functions reach SQS and Secrets Manager through interface endpoints and DynamoDB through a gateway
endpoint (`-c natGateways=1` adds NAT for processors that call the internet). `-c vpcId=vpc-...` uses an
existing VPC's private subnets instead.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.checkov import LOG_GROUP_KMS, skip_checks

__all__ = ["ENDPOINT_SERVICES", "Network"]

# What the functions call at run time. X-Ray segments and logs leave through the Lambda service itself, and
# schedules are deployed by CloudFormation, not called at run time, so they need no endpoint.
ENDPOINT_SERVICES = {
    "Sqs": ec2.InterfaceVpcEndpointAwsService.SQS,
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
}


class Network(Construct):
    """The VPC (`.vpc`), the subnets the functions and cache use (`.subnets`), and the functions' security group.

    `.functions_security_group` may open only TLS (443: AWS endpoints, external APIs) and Redis (to the cache,
    added by `Cache`); the endpoints admit only that group.
    """

    def __init__(self, scope: Construct, id: str, *, vpc_id: str | None = None, nat_gateways: int = 0) -> None:
        super().__init__(scope, id)
        if vpc_id:
            self.vpc: ec2.IVpc = ec2.Vpc.from_lookup(self, "Vpc", vpc_id=vpc_id)
            self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        else:
            private = ec2.SubnetType.PRIVATE_WITH_EGRESS if nat_gateways else ec2.SubnetType.PRIVATE_ISOLATED
            subnets = [ec2.SubnetConfiguration(name="Private", subnet_type=private, cidr_mask=22)]
            if nat_gateways:
                subnets.append(ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=26))
            flow_logs = logs.LogGroup(self, "FlowLogs", retention=logs.RetentionDays.ONE_MONTH)
            skip_checks(flow_logs, CKV_AWS_158=LOG_GROUP_KMS)
            vpc = ec2.Vpc(
                self,
                "Vpc",
                max_azs=2,
                nat_gateways=nat_gateways,
                subnet_configuration=subnets,
                flow_logs={
                    "Rejected": ec2.FlowLogOptions(
                        traffic_type=ec2.FlowLogTrafficType.REJECT,
                        destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    )
                },
            )
            self.vpc = vpc
            self.subnets = ec2.SubnetSelection(subnet_type=private)
            self._acknowledge_default_group_handler()
        self.functions_security_group = ec2.SecurityGroup(
            self, "Functions", vpc=self.vpc, allow_all_outbound=False,
            description="jobqueue functions: out to HTTPS and to the cache only",
        )
        self.functions_security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "AWS APIs, external APIs")
        if not vpc_id:
            self._endpoints()

    def _acknowledge_default_group_handler(self) -> None:
        """The function CDK adds to strip the new VPC's default security group of its rules (one per stack)."""
        provider = Stack.of(self).node.find_child("Custom::VpcRestrictDefaultSGCustomResourceProvider")
        skip_checks(
            provider.node.find_child("Handler"),
            CKV_AWS_116="CDK's deploy-time custom resource handler: CloudFormation invokes it during deployment and "
            "waits for its answer, a failure fails the deployment; there is no event to keep for later",
            CKV_AWS_117="CDK's deploy-time custom resource handler: it calls only the EC2 API (revoking the default "
            "security group's rules) and touches no data, so it needs no VPC",
            CKV_AWS_115="CDK's deploy-time custom resource handler: CloudFormation runs it a few times per "
            "deployment, so a reserved concurrency would only withhold executions from the account",
        )

    def _endpoints(self) -> None:
        """Interface endpoints for the AWS APIs the functions call, open to the functions' group only."""
        group = ec2.SecurityGroup(
            self, "Endpoints", vpc=self.vpc, allow_all_outbound=False,
            description="jobqueue VPC endpoints: HTTPS from the functions only",
        )
        group.add_ingress_rule(self.functions_security_group, ec2.Port.tcp(443), "jobqueue functions")
        for name, service in ENDPOINT_SERVICES.items():
            self.vpc.add_interface_endpoint(
                name, service=service, subnets=self.subnets, security_groups=[group], open=False,
                private_dns_enabled=True,
            )
        # The seed processors' tables: a gateway endpoint (no charge, reached over the HTTPS egress rule).
        self.vpc.add_gateway_endpoint("DynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB,
                                      subnets=[self.subnets])
        # The payload bucket (large job data, `infra.payloads`): a gateway endpoint too.
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[self.subnets])
