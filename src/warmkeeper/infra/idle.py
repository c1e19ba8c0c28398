"""Idle detection of a scale-to-zero environment: the idle alarm and its way to the Lambda.

The alarm watches the front door's request count, one-minute sums, and goes to ALARM after
`idle_minutes` periods under one request: RequestCount of the service's target group behind a load
balancer; Count of the HTTP API's stage (AWS/ApiGateway, dimensions ApiId and Stage) with
`front_door = "http_api"`, which also counts the requests the waker answers (`/_warmkeeper/*`, and
everything while cold: the service is asleep then anyway). A target group or a stage that receives
nothing publishes no data point at all, so missing data counts as idle (breaching). The alarm has no
action of its own: EventBridge carries its state changes to the Lambda, which checks the guards
(lease, deployment, minimum warm time) before it sleeps the service.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from warmkeeper.core.front_doors import RequestMetric
from warmkeeper.infra.stack_settings import StackSettings


def service_request_count(
    request_metric: RequestMetric,
    load_balancer: elbv2.ApplicationLoadBalancer,
    service_target_group: elbv2.ApplicationTargetGroup,
) -> cloudwatch.Metric:
    """Requests the load balancer sent to the service's tasks, per minute (the front door's
    request metric, by target group)."""
    return cloudwatch.Metric(
        namespace=request_metric.namespace,
        metric_name=request_metric.name,
        dimensions_map={
            "LoadBalancer": load_balancer.load_balancer_full_name,
            "TargetGroup": service_target_group.target_group_full_name,
        },
        statistic="Sum",
        period=Duration.minutes(1),
    )


def api_request_count(request_metric: RequestMetric, api_id: str, stage: str) -> cloudwatch.Metric:
    """Requests the HTTP API's stage received, per minute (the front door's request metric, AWS/ApiGateway
    `Count`, by ApiId and Stage)."""
    return cloudwatch.Metric(
        namespace=request_metric.namespace,
        metric_name=request_metric.name,
        dimensions_map={"ApiId": api_id, "Stage": stage},
        statistic="Sum",
        period=Duration.minutes(1),
    )


class IdleDetector(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        requests: cloudwatch.IMetric,
        function: lambda_.IFunction,
        internal_service: tuple[str, str, int] | None = None,
    ) -> None:
        """`internal_service`: (its name, its alarm's name, its idle minutes) for an internal service's
        own idle alarm (its activity metric as `requests`); the app's otherwise."""
        super().__init__(scope, construct_id)
        if internal_service is None:
            idle_minutes = settings.env.idle_minutes
            alarm_name = settings.idle_alarm_name
            description = (
                f"{settings.stack_name}: no request reached the service for {idle_minutes} minutes; "
                "the warmkeeper Lambda sleeps the service unless a lease, a deployment or the minimum "
                "warm time says otherwise."
            )
            rule_description = f"{settings.stack_name}: idle alarm state changes to the warmkeeper Lambda"
        else:
            name, alarm_name, idle_minutes = internal_service
            description = (
                f"{settings.stack_name}: no call reached the internal service {name} for {idle_minutes} "
                "minutes; the warmkeeper Lambda sleeps it (the app's own sleep is decided apart)."
            )
            rule_description = (
                f"{settings.stack_name}: {name} idle alarm state changes to the warmkeeper Lambda"
            )
        self.alarm = cloudwatch.Alarm(
            self,
            "Alarm",
            alarm_name=alarm_name,
            alarm_description=description,
            metric=requests,
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=idle_minutes,
            datapoints_to_alarm=idle_minutes,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        self.rule = events.Rule(
            self,
            "AlarmStateChange",
            description=rule_description,
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[self.alarm.alarm_arn],
            ),
            # A lost event is repaired by the next reconcile; two retries cover a throttled Lambda.
            targets=[events_targets.LambdaFunction(function, retry_attempts=2)],
        )
