"""The Fargate task definition (one container per configured container) and the ECS service.

How a task's containers are built from the config (`add_task_containers`: logs, health checks,
secrets, dependencies, writable volumes) is shared with the internal services
(:mod:`warmkeeper.infra.internal_service`).

The service has no desired count in the template: the count belongs to whoever runs the service (the
warmkeeper Lambda in a scale-to-zero environment, autoscaling in production), so a deploy never
changes how many tasks run. A cold service stays cold after a deploy; a warm one rolls.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from aws_cdk import aws_ssm as ssm
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from warmkeeper.config import (
    DRAIN_ENVIRONMENT_VARIABLE,
    HTTP_API_CLIENT_IP_HEADER,
    Container,
    EnvironmentSettings,
    private_entry_environment,
)
from warmkeeper.infra.log_groups import log_group
from warmkeeper.infra.network import VPC_CIDR
from warmkeeper.infra.repositories import Images
from warmkeeper.infra.stack_settings import StackSettings
from warmkeeper.naming import BEACON_VARIABLE, WAKE_SECRET_VARIABLE, WAKER_URL_VARIABLE, pascal

# ECS ignores the load balancer's verdict this long after a task starts: long enough for the
# dependency chain (api and web healthy, then caddy) to come up, short enough to replace a task
# that never will.
HEALTH_CHECK_GRACE_SECONDS = 60
# The SRV records' TTL. API Gateway discovers instances through the Cloud Map API, not DNS, so this only
# bounds how long a DNS client in the VPC would keep a stopped task's record.
CLOUD_MAP_DNS_TTL_SECONDS = 10
# A complete Secrets Manager ARN ends with the 6-character suffix Secrets Manager appends to the name.
# The config's dependency conditions as ECS names them.
_CONDITIONS = {
    "start": ecs.ContainerDependencyCondition.START,
    "healthy": ecs.ContainerDependencyCondition.HEALTHY,
    "complete": ecs.ContainerDependencyCondition.COMPLETE,
    "success": ecs.ContainerDependencyCondition.SUCCESS,
}
_COMPLETE_SECRET_ARN = re.compile(r"^arn:[^:]+:secretsmanager:[^:]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$")


def fargate_task_definition(
    scope: Construct, *, family: str, cpu: int, memory: int, architecture: str
) -> ecs.FargateTaskDefinition:
    """A task definition of the app's or of an internal service: its size and CPU architecture, Linux,
    and why cdk-nag's finding on its environment variables is accepted."""
    task_definition = ecs.FargateTaskDefinition(
        scope,
        "TaskDefinition",
        family=family,
        cpu=cpu,
        memory_limit_mib=memory,
        runtime_platform=ecs.RuntimePlatform(
            cpu_architecture=(
                ecs.CpuArchitecture.ARM64 if architecture == "arm64" else ecs.CpuArchitecture.X86_64
            ),
            operating_system_family=ecs.OperatingSystemFamily.LINUX,
        ),
    )
    NagSuppressions.add_resource_suppressions(
        task_definition,
        [
            NagPackSuppression(
                id="AwsSolutions-ECS2",
                reason=(
                    "Environment variables carry only non-secret configuration (upstream addresses, "
                    "ports, file paths) from warmkeeper.toml. Secrets cannot be set there: the config "
                    "accepts only Secrets Manager or SSM parameter ARNs under `secrets`, and those "
                    "reach the containers through ECS `secrets` (valueFrom), never as values."
                ),
            ),
        ],
    )
    return task_definition


def allow_task_egress(security_group: ec2.SecurityGroup, vpc: ec2.IVpc, env: EnvironmentSettings) -> None:
    """What every task of the app may reach, the app's and each internal service's alike: HTTPS (image
    pulls, logs, secrets, S3 and AWS APIs, over the public address: no NAT, no VPC endpoint), DNS to the
    VPC's resolver (security groups do not filter the Amazon-provided DNS server, but a resolver at the
    VPC's base + 2 is named for clarity), and what the config adds (`task_egress`)."""
    security_group.add_egress_rule(
        ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: image pulls, logs, secrets, AWS APIs"
    )
    for port in (ec2.Port.udp(53), ec2.Port.tcp(53)):
        security_group.add_egress_rule(ec2.Peer.ipv4(vpc.vpc_cidr_block), port, "DNS, the VPC resolver")
    for rule in env.task_egress:
        port = ec2.Port.tcp(rule.port) if rule.protocol == "tcp" else ec2.Port.udp(rule.port)
        security_group.add_egress_rule(
            ec2.Peer.ipv4(rule.cidr), port, rule.description or "declared in the config (task_egress)"
        )


