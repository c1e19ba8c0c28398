"""The modelled duration of a rolling deploy, read from the stack settings (deploy/duration.py)."""

from __future__ import annotations

from warmkeeper.deploy.duration import (
    StackTimings,
    model_cold_deploy,
    model_warm_deploy,
    timings_from_template,
)

REGISTRY = "123456789012.dkr.ecr.eu-west-3.amazonaws.com"
BUILT = ("caddy", "api", "web", "osrm")
OUTPUTS = {f"RepositoryUri{n.capitalize()}": f"{REGISTRY}/cityguided-staging/{n}" for n in BUILT}
URIS = {n: f"{REGISTRY}/cityguided-staging/{n}" for n in BUILT}


def test_modelled_deploy_reads_the_stack_settings() -> None:
    template = {
        "Resources": {
            "Tg": {
                "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
                "Properties": {
                    "TargetType": "ip",
                    "HealthCheckIntervalSeconds": 5,
                    "HealthyThresholdCount": 2,
                    "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "15"}],
                },
            },
            "Task": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {"ContainerDefinitions": [{"StopTimeout": 20}, {"StopTimeout": 30}]},
            },
        }
    }
    timings = timings_from_template(template)
    assert timings == StackTimings(5, 2, 15, 30)
    warm = model_warm_deploy(timings)
    health = warm.phases["new target healthy (1-3 checks, 5 s apart)"]
    assert (health.low, health.typical, health.high) == (1, 5, 15)
    assert warm.phases["old target deregistration (15 s)"].typical == 15
    total = warm.total
    assert total.low < total.typical < total.high
    assert model_cold_deploy().total.high < total.low  # a cold deploy starts no task
