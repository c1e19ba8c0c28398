"""Autoscaling of an always-on environment between min_tasks and max_tasks.

Only where scale-to-zero is off: target tracking can scale in, and in a scale-to-zero environment
only the warmkeeper Lambda may take the service to zero (after routing traffic to itself first).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from warmkeeper.infra.stack_settings import StackSettings

SCALE_OUT_COOLDOWN_SECONDS = 60
# Scale in slowly: a task that starts again costs more time than it saves money.
SCALE_IN_COOLDOWN_SECONDS = 300


class Autoscaling(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        service: ecs.FargateService,
        target_group: elbv2.ApplicationTargetGroup | None,
    ) -> None:
        super().__init__(scope, construct_id)
        env = settings.env
        scaling = service.auto_scale_task_count(min_capacity=env.min_tasks, max_capacity=env.max_tasks)
        if target_group is not None:
            # Behind an HTTP API there is no per-task request metric to track: CPU alone scales.
            scaling.scale_on_request_count(
                "RequestsPerTask",
                requests_per_target=env.target_requests_per_task,
                target_group=target_group,
                scale_out_cooldown=Duration.seconds(SCALE_OUT_COOLDOWN_SECONDS),
                scale_in_cooldown=Duration.seconds(SCALE_IN_COOLDOWN_SECONDS),
            )
        scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=env.target_cpu_percent,
            scale_out_cooldown=Duration.seconds(SCALE_OUT_COOLDOWN_SECONDS),
            scale_in_cooldown=Duration.seconds(SCALE_IN_COOLDOWN_SECONDS),
        )