class AppService(Construct):
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
        target_group: elbv2.ApplicationTargetGroup | None = None,
        cloud_map_namespace: servicediscovery.INamespace | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        env = settings.env
        self.task_definition = fargate_task_definition(
            self,
            family=settings.resource_prefix,
            cpu=env.cpu,
            memory=env.memory,
            architecture=env.architecture,
        )
        self.task_containers = add_task_containers(
            self,
            self.task_definition,
            settings,
            settings.config.containers,
            images,
            runs_to_completion=settings.config.runs_to_completion,
            environment=lambda container: self._environment(settings, container),
        )
        self.containers = self.task_containers.definitions
        self.service_name = settings.app_name
        self._entry_name = settings.entry_container.name
        self._beacon = settings.env.scale_to_zero
        suppress_execution_role_findings(self.task_definition)

        # Tasks have a public IP (no NAT gateway) but accept traffic from the front door only: the one
        # ingress rule is added when the service joins the target group below, or, with an HTTP API,
        # by the front door for its VPC link's security group.
        front = "the load balancer" if settings.env.load_balancer else "the HTTP API VPC link"
        self.security_group = ec2.SecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description=f"{settings.stack_name} tasks: in from {front} only; out to HTTPS and DNS",
        )
        allow_task_egress(self.security_group, vpc, env)
        entry = settings.entry_container
        capacity_provider = "FARGATE_SPOT" if env.spot else "FARGATE"
        self.service = ecs.FargateService(
            self,
            "Service",
            # Named: the waker's environment names the service as a plain string, since the app's
            # containers carry the waker's function URL (the activity beacon, internal wakes) and a
            # reference to the service would close a cycle (service -> task definition -> URL ->
            # function -> service). The name is unique in the environment's own cluster.
            service_name=settings.app_name,
            cluster=cluster,
            task_definition=self.task_definition,
            # No desired_count: see the module docstring.
            assign_public_ip=True,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            # Always a capacity provider strategy (never a launch type), so turning Spot on or off
            # updates the service instead of replacing it.
            capacity_provider_strategies=[
                ecs.CapacityProviderStrategy(capacity_provider=capacity_provider, weight=1)
            ],
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100,
            max_healthy_percent=200,
            health_check_grace_period=Duration.seconds(HEALTH_CHECK_GRACE_SECONDS),
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
            enable_ecs_managed_tags=True,
            # The HTTP API front door: each task's entry container registered in Cloud Map with an SRV
            # record (address and port, which API Gateway needs) and ECS's custom health status, so
            # only tasks ECS finds healthy are discovered. See warmkeeper.infra.cloud_map.
            cloud_map_options=ecs.CloudMapOptions(
                cloud_map_namespace=cloud_map_namespace,
                name=settings.app_name,
                dns_record_type=servicediscovery.DnsRecordType.SRV,
                dns_ttl=Duration.seconds(CLOUD_MAP_DNS_TTL_SECONDS),
                container=self.containers[entry.name],
                container_port=entry.port,
                failure_threshold=1,
            )
            if cloud_map_namespace is not None
            else None,
        )
        # Set with an HTTP API front door: the Cloud Map service its VPC-link integration discovers.
        self.cloud_map_service = self.service.cloud_map_service
        if target_group is not None:
            target_group.add_target(
                self.service.load_balancer_target(container_name=entry.name, container_port=entry.port)
            )

    def reach_waker(self, url: str, secret: secretsmanager.ISecret) -> None:
        """Every container of the app's task gets the waker's function URL and the wake secret: a
        caller of an internal service sends its wakes there and, with scale-to-zero, the entry
        container's activity beacon its reports, told to run by BEACON_VARIABLE (the secret is an
        ECS secret, read at task start, never in the template)."""
        for name, definition in self.containers.items():
            definition.add_environment(WAKER_URL_VARIABLE, url)
            definition.add_secret(WAKE_SECRET_VARIABLE, ecs.Secret.from_secrets_manager(secret))
            if self._beacon and name == self._entry_name:
                definition.add_environment(BEACON_VARIABLE, "on")

    @staticmethod
    def _environment(settings: StackSettings, container: Container) -> dict[str, str]:
        """The container's variables; the entry container also gets its drain window when there is one
        (the seconds it keeps accepting requests after SIGTERM: see EnvironmentSettings.drain_seconds)."""
        environment = dict(container.environment)
        window = settings.env.drain_window_seconds
        if container.entry and window > 0:
            environment[DRAIN_ENVIRONMENT_VARIABLE] = str(window)
        if container.entry:
            # A private environment: the entry refuses clients outside the ranges while warm too. Every
            # hop in front of the task is in the VPC (the load balancer, CloudFront's VPC origin, the
            # HTTP API's VPC link), and only those reach it (the task's security group).
            environment |= private_entry_environment(
                settings.env.wake_allowed_from,
                trusted_proxies=[VPC_CIDR],
                client_ip_header=(
                    HTTP_API_CLIENT_IP_HEADER if settings.env.door.http_api else "X-Forwarded-For"
                ),
            )
        return environment


