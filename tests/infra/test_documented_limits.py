"""What AWS's own documentation says the stack must do, checked on every template.

- the service waits for the cluster's capacity-provider association (aws/containers-roadmap#631:
  without it, CloudFormation may create the service first and ECS refuses its capacity provider
  strategy, or deletes the association while the service still uses it);
- the Lambda target group passes every value of a repeated header or query key;
- each front door waits longer than the Lambda can run, which outlives a hold;
- the waker has reserved concurrency, so a cold herd cannot take the account's.
- ECR: a pushed image tag never moves (the release history names images by tag).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.support import SynthesizedEnv

pytestmark = pytest.mark.infra


def _function(synth: SynthesizedEnv) -> dict[str, Any]:
    return synth.only("AWS::Lambda::Function")[1]


def test_service_depends_on_the_capacity_provider_association(every_front_door: SynthesizedEnv) -> None:
    association_id, _ = every_front_door.only("AWS::ECS::ClusterCapacityProviderAssociations")
    service_id, _ = every_front_door.only("AWS::ECS::Service")
    depends_on = every_front_door.raw["Resources"][service_id].get("DependsOn", [])
    assert association_id in ([depends_on] if isinstance(depends_on, str) else depends_on)


def test_lambda_target_group_passes_multi_value_headers(any_env: SynthesizedEnv) -> None:
    target_group = any_env.properties(any_env.logical_id("Waker/TargetGroup"))
    assert target_group["TargetType"] == "lambda"
    attributes = {item["Key"]: item["Value"] for item in target_group.get("TargetGroupAttributes", [])}
    assert attributes.get("lambda.multi_value_headers.enabled") == "true"


def test_waker_has_reserved_concurrency(any_env: SynthesizedEnv) -> None:
    expected = any_env.settings.waker_reserved_concurrency
    assert expected > 0
    assert _function(any_env)["ReservedConcurrentExecutions"] == expected


def test_every_front_door_outlasts_the_lambda_which_outlasts_a_hold(any_env: SynthesizedEnv) -> None:
    hold = any_env.config.scale_to_zero.hold_seconds
    lambda_timeout = _function(any_env)["Timeout"]
    assert lambda_timeout >= hold + 10  # the hold and the AWS calls around it
    _, load_balancer = any_env.only("AWS::ElasticLoadBalancingV2::LoadBalancer")
    attributes = {item["Key"]: item["Value"] for item in load_balancer["LoadBalancerAttributes"]}
    # ALB has no timeout of its own for a Lambda target (it waits for the function's answer or its
    # timeout), but its idle timeout closes the client's connection while nothing is sent.
    assert int(attributes.get("idle_timeout.timeout_seconds", "60")) > lambda_timeout
    distributions = any_env.resources("AWS::CloudFront::Distribution")
    for distribution in distributions.values():
        for origin in distribution["Properties"]["DistributionConfig"]["Origins"]:
            read_timeout = origin["VpcOriginConfig"].get("OriginReadTimeout", 30)
            assert read_timeout > lambda_timeout
            # 60 s is CloudFront's limit without a quota increase; the config says when there is one.
            assert read_timeout <= any_env.settings.cloudfront_origin_timeout_quota_seconds
    assert distributions or any_env.settings.front_door != "cloudfront"


def test_image_tags_are_immutable(images_stack: SynthesizedEnv) -> None:
    repositories = images_stack.resources("AWS::ECR::Repository")
    assert repositories
    for repository in repositories.values():
        assert repository["Properties"]["ImageTagMutability"] == "IMMUTABLE"
