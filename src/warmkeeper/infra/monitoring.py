"""What people look at and what wakes them, under one `Monitoring` construct of the stack.

Written with aws_cloudwatch directly rather than cdk-monitoring-constructs: that library reads CPU and
memory from AWS/ECS service metrics (not Container Insights), has no alarm for a deployment ECS rolled
back (an EventBridge event, not a metric) and would add its own dashboards and alarm names beside ours.

The alarms and their topic (:mod:`warmkeeper.infra.alarms`) and the dashboard
(:mod:`warmkeeper.infra.dashboard`) draw from the same metrics (:mod:`warmkeeper.infra.cloudwatch_metrics`)
and are created in this construct, so their construct paths (and logical ids) are `Monitoring/...`.
"""

from __future__ import annotations

from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from warmkeeper.infra.alarms import ServiceAlarms
from warmkeeper.infra.cloudwatch_metrics import EnvironmentMetrics
from warmkeeper.infra.dashboard import service_dashboard
from warmkeeper.infra.internal_service import InternalServices
from warmkeeper.infra.stack_settings import StackSettings


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        cluster: ecs.ICluster,
        service: ecs.FargateService,
        load_balancer: elbv2.ApplicationLoadBalancer | None,
        service_target_group: elbv2.ApplicationTargetGroup | None,
        waker_target_group: elbv2.ApplicationTargetGroup | None,
        function: lambda_.IFunction,
        distribution_id: str | None = None,
        api_id: str | None = None,
        internal_services: InternalServices | None = None,
    ) -> None:
        """Either a load balancer and its two target groups, or (an HTTP API front door) `api_id`."""
        super().__init__(scope, construct_id)
        metrics = EnvironmentMetrics(
            settings=settings,
            cluster_name=cluster.cluster_name,
            service_name=service.service_name,
            load_balancer=load_balancer.load_balancer_full_name if load_balancer else "",
            service_target_group=service_target_group.target_group_full_name if service_target_group else "",
            waker_target_group=waker_target_group.target_group_full_name if waker_target_group else None,
            api_id=api_id,
            distribution_id=distribution_id,
        )
        internal = internal_services.services if internal_services is not None else []
        alarms = ServiceAlarms(
            self,
            settings=settings,
            metrics=metrics,
            service=service,
            function=function,
            internal_services=internal,
        )
        self.topic = alarms.topic
        self.alarms = alarms.alarms
        # The dashboard (3 USD a month) only where the config asks for it, or the environment never
        # sleeps (EnvironmentSettings.has_dashboard).
        self.dashboard_name = settings.dashboard_name if settings.env.has_dashboard else None
        self.dashboard = (
            service_dashboard(
                self, settings=settings, metrics=metrics, alarms=self.alarms, internal_services=internal
            )
            if settings.env.has_dashboard
            else None
        )