@dataclass(frozen=True)
class TaskContainers:
    """The containers of one task definition, by name, and each one's log group."""

    definitions: dict[str, ecs.ContainerDefinition]
    log_groups: dict[str, logs.LogGroup]


def writable_volumes(containers: Sequence[Container]) -> dict[tuple[str, str], str]:
    """(container, path) -> the task volume mounted there. A path one container declares gets a volume of
    its own (`<container>-writable-<index>`); a path several containers of the task declare gets ONE
    volume they share (`writable-<path>`): what an init container writes there, the next one reads."""
    declared = Counter(path for container in containers for path in container.writable_paths)
    volumes: dict[tuple[str, str], str] = {}
    for container in containers:
        for index, path in enumerate(container.writable_paths):
            shared = "writable-" + re.sub(r"[^A-Za-z0-9_-]", "-", path.strip("/"))
            volumes[container.name, path] = (
                shared if declared[path] > 1 else f"{container.name}-writable-{index}"
            )
    return volumes


def add_task_containers(
    scope: Construct,
    task_definition: ecs.TaskDefinition,
    settings: StackSettings,
    containers: Sequence[Container],
    images: Images,
    *,
    runs_to_completion: Callable[[str], bool],
    environment: Callable[[Container], dict[str, str]],
) -> TaskContainers:
    """One task's containers from the config, in `scope` (their log groups, Linux parameters and secret
    references are its children), with their dependencies and their writable volumes."""
    definitions: dict[str, ecs.ContainerDefinition] = {}
    log_groups: dict[str, logs.LogGroup] = {}
    volumes = writable_volumes(containers)
    added: set[str] = set()
    for container in containers:
        definition, log_groups[container.name] = _add_container(
            scope,
            task_definition,
            settings,
            container,
            images,
            essential=not runs_to_completion(container.name),
            environment=environment(container),
        )
        # What the image must write: an ephemeral bind-mount volume per declared path (the task's own
        # storage, gone with the task). Fargate copies the image's directory (its owner and mode) into
        # the volume when the image declares it as a VOLUME.
        for path in container.writable_paths:
            volume = volumes[container.name, path]
            if volume not in added:
                task_definition.add_volume(name=volume)
                added.add(volume)
            definition.add_mount_points(
                ecs.MountPoint(container_path=path, source_volume=volume, read_only=False)
            )
        definitions[container.name] = definition
    by_name = {container.name: container for container in containers}
    for container in containers:
        for dependency in container.depends_on:
            definitions[container.name].add_container_dependencies(
                ecs.ContainerDependency(
                    container=definitions[dependency],
                    # HEALTHY needs a health check on the dependency; without one, "started" is
                    # the most ECS can know.
                    condition=_CONDITIONS[container.dependency_conditions[dependency]]
                    if dependency in container.dependency_conditions
                    else ecs.ContainerDependencyCondition.HEALTHY
                    if by_name[dependency].health.command
                    else ecs.ContainerDependencyCondition.START,
                )
            )
    return TaskContainers(definitions, log_groups)


