"""The CloudFront front door (`front_door = "cloudfront"`): an internal load balancer with no
public address, reached through a CloudFront VPC origin that caches nothing."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from tests.conftest import EXAMPLE_CONFIG
from tests.infra.support import SynthesizedEnv, get_att, ref
from warmkeeper.config import parse_config
from warmkeeper.infra.front_door import UNCACHED_ERROR_STATUSES

pytestmark = pytest.mark.infra

# The AWS-managed origin request policy AllViewerAndCloudFrontHeaders-2022-06, by its fixed id.
ALL_VIEWER_AND_CLOUDFRONT = "33f36d7e-f396-46d9-90e0-52428a34d9dc"
# com.amazonaws.global.cloudfront.origin-facing in eu-west-3, as AWS publishes it (not read from the
# code's table, so a wrong id in the table fails here).
PARIS_ORIGIN_FACING_PREFIX_LIST = "pl-75b1541c"
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
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_AND_CLOUDFRONT
    # Nothing kept unless the app marks it cacheable, then 1 s at most, keyed per visitor; and the
    # Authorization header of a GET reaches the app (CloudFront forwards it only as part of the key).
    policy_id, policy = staging.only("AWS::CloudFront::CachePolicy")
    assert behavior["CachePolicyId"] == ref(policy_id)
    policy = policy["CachePolicyConfig"]
    assert (policy["MinTTL"], policy["DefaultTTL"], policy["MaxTTL"]) == (0, 0, 1)
    key = policy["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["HeadersConfig"] == {"HeaderBehavior": "whitelist", "Headers": ["Authorization"]}
    assert key["CookiesConfig"] == {"CookieBehavior": "all"}
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "all"}
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
    assert ingress[0]["SourcePrefixListId"] == PARIS_ORIGIN_FACING_PREFIX_LIST
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
    from warmkeeper.infra.stack_settings import StackSettings

    data = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["environments"]["staging"].update(
        front_door="cloudfront", domain=DOMAIN, certificate_arn=VIRGINIA_CERTIFICATE
    )
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
