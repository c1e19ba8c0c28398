"""The ECS cluster: Fargate and Fargate Spot capacity providers, CloudWatch Container Insights where
the environment is watched.

The capacity providers reach the cluster through a separate resource
(AWS::ECS::ClusterCapacityProviderAssociations). A service whose strategy names FARGATE_SPOT must be
created after it and deleted before it, or ECS refuses the strategy on create and the association's
delete hangs on the service (aws/containers-roadmap#631). CDK adds that resource under the cluster
construct only at synthesis (an aspect), so the service depends on the whole cluster construct,
which then includes it.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from warmkeeper.infra.scan_skips import REASONS, skip_checks
from warmkeeper.infra.stack_settings import StackSettings


class Cluster(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StackSettings, vpc: ec2.IVpc
    ) -> None:
        super().__init__(scope, construct_id)
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name=settings.resource_prefix,
            vpc=vpc,
            # Per-task CPU, memory and task counts: the dashboard and the tasks-short alarms read them, so
            # they are on where the environment is watched; elsewhere they would be the largest line of a
            # sleeping environment's bill for charts nobody opens (`warmkeeper status` answers for free).
            container_insights_v2=(
                ecs.ContainerInsights.ENABLED
                if settings.env.has_container_insights
                else ecs.ContainerInsights.DISABLED
            ),
            enable_fargate_capacity_providers=True,
        )
        if not settings.env.has_container_insights:
            NagSuppressions.add_resource_suppressions(
                self.cluster, [NagPackSuppression(id="AwsSolutions-ECS4", reason=REASONS["CKV_AWS_65"])]
            )
            skip_checks(self.cluster, "CKV_AWS_65")
