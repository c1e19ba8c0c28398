"""The VPC (2 AZs, public subnets only, no NAT) and who may talk to the tasks."""

from __future__ import annotations

import pytest

from tests.infra.support import SynthesizedEnv, get_att

pytestmark = pytest.mark.infra


def test_two_public_subnets_and_no_nat(any_env: SynthesizedEnv) -> None:
    template = any_env.template
    template.resource_count_is("AWS::EC2::VPC", 1)
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::EIP", 0)
    subnets = any_env.resources("AWS::EC2::Subnet")
    public = {key: subnet for key, subnet in subnets.items() if subnet["Properties"]["MapPublicIpOnLaunch"]}
    assert len(public) == 2
    # Behind CloudFront the internal load balancer has two isolated subnets of its own.
    isolated = set(subnets) - set(public)
    assert len(isolated) == (0 if any_env.settings.internet_facing_load_balancer else 2)
    # One per Availability Zone, chosen at deploy time (no AWS lookup while synthesizing).
    for group in (public, {key: subnets[key] for key in isolated}):
        zones = [subnet["Properties"]["AvailabilityZone"] for subnet in group.values()]
        assert sorted(zone["Fn::Select"][0] for zone in zones) == ([0, 1] if group else [])
    # Only the public subnets' route tables have a route: 0.0.0.0/0 to the internet gateway, none to a
    # NAT. The isolated subnets reach nothing outside the VPC.
    routes = any_env.resources("AWS::EC2::Route")
    assert len(routes) == 2
    assert all(
        "GatewayId" in route["Properties"] and "NatGatewayId" not in route["Properties"]
        for route in routes.values()
    )
    associations = any_env.resources("AWS::EC2::SubnetRouteTableAssociation").values()
    public_tables = {
        association["Properties"]["RouteTableId"]["Ref"]
        for association in associations
        if association["Properties"]["SubnetId"]["Ref"] in public
    }
    assert {route["Properties"]["RouteTableId"]["Ref"] for route in routes.values()} <= public_tables


def test_rejected_traffic_is_logged(any_env: SynthesizedEnv) -> None:
    _, flow_log = any_env.only("AWS::EC2::FlowLog")
    assert flow_log["TrafficType"] == "REJECT"
    assert flow_log["ResourceType"] == "VPC"


def test_tasks_accept_traffic_from_the_load_balancer_only(any_env: SynthesizedEnv) -> None:
    task_group = any_env.logical_id("App/TaskSecurityGroup")
    alb_group = any_env.logical_id("Ingress/SecurityGroup")
    assert "SecurityGroupIngress" not in any_env.properties(task_group)
    ingress_rules = [
        rule["Properties"]
        for rule in any_env.resources("AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == get_att(task_group, "GroupId")
    ]
    entry_port = any_env.config.entry_container.port
    assert ingress_rules == [
        {
            "Description": "Load balancer to target",
            "FromPort": entry_port,
            "ToPort": entry_port,
            "GroupId": get_att(task_group, "GroupId"),
            "IpProtocol": "tcp",
            "SourceSecurityGroupId": get_att(alb_group, "GroupId"),
        }
    ]


def test_load_balancer_is_open_on_its_listener_ports_only(
    production: SynthesizedEnv, https_staging: SynthesizedEnv
) -> None:
    for synth, ports in ((production, {80}), (https_staging, {80, 443})):
        alb_group = synth.properties(synth.logical_id("Ingress/SecurityGroup"))
        assert {rule["FromPort"] for rule in alb_group["SecurityGroupIngress"]} == ports
        assert all(rule["CidrIp"] == "0.0.0.0/0" for rule in alb_group["SecurityGroupIngress"])
        # Egress: the tasks' port only. An inline rule must exist, or AWS adds its default allow-all.
        load_balancer_group = synth.logical_id("Ingress/SecurityGroup")
        vpc = synth.logical_id("Network/Vpc")
        assert alb_group["SecurityGroupEgress"] == [
            {
                "CidrIp": get_att(vpc, "CidrBlock"),
                "Description": "To the tasks' entry port inside the VPC (requests and health checks)",
                "FromPort": 8080,
                "IpProtocol": "tcp",
                "ToPort": 8080,
            }
        ]
        egress = [
            rule["Properties"]
            for rule in synth.resources("AWS::EC2::SecurityGroupEgress").values()
            if rule["Properties"]["GroupId"] == get_att(load_balancer_group, "GroupId")
        ]
        assert [(rule["FromPort"], rule["ToPort"]) for rule in egress] == [(8080, 8080)]
        assert egress[0]["DestinationSecurityGroupId"] == get_att(
            synth.logical_id("App/TaskSecurityGroup"), "GroupId"
        )


def test_every_security_group_states_its_egress(any_env: SynthesizedEnv) -> None:
    # Without an inline egress rule, AWS gives a new security group allow-all egress.
    for logical_id, group in any_env.resources("AWS::EC2::SecurityGroup").items():
        assert group["Properties"].get("SecurityGroupEgress"), logical_id
