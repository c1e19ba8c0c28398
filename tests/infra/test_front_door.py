"""Issue 6: the CloudFront front door (`front_door = "cloudfront"`): an internal load balancer with no
public address, reached through a CloudFront VPC origin that caches nothing."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from tests.conftest import EXAMPLE_CONFIG
from tests.infra.support import SynthesizedEnv, get_att, ref
from warmkeeper.config import CLOUDFRONT_ORIGIN_FACING_PREFIX_LISTS, parse_config
from warmkeeper.infra.front_door import UNCACHED_ERROR_STATUSES

pytestmark = pytest.mark.infra

# AWS-managed policies, by their fixed ids.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3"
DOMAIN = "staging.cityguided.example"
VIRGINIA_CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/6b1f0c1e-2d4a-4c55-9a39-0f1b2c3d4e5f"


def _distribution_config(synth: SynthesizedEnv) -> dict[str, Any]:
    config: dict[str, Any] = synth.properties(synth.logical_id("FrontDoor/Distribution"))[
        "DistributionConfig"
    ]
    return config


def test_distribution_passes_every_request_to_the_load_balancer(staging: SynthesizedEnv) -> None:
    config = _distribution_config(staging)
    behavior = config["DefaultCacheBehavior"]
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    # The keep-alive webhook and the app's API need more than GET.
    assert {"POST", "PUT", "PATCH", "DELETE"} <= set(behavior["AllowedMethods"])
    assert config["PriceClass"] == "PriceClass_100"
    # No domain: CloudFront's own *.cloudfront.net certificate (no ViewerCertificate in the template).
    assert "ViewerCertificate" not in config and "Aliases" not in config
    # The waker's 503 + Retry-After (and any error) must not be served again from CloudFront's cache.
    errors = {item["ErrorCode"]: item for item in config["CustomErrorResponses"]}
    assert {502, 503, 504} <= set(errors) == set(UNCACHED_ERROR_STATUSES)
    assert all(item == {"ErrorCode": code, "ErrorCachingMinTTL": 0} for code, item in errors.items())


def test_origin_is_the_internal_load_balancer_through_a_vpc_origin(staging: SynthesizedEnv) -> None:
    vpc_origin_id, vpc_origin = staging.only("AWS::CloudFront::VpcOrigin")
    endpoint = vpc_origin["VpcOriginEndpointConfig"]
    assert endpoint["Arn"] == ref(staging.logical_id("Ingress/LoadBalancer"))
    assert endpoint["OriginProtocolPolicy"] == "http-only" and endpoint["HTTPPort"] == 80
    (origin,) = _distribution_config(staging)["Origins"]
    assert origin["VpcOriginConfig"]["VpcOriginId"] == get_att(vpc_origin_id, "Id")
    # A held request (hold_seconds, plus the Lambda's own calls) must not time out at CloudFront.
    hold = staging.config.scale_to_zero.hold_seconds
    assert origin["VpcOriginConfig"].get("OriginReadTimeout", 30) >= hold + 15


def test_internal_load_balancer_admits_cloudfront_alone(staging: SynthesizedEnv) -> None:
    group_id = get_att(staging.logical_id("Ingress/SecurityGroup"), "GroupId")
    assert "SecurityGroupIngress" not in staging.properties(staging.logical_id("Ingress/SecurityGroup"))
    ingress = [
        rule["Properties"]
        for rule in staging.resources("AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == group_id
    ]
    assert len(ingress) == 1
    assert ingress[0]["SourcePrefixListId"] == CLOUDFRONT_ORIGIN_FACING_PREFIX_LISTS["eu-west-3"]
    assert (ingress[0]["FromPort"], ingress[0]["ToPort"]) == (80, 80)
    # Nothing in this environment is open to the whole internet.
    for rule in staging.resources("AWS::EC2::SecurityGroupIngress").values():
        assert rule["Properties"].get("CidrIp") != "0.0.0.0/0"
    _, listener = staging.only("AWS::ElasticLoadBalancingV2::Listener")
    assert (listener["Port"], listener["Protocol"]) == (80, "HTTP")


def test_no_cloudfront_in_front_of_an_internet_facing_load_balancer(
    production: SynthesizedEnv, https_staging: SynthesizedEnv
) -> None:
    for synth in (production, https_staging):
        synth.template.resource_count_is("AWS::CloudFront::Distribution", 0)
        synth.template.resource_count_is("AWS::CloudFront::VpcOrigin", 0)


def test_a_domain_behind_cloudfront_gets_its_us_east_1_certificate() -> None:
    """The custom-domain case on a small stack of its own (no need for a whole environment)."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_elasticloadbalancingv2 as elbv2
    from aws_cdk.assertions import Template

    from warmkeeper.infra.front_door import CloudFrontFrontDoor
    from warmkeeper.infra.settings import StackSettings

    data = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["environments"]["staging"].update(domain=DOMAIN, certificate_arn=VIRGINIA_CERTIFICATE)
    settings = StackSettings.create(parse_config(data, EXAMPLE_CONFIG.resolve()), "staging")
    stack = Stack(App(), "FrontDoorOnly")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0)
    alb = elbv2.ApplicationLoadBalancer(stack, "Alb", vpc=vpc, internet_facing=False)
    front_door = CloudFrontFrontDoor(stack, "FrontDoor", settings=settings, load_balancer=alb)
    (distribution,) = Template.from_stack(stack).find_resources("AWS::CloudFront::Distribution").values()
    config = distribution["Properties"]["DistributionConfig"]
    assert config["Aliases"] == [DOMAIN]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": VIRGINIA_CERTIFICATE,
        "MinimumProtocolVersion": "TLSv1.2_2021",
        "SslSupportMethod": "sni-only",
    }
    assert front_door.url == f"https://{DOMAIN}"
    # With its own certificate, the default-certificate finding is not suppressed any more.
    suppressed = {entry["id"] for entry in distribution["Metadata"]["cdk_nag"]["rules_to_suppress"]}
    assert "AwsSolutions-CFR4" not in suppressed
