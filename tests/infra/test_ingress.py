"""The load balancer, its listeners, the service's target group and production autoscaling."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLE_CONFIG
from tests.infra.conftest import CERTIFICATE_ARN, DOMAIN
from tests.infra.support import SynthesizedEnv, ref
from warmkeeper.config import load_config

pytestmark = pytest.mark.infra


def test_load_balancer_scheme_and_subnets_follow_the_front_door(any_env: SynthesizedEnv) -> None:
    _, load_balancer = any_env.only("AWS::ElasticLoadBalancingV2::LoadBalancer")
    internet_facing = any_env.settings.internet_facing_load_balancer
    assert load_balancer["Scheme"] == ("internet-facing" if internet_facing else "internal")
    assert load_balancer["Type"] == "application"
    assert len(load_balancer["Subnets"]) == 2
    # Internet-facing: the public subnets (public address on launch); behind CloudFront: isolated ones.
    for subnet in load_balancer["Subnets"]:
        assert any_env.properties(subnet["Ref"])["MapPublicIpOnLaunch"] is internet_facing
    attributes = {item["Key"]: item["Value"] for item in load_balancer["LoadBalancerAttributes"]}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    # A held API request (up to hold_seconds, plus the Lambda's own calls) keeps its connection.
    idle_timeout = int(attributes.get("idle_timeout.timeout_seconds", "60"))
    assert idle_timeout >= any_env.config.scale_to_zero.hold_seconds + 15


def test_service_target_group_checks_health_fast(any_env: SynthesizedEnv) -> None:
    target_group = any_env.properties(any_env.logical_id("Ingress/ServiceTargetGroup"))
    entry = any_env.config.entry_container
    assert target_group["TargetType"] == "ip"
    assert target_group["Port"] == entry.port
    assert target_group["HealthCheckPath"] == entry.health.path == "/healthz"
    assert target_group["HealthCheckIntervalSeconds"] == 5
    assert target_group["HealthyThresholdCount"] == 2
    assert target_group["HealthCheckTimeoutSeconds"] < target_group["HealthCheckIntervalSeconds"]
    attributes = {item["Key"]: item["Value"] for item in target_group["TargetGroupAttributes"]}
    assert int(attributes["deregistration_delay.timeout_seconds"]) <= 15


def test_http_only_without_a_certificate(staging: SynthesizedEnv, production: SynthesizedEnv) -> None:
    for synth in (staging, production):
        _, listener = synth.only("AWS::ElasticLoadBalancingV2::Listener")
        assert (listener["Port"], listener["Protocol"]) == (80, "HTTP")


def test_https_with_the_certificate_and_a_redirect(https_staging: SynthesizedEnv) -> None:
    listeners = {
        resource["Properties"]["Port"]: resource["Properties"]
        for resource in https_staging.resources("AWS::ElasticLoadBalancingV2::Listener").values()
    }
    assert set(listeners) == {80, 443}
    https = listeners[443]
    assert https["Protocol"] == "HTTPS"
    assert https["Certificates"] == [{"CertificateArn": CERTIFICATE_ARN}]
    assert https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    assert listeners[80]["DefaultActions"] == [
        {
            "Type": "redirect",
            "RedirectConfig": {"Port": "443", "Protocol": "HTTPS", "StatusCode": "HTTP_301"},
        }
    ]
    # The redirect listener forwards nothing: no rule hangs on it.
    redirect_listener = https_staging.logical_id("Ingress/LoadBalancer/Redirect80To443")
    rules = https_staging.resources("AWS::ElasticLoadBalancingV2::ListenerRule").values()
    assert all(rule["Properties"]["ListenerArn"] != ref(redirect_listener) for rule in rules)


def test_production_autoscales_on_requests_and_cpu(production: SynthesizedEnv) -> None:
    _, target = production.only("AWS::ApplicationAutoScaling::ScalableTarget")
    settings = production.settings
    assert (
        (target["MinCapacity"], target["MaxCapacity"]) == (settings.min_tasks, settings.max_tasks) == (1, 3)
    )
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    policies = {
        policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"][
            "PredefinedMetricType"
        ]: policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        for policy in production.resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()
    }
    assert set(policies) == {"ALBRequestCountPerTarget", "ECSServiceAverageCPUUtilization"}
    assert policies["ALBRequestCountPerTarget"]["TargetValue"] == settings.target_requests_per_task
    assert policies["ECSServiceAverageCPUUtilization"]["TargetValue"] == settings.target_cpu_percent


def test_scale_to_zero_environments_do_not_autoscale(scale_to_zero_env: SynthesizedEnv) -> None:
    # Target tracking could scale in to zero behind the waker's back.
    scale_to_zero_env.template.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)


def test_url_output(
    staging: SynthesizedEnv, production: SynthesizedEnv, https_staging: SynthesizedEnv
) -> None:
    assert https_staging.raw["Outputs"]["Url"]["Value"] == f"https://{DOMAIN}"
    load_balancer = production.logical_id("Ingress/LoadBalancer")
    assert production.raw["Outputs"]["Url"]["Value"] == {
        "Fn::Join": ["", ["http://", {"Fn::GetAtt": [load_balancer, "DNSName"]}]]
    }
    # Behind CloudFront people use the distribution's name, over HTTPS, never the internal ALB's.
    distribution = staging.logical_id("FrontDoor/Distribution")
    assert staging.raw["Outputs"]["Url"]["Value"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution, "DomainName"]}]]
    }


def test_no_listener_serves_the_internet_plain_http_unless_the_environment_allows_it(
    any_env: SynthesizedEnv,
) -> None:
    """HTTPS by default: on an internet-facing load balancer a plain-HTTP listener only redirects to
    HTTPS, unless the environment says allow_plain_http; an internal one (behind CloudFront, as the
    example's production) admits CloudFront's origin-facing addresses alone."""
    settings = any_env.settings
    for listener in any_env.resources("AWS::ElasticLoadBalancingV2::Listener").values():
        properties = listener["Properties"]
        if properties["Protocol"] != "HTTP":
            continue
        redirects = [action for action in properties["DefaultActions"] if action["Type"] == "redirect"]
        if redirects:
            assert redirects[0]["RedirectConfig"]["Protocol"] == "HTTPS"
        elif settings.internet_facing_load_balancer:
            assert settings.allow_plain_http, f"{any_env.variant}: plain HTTP to the internet"
        else:
            assert settings.door.cdn, f"{any_env.variant}: an internal HTTP listener without CloudFront"


def test_the_example_production_is_served_over_https_through_cloudfront(staging: SynthesizedEnv) -> None:
    # The `staging` variant has the front door of the example's production: its listener is internal.
    production = load_config(EXAMPLE_CONFIG).environment("production")
    assert production.https and not production.internet_facing_load_balancer
    assert staging.settings.door == production.door
    _, load_balancer = staging.only("AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert load_balancer["Scheme"] == "internal"
    _, distribution = staging.only("AWS::CloudFront::Distribution")
    behavior = distribution["DistributionConfig"]["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"


def test_plain_http_to_the_internet_is_refused_where_the_stack_is_built(production: SynthesizedEnv) -> None:
    from warmkeeper.config import ConfigError
    from warmkeeper.infra.stack_settings import StackSettings

    config = production.config.model_copy(
        update={
            "environments": {
                **production.config.environments,
                "production": {**production.config.environments["production"], "allow_plain_http": False},
            }
        }
    )
    with pytest.raises(ConfigError, match="environment 'production' would serve plain HTTP"):
        StackSettings.create(config, "production")


def test_a_private_environment_opens_its_load_balancer_to_the_allowed_ranges_only() -> None:
    """wake_allowed_from on an internet-facing load balancer: its security group admits those ranges
    alone, on both listener ports (the warm app as well as the waker). A small stack of its own."""
    import tomllib

    from aws_cdk import App, Stack
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_elasticloadbalancingv2 as elbv2
    from aws_cdk.assertions import Template

    from warmkeeper.config import parse_config
    from warmkeeper.infra.ingress import Ingress
    from warmkeeper.infra.stack_settings import StackSettings

    data = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["environments"]["production"].update(
        front_door="load_balancer",
        domain=DOMAIN,
        certificate_arn=CERTIFICATE_ARN,
        wake_allowed_from=["203.0.113.0/24"],
    )
    settings = StackSettings.create(parse_config(data, EXAMPLE_CONFIG.resolve()), "production")
    stack = Stack(App(), "PrivateIngress")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0)
    ingress = Ingress(
        stack,
        "Ingress",
        settings=settings,
        vpc=vpc,
        subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
    )
    ingress.listener.add_action("Default", action=elbv2.ListenerAction.fixed_response(404))
    resources = Template.from_stack(stack).to_json()["Resources"]
    rules = [
        rule
        for resource in resources.values()
        if resource["Type"] == "AWS::EC2::SecurityGroup"
        for rule in resource["Properties"].get("SecurityGroupIngress", [])
    ]
    assert sorted((rule["CidrIp"], rule["FromPort"]) for rule in rules) == [
        ("203.0.113.0/24", 80),
        ("203.0.113.0/24", 443),
    ]
