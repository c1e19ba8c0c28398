"""MODELLED duration of a rolling deploy on Fargate, from the stack's own settings.

Nothing here is measured: there is no AWS account on the machines that build warmkeeper. The
stack's settings (target-group health check, deregistration delay, container stop timeout) are
read from the synthesized template; the AWS-side phases use published rules or this project's
assumptions, each named in `SOURCES`. `warmkeeper smoke` measures the real thing on an account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SOURCES = {
    "health": "Elastic Load Balancing User Guide, 'Health checks for Application Load Balancer target "
    "groups': a newly registered target must pass one health check to be considered healthy; an "
    "unhealthy one needs HealthyThresholdCount consecutive successes, HealthCheckIntervalSeconds apart",
    "deregistration": "Elastic Load Balancing User Guide, 'Deregistration delay': the load balancer waits "
    "this long for in-flight requests before the target is removed; ECS stops the old task after it",
    "fargate": "assumed: 30-90 s for a small image. AWS publishes no task launch time; the Amazon ECS "
    "Developer Guide, 'Optimize Amazon ECS task launch time', names the phases (provisioning, ENI "
    "attach: 'an overhead of several seconds', image pull, start)",
    "cloudformation": "assumed: change-set creation and execution start 10-20 s; ECS steady-state "
    "confirmation to CloudFormation 15-30 s",
}


@dataclass(frozen=True)
class StackTimings:
    health_interval_seconds: int = 5
    healthy_threshold: int = 2
    deregistration_delay_seconds: int = 15  # warmkeeper.infra.ingress.DEREGISTRATION_DELAY_SECONDS
    stop_timeout_seconds: int = 30


@dataclass(frozen=True)
class Band:
    low: float
    typical: float
    high: float


@dataclass(frozen=True)
class DeployModel:
    phases: Mapping[str, Band]

    @property
    def total(self) -> Band:
        return Band(
            low=sum(b.low for b in self.phases.values()),
            typical=sum(b.typical for b in self.phases.values()),
            high=sum(b.high for b in self.phases.values()),
        )


def timings_from_template(template: Mapping[str, Any]) -> StackTimings:
    """The service target group's health check and deregistration delay, the longest stop timeout."""
    defaults = StackTimings()
    interval, threshold, delay, stop = (
        defaults.health_interval_seconds,
        defaults.healthy_threshold,
        defaults.deregistration_delay_seconds,
        0,
    )
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        if (
            resource.get("Type") == "AWS::ElasticLoadBalancingV2::TargetGroup"
            and props.get("TargetType") == "ip"
        ):
            interval = int(props.get("HealthCheckIntervalSeconds", 30))
            threshold = int(props.get("HealthyThresholdCount", 5))
            for attribute in props.get("TargetGroupAttributes", []):
                if attribute.get("Key") == "deregistration_delay.timeout_seconds":
                    delay = int(attribute["Value"])
        if resource.get("Type") == "AWS::ECS::TaskDefinition":
            for definition in props.get("ContainerDefinitions", []):
                stop = max(stop, int(definition.get("StopTimeout", 30)))
    return StackTimings(interval, threshold, delay, stop or defaults.stop_timeout_seconds)


def model_warm_deploy(t: StackTimings) -> DeployModel:
    """A warm service with one task: start the new task, wait healthy, drain and stop the old one."""
    interval = t.health_interval_seconds
    return DeployModel(
        {
            "CloudFormation change set + service update": Band(10, 15, 20),
            "Fargate task launch (provision, ENI, pull, start)": Band(30, 45, 90),
            "container health (depends_on) + app start": Band(5, 10, 20),
            # A new target is healthy at its first passing check (within one interval); if that
            # check came too early and failed, it needs the healthy threshold in a row after it.
            f"new target healthy (1-{1 + t.healthy_threshold} checks, {interval} s apart)": Band(
                1, interval, interval * (1 + t.healthy_threshold)
            ),
            f"old target deregistration ({t.deregistration_delay_seconds} s)": Band(
                t.deregistration_delay_seconds, t.deregistration_delay_seconds, t.deregistration_delay_seconds
            ),
            f"old task stop (SIGTERM, up to {t.stop_timeout_seconds} s)": Band(1, 3, t.stop_timeout_seconds),
            "ECS steady state reported to CloudFormation": Band(15, 20, 30),
        }
    )


def model_cold_deploy() -> DeployModel:
    """A cold service (desired 0): a new task definition and a deployment with no task to start."""
    return DeployModel(
        {
            "CloudFormation change set + service update": Band(10, 15, 20),
            "ECS steady state reported to CloudFormation": Band(15, 20, 30),
        }
    )
