"""Internal services (`[[services]]` in the config): one ECS service each, reached from the app's tasks only.

Each internal service gets:

- its own Fargate task definition (its size, architecture and containers; containers of the task that
  declare the same writable path share one volume, so an init container can fill it for the next);
- its own ECS service, on Fargate or Fargate Spot as its settings say, with no desired count in the
  template (like the app's: the waker owns the count, so a deploy never wakes nor stops it);
- a Cloud Map A record per healthy task (`<service>.<namespace>`, ECS's custom health status): the
  app's tasks resolve that name, and at zero tasks it has no address;
- a security group that admits its port from the app's tasks' security group and from nothing else,
  and lets out what the app's tasks may (HTTPS, DNS, the config's `task_egress`); no listener, route or
  integration of the front door ever points at it;
- a task role that may read the S3 locations of its `read_s3`, and nothing else;
- a CloudWatch Logs metric filter on its entry container's log group: every line it writes is one
  data point of its activity metric (a metric name of its own in the waker's namespace, no dimension);
- with scale-to-zero, an idle alarm on that metric whose state changes reach the waker, like the app's.

The app's containers get the caller variables (`WARMKEEPER_<S>_HOST` and `_PORT`, the waker's
function URL, the wake secret as an ECS secret) once the waker exists: :meth:`InternalServices.connect`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from warmkeeper.aws.lambda_settings import InternalService
from warmkeeper.aws.metrics import METRICS_NAMESPACE
from warmkeeper.config import ServiceSettings, parse_s3_location
from warmkeeper.infra.cloud_map import namespace_name
from warmkeeper.infra.idle import IdleDetector
from warmkeeper.infra.repositories import Images
from warmkeeper.infra.service import (
    CLOUD_MAP_DNS_TTL_SECONDS,
    AppService,
    add_task_containers,
    allow_task_egress,
    fargate_task_definition,
    suppress_execution_role_findings,
)
from warmkeeper.infra.stack_settings import StackSettings
from warmkeeper.naming import (
    pascal,
    service_host_variable,
    service_port_variable,
)


def activity_metric_name(settings: StackSettings, service: str) -> str:
    """`cityguided-staging-osrm-Requests`: unique per app, environment and service, so a metric with
    no dimension in the shared namespace belongs to one service only."""
    return f"{settings.resource_prefix}-{service}-Requests"


def idle_alarm_name(settings: StackSettings, service: str) -> str:
    """`Cityguided-staging-osrm-idle`: under the stack's name, like every alarm of the stack."""
    return f"{settings.stack_name}-{service}-idle"


def s3_read_statements(locations: list[str]) -> list[iam.PolicyStatement]:
    """List and read these `s3://bucket[/prefix]` locations (the config checked them), nothing else."""
    statements: list[iam.PolicyStatement] = []
    for uri in locations:
        bucket, prefix = parse_s3_location(uri)
        objects = f"arn:aws:s3:::{bucket}/{prefix}/*" if prefix else f"arn:aws:s3:::{bucket}/*"
        statements.append(iam.PolicyStatement(actions=["s3:GetObject"], resources=[objects]))
        statements.append(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[f"arn:aws:s3:::{bucket}"],
                conditions={"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}} if prefix else None,
            )
        )
    return statements