def suppress_execution_role_findings(task_definition: ecs.TaskDefinition) -> None:
    # The execution role exists once a container needs it (image pull, logs, secrets).
    NagSuppressions.add_resource_suppressions(
        task_definition.obtain_execution_role(),
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "Task execution role: ecr:GetAuthorizationToken has no resource-level permission "
                    "and needs Resource *; image pulls themselves are limited to this app's ECR "
                    "repositories, logs to its own log groups."
                ),
                applies_to=["Resource::*"],
            ),
        ],
        apply_to_children=True,
    )


def _add_container(
    scope: Construct,
    task_definition: ecs.TaskDefinition,
    settings: StackSettings,
    container: Container,
    images: Images,
    *,
    essential: bool,
    environment: dict[str, str],
) -> tuple[ecs.ContainerDefinition, logs.LogGroup]:
    logs_group = log_group(
        scope,
        f"{pascal(container.name)}Logs",
        settings=settings,
        name=settings.log_group_name(container.name),
    )
    health = container.health
    # Every capability dropped (Fargate's default set included); only what the config adds back.
    linux = ecs.LinuxParameters(scope, f"{pascal(container.name)}Linux")
    linux.drop_capabilities(ecs.Capability.ALL)
    for capability in container.add_capabilities:
        linux.add_capabilities(ecs.Capability(capability))
    definition = task_definition.add_container(
        container.name,
        container_name=container.name,
        image=images.image_for(container),
        # A container another one waits to see exit (a migration) must be allowed to stop.
        essential=essential,
        command=container.command,
        entry_point=container.entrypoint,
        cpu=container.cpu or None,
        # A reservation, not a hard limit: a container may borrow the task's spare memory.
        memory_reservation_mib=container.memory or None,
        port_mappings=[ecs.PortMapping(container_port=container.port, name=container.name)],
        environment=environment or None,
        secrets={
            env_var: _secret(scope, f"{pascal(container.name)}Secret{index}", reference)
            for index, (env_var, reference) in enumerate(sorted(container.secrets.items()))
        }
        or None,
        health_check=ecs.HealthCheck(
            command=list(health.command),
            interval=Duration.seconds(health.interval_seconds),
            timeout=Duration.seconds(health.timeout_seconds),
            retries=health.retries,
            start_period=Duration.seconds(health.start_period_seconds),
        )
        if health.command
        else None,
        logging=ecs.LogDrivers.aws_logs(stream_prefix=container.name, log_group=logs_group),
        # SIGTERM, then this long to finish in-flight requests before SIGKILL.
        stop_timeout=Duration.seconds(container.stop_timeout_seconds),
        readonly_root_filesystem=container.read_only_root,
        linux_parameters=linux,
    )
    return definition, logs_group


def _secret(scope: Construct, construct_id: str, reference: str) -> ecs.Secret:
    """A secret by reference: the execution role may read it; its value never enters the template."""
    if reference.startswith("arn:aws:ssm:"):
        parameter = ssm.StringParameter.from_string_parameter_arn(scope, construct_id, reference)
        return ecs.Secret.from_ssm_parameter(parameter)
    # ECS accepts `<secret arn>:<json key>:<version stage>:<version id>`; keep the key if given.
    parts = reference.split(":")
    secret_arn, field = ":".join(parts[:7]), (parts[7] if len(parts) > 7 and parts[7] else None)
    if _COMPLETE_SECRET_ARN.match(secret_arn):
        secret = secretsmanager.Secret.from_secret_complete_arn(scope, construct_id, secret_arn)
    else:
        secret = secretsmanager.Secret.from_secret_partial_arn(scope, construct_id, secret_arn)
    return ecs.Secret.from_secrets_manager(secret, field)
