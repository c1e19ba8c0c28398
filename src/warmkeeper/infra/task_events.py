"""Stopping tasks of the service go to the Lambda at once (a Fargate Spot interruption).

When Fargate Spot takes the only task back, ECS sends an "ECS Task State Change" with the
two-minute warning (desiredStatus STOPPED), then STOPPING and STOPPED. Without this rule the warm
route keeps forwarding to a target group with no healthy target until the next one-minute
reconcile, and clients get the load balancer's own 503. With it the Lambda reconciles within
seconds, counting only targets of tasks ECS still wants, and takes the warm route away.
"""

from __future__ import annotations

from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from warmkeeper.infra.stack_settings import StackSettings

TASK_STATE_CHANGE = "ECS Task State Change"


class TaskStopEvents(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        cluster: ecs.ICluster,
        service: ecs.IService,
        function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "TaskStopping",
            description=f"{settings.stack_name}: the service's stopping tasks to the warmkeeper Lambda",
            event_pattern=events.EventPattern(
                source=["aws.ecs"],
                detail_type=[TASK_STATE_CHANGE],
                detail={
                    "clusterArn": [cluster.cluster_arn],
                    "group": [f"service:{service.service_name}"],
                    # Only stops matter to the warm route; starts would only cost invocations.
                    "$or": [{"lastStatus": ["STOPPING", "STOPPED"]}, {"desiredStatus": ["STOPPED"]}],
                },
            ),
            # A lost event is repaired by the next reconcile; two retries cover a throttled Lambda.
            targets=[events_targets.LambdaFunction(function, retry_attempts=2)],
        )