class InternalEcsService(Construct):
    """One internal service: its task definition, security group, ECS service, discovery and activity."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        name: str,
        cluster: ecs.ICluster,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        images: Images,
        namespace: servicediscovery.INamespace,
        app_security_group: ec2.ISecurityGroup,
    ) -> None:
        super().__init__(scope, construct_id)
        config = settings.config.service(name)
        service_settings: ServiceSettings = settings.config.service_settings(name, settings.env_name)
        self.name = name
        self.service_settings = service_settings
        self.port = config.port
        self.dns_name = f"{name}.{namespace_name(settings)}"
        self.activity_metric_name = activity_metric_name(settings, name)
        self.idle_alarm_name = idle_alarm_name(settings, name) if service_settings.scale_to_zero else None
        self.task_definition = fargate_task_definition(
            self,
            family=f"{settings.resource_prefix}-{name}",
            cpu=service_settings.cpu,
            memory=service_settings.memory,
            architecture=service_settings.architecture,
        )
        self.task_containers = add_task_containers(
            self,
            self.task_definition,
            settings,
            config.containers,
            images,
            runs_to_completion=config.runs_to_completion,
            environment=lambda container: dict(container.environment),
        )
        suppress_execution_role_findings(self.task_definition)
        if config.read_s3:
            for statement in s3_read_statements(config.read_s3):
                self.task_definition.add_to_task_role_policy(statement)
            NagSuppressions.add_resource_suppressions(
                self.task_definition.task_role,
                [
                    NagPackSuppression(
                        id="AwsSolutions-IAM5",
                        reason=(
                            f"The task reads the objects under the S3 locations its config lists "
                            f"(read_s3: {', '.join(config.read_s3)}); their keys are not known in "
                            "advance (a new dataset is a new prefix), so the grant ends in /*, for "
                            "s3:GetObject only."
                        ),
                        applies_to=[
                            f"Resource::{statement.resources[0]}"
                            for statement in s3_read_statements(config.read_s3)
                            if statement.resources[0].endswith("/*")
                        ],
                    ),
                ],
                apply_to_children=True,
            )

        # In: the entry port, from the app's tasks alone. Out: as the app's tasks (HTTPS for image
        # pulls, logs, S3 and AWS APIs over the public address; DNS; what the config adds).
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description=f"{settings.stack_name} {name}: in from the app tasks only; out to HTTPS and DNS",
        )
        allow_task_egress(self.security_group, vpc, settings.env)
        # Rules of their own (not inline): each group then names the other without a cycle.
        ec2.CfnSecurityGroupIngress(
            self,
            "FromAppTasks",
            group_id=self.security_group.security_group_id,
            source_security_group_id=app_security_group.security_group_id,
            ip_protocol="tcp",
            from_port=self.port,
            to_port=self.port,
            description=f"From the {settings.app_name} tasks only",
        )
        ec2.CfnSecurityGroupEgress(
            self,
            "AppTasksTo",
            group_id=app_security_group.security_group_id,
            destination_security_group_id=self.security_group.security_group_id,
            ip_protocol="tcp",
            from_port=self.port,
            to_port=self.port,
            description=f"To the internal service {name}",
        )

        entry = config.entry_container
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=self.task_definition,
            # No desired_count: CloudFormation would set it again on every update of the service
            # (containers-roadmap#493); the waker and the reconcile own it. Created at one task (the
            # default on create), the service sleeps after its idle time like any other.
            assign_public_ip=True,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            capacity_provider_strategies=[
                ecs.CapacityProviderStrategy(
                    capacity_provider="FARGATE_SPOT" if service_settings.spot else "FARGATE", weight=1
                )
            ],
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100,
            max_healthy_percent=200,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
            enable_ecs_managed_tags=True,
            # A records (the task's address) with ECS's custom health status: the name resolves to
            # healthy tasks only, and to nothing at zero tasks, which the caller's Caddy reads as "wake".
            cloud_map_options=ecs.CloudMapOptions(
                cloud_map_namespace=namespace,
                name=name,
                dns_record_type=servicediscovery.DnsRecordType.A,
                dns_ttl=Duration.seconds(CLOUD_MAP_DNS_TTL_SECONDS),
                failure_threshold=1,
            ),
        )
        cloud_map_service = self.service.cloud_map_service
        assert cloud_map_service is not None  # registered in the namespace given above
        self.cloud_map_service = cloud_map_service

        # Activity: one data point per line the entry container writes (osrm-routed writes one per
        # request once loaded). A line-free minute publishes nothing: the idle alarm counts it as idle.
        self.entry_log_group = self.task_containers.log_groups[entry.name]
        logs.MetricFilter(
            self,
            "Activity",
            log_group=self.entry_log_group,
            metric_namespace=METRICS_NAMESPACE,
            metric_name=self.activity_metric_name,
            filter_pattern=logs.FilterPattern.all_events(),
            metric_value="1",
            unit=cloudwatch.Unit.COUNT,
        )

    def activity(self, statistic: str = "Sum", label: str | None = None) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=self.activity_metric_name,
            statistic=statistic,
            period=Duration.minutes(1),
            label=label,
        )

    def lambda_settings(self, settings: StackSettings) -> InternalService:
        """Its item of the waker's WK_INTERNAL_SERVICES."""
        return InternalService(
            name=self.name,
            service=self.service.service_name,
            policy=settings.config.service_policy(self.name, settings.env_name),
            cloud_map_service_id=self.cloud_map_service.service_id,
            idle_alarm_name=self.idle_alarm_name,
            activity_metric=self.activity_metric_name,
            wake_with=tuple(settings.config.wakes_with(self.name)),
            first_wake_seconds=float(settings.config.service(self.name).first_wake_seconds),
        )


@dataclass(frozen=True)
class WakerEndpoint:
    """What the app's containers need of the waker to wake an internal service."""

    url: str  # the function URL
    secret: secretsmanager.ISecret  # the wake secret the caller sends


class InternalServices(Construct):
    """Every internal service of the app, and what connects them to the app's tasks and to the waker."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        cluster: ecs.ICluster,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        images: Images,
        namespace: servicediscovery.INamespace,
        app_service: AppService,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.services = [
            InternalEcsService(
                self,
                pascal(service.name),
                settings=settings,
                name=service.name,
                cluster=cluster,
                vpc=vpc,
                subnets=subnets,
                images=images,
                namespace=namespace,
                app_security_group=app_service.security_group,
            )
            for service in settings.config.services
        ]
        for internal in self.services:
            # Created after the cluster's capacity-provider association, deleted before it (as the app's).
            internal.service.node.add_dependency(cluster)
        self._app_service = app_service

    def lambda_settings(self) -> tuple[InternalService, ...]:
        return tuple(internal.lambda_settings(self.settings) for internal in self.services)

    def connect(self, waker: WakerEndpoint, function: lambda_.IFunction) -> None:
        """The app's containers get the caller variables (each service's address; the waker's URL and
        secret come from :meth:`AppService.reach_waker`); each scale-to-zero service's idle alarm goes
        to the waker."""
        for definition in self._app_service.containers.values():
            for internal in self.services:
                definition.add_environment(service_host_variable(internal.name), internal.dns_name)
                definition.add_environment(service_port_variable(internal.name), str(internal.port))
        for internal in self.services:
            if internal.idle_alarm_name is None:
                continue
            IdleDetector(
                internal,
                "Idle",
                settings=self.settings,
                requests=internal.activity(),
                function=function,
                internal_service=(
                    internal.name,
                    internal.idle_alarm_name,
                    internal.service_settings.idle_minutes,
                ),
            )
