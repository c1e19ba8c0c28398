"""The VPC: two Availability Zones, public subnets, no NAT gateway.

A NAT gateway costs more per month than a sleeping staging environment as a whole, so tasks live in
public subnets with a public IP (used only to pull images and reach AWS APIs); their security group
lets in nothing but the load balancer. Rejected traffic is recorded in VPC flow logs.

With `front_door = "cloudfront"` the load balancer is internal and lives in isolated subnets (no route
to or from the internet, no charge): CloudFront reaches it through a VPC origin. The internet gateway of
the public subnets stays, which VPC origins also require. With `front_door = "http_api"` there is no
load balancer: the HTTP API's VPC link has its network interfaces in the tasks' public subnets.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from warmkeeper.infra.log_groups import log_group
from warmkeeper.infra.stack_settings import StackSettings

VPC_CIDR = "10.40.0.0/16"


class Network(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: StackSettings) -> None:
        super().__init__(scope, construct_id)
        self._internal_load_balancer = settings.env.internal_load_balancer
        subnets = [ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)]
        if self._internal_load_balancer:
            subnets.append(
                ec2.SubnetConfiguration(
                    name="load-balancer", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=subnets,
            # True would add a Node.js custom-resource Lambda to empty the default security group;
            # nothing in this VPC uses that group, and every resource here has its own.
            restrict_default_security_group=False,
        )
        # REJECT only: who probes the public addresses (load balancer, tasks), a few MB a month.
        flow_log_group = log_group(
            self, "RejectedFlowLogs", settings=settings, name=settings.log_group_name("vpc-rejected")
        )
        self.vpc.add_flow_log(
            "RejectedTraffic",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )

    @property
    def public_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)

    @property
    def load_balancer_subnets(self) -> ec2.SubnetSelection:
        """Public subnets for an internet-facing load balancer, isolated ones for an internal one."""
        if self._internal_load_balancer:
            return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        return self.public_subnets
