"""The Fargate task definition, the ECS service, the images and the cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import API_DIGEST, DATABASE_SECRET_ARN, IMAGE_TAG, MAPS_KEY_PARAMETER_ARN, WEB_IMAGE
from tests.infra.support import SynthesizedEnv, as_list, flatten_join, get_att, ref
from warmkeeper.naming import BEACON_VARIABLE, WAKE_SECRET_VARIABLE, WAKER_URL_VARIABLE

pytestmark = pytest.mark.infra


def _containers(synth: SynthesizedEnv) -> dict[str, dict[str, Any]]:
    _, task = synth.only("AWS::ECS::TaskDefinition")
    return {definition["Name"]: definition for definition in task["ContainerDefinitions"]}


def test_service_has_no_desired_count(any_env: SynthesizedEnv) -> None:
    _, service = any_env.only("AWS::ECS::Service")
    assert "DesiredCount" not in service


def test_rolling_deploy_is_safe(any_env: SynthesizedEnv) -> None:
    from aws_cdk.assertions import Match

    any_env.template.has_resource_properties(
        "AWS::ECS::Service",
        {
            "DeploymentConfiguration": Match.object_like(
                {
                    "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
                    "MinimumHealthyPercent": 100,
                    "MaximumPercent": 200,
                }
            ),
            "HealthCheckGracePeriodSeconds": Match.any_value(),
        },
    )
    _, service = any_env.only("AWS::ECS::Service")
    assert 0 < service["HealthCheckGracePeriodSeconds"] <= 120


def test_spot_only_where_configured(staging: SynthesizedEnv, production: SynthesizedEnv) -> None:
    assert staging.settings.spot and not production.settings.spot
    assert staging.only("AWS::ECS::Service")[1]["CapacityProviderStrategy"] == [
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 1}
    ]
    production_service = production.only("AWS::ECS::Service")[1]
    assert production_service["CapacityProviderStrategy"] == [{"CapacityProvider": "FARGATE", "Weight": 1}]
    assert "LaunchType" not in production_service
    _, associations = staging.only("AWS::ECS::ClusterCapacityProviderAssociations")
    assert set(associations["CapacityProviders"]) == {"FARGATE", "FARGATE_SPOT"}


def test_tasks_run_in_public_subnets_with_a_public_ip(any_env: SynthesizedEnv) -> None:
    _, service = any_env.only("AWS::ECS::Service")
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "ENABLED"
    public_subnets = {
        logical_id
        for logical_id, subnet in any_env.resources("AWS::EC2::Subnet").items()
        if subnet["Properties"]["MapPublicIpOnLaunch"] is True
    }
    assert {subnet["Ref"] for subnet in network["Subnets"]} == public_subnets
    assert len(public_subnets) == 2
    task_security_group = any_env.logical_id("App/TaskSecurityGroup")
    assert network["SecurityGroups"] == [get_att(task_security_group, "GroupId")]


def test_service_joins_the_target_group_through_the_entry_container(any_env: SynthesizedEnv) -> None:
    _, service = any_env.only("AWS::ECS::Service")
    entry = any_env.config.entry_container
    assert service["LoadBalancers"] == [
        {
            "ContainerName": entry.name,
            "ContainerPort": entry.port,
            "TargetGroupArn": ref(any_env.logical_id("Ingress/ServiceTargetGroup")),
        }
    ]


def test_service_is_tagged_with_app_and_env(any_env: SynthesizedEnv) -> None:
    _, service = any_env.only("AWS::ECS::Service")
    tags = {tag["Key"]: tag["Value"] for tag in service["Tags"]}
    assert tags["warmkeeper:app"] == "cityguided"
    assert tags["warmkeeper:env"] == any_env.env_name
    assert service["PropagateTags"] == "SERVICE"


def test_task_size_and_architecture_follow_the_config(any_env: SynthesizedEnv) -> None:
    _, task = any_env.only("AWS::ECS::TaskDefinition")
    settings = any_env.settings
    assert task["Cpu"] == str(settings.cpu)
    assert task["Memory"] == str(settings.memory)
    assert task["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["NetworkMode"] == "awsvpc"


def test_production_task_is_bigger_than_staging(staging: SynthesizedEnv, production: SynthesizedEnv) -> None:
    # The example sizes production at 512/1024 and staging at 256/512: a regression test of the overlay.
    assert staging.only("AWS::ECS::TaskDefinition")[1]["Cpu"] == "256"
    assert production.only("AWS::ECS::TaskDefinition")[1]["Memory"] == "1024"


def test_containers_follow_the_config(any_env: SynthesizedEnv) -> None:
    containers = _containers(any_env)
    assert set(containers) == {container.name for container in any_env.config.containers}
    for container in any_env.config.containers:
        definition = containers[container.name]
        assert definition["Essential"] is True
        assert definition["PortMappings"][0]["ContainerPort"] == container.port
        assert definition["StopTimeout"] == container.stop_timeout_seconds
        assert definition.get("Cpu", 0) == container.cpu
        assert definition.get("MemoryReservation", 0) == container.memory
        environment = {item["Name"]: item["Value"] for item in definition.get("Environment", [])}
        # With scale-to-zero, warmkeeper adds the waker's function URL (the activity beacon).
        waker = environment.pop(WAKER_URL_VARIABLE, None)
        assert (waker is not None) == any_env.settings.scale_to_zero
        beacon = environment.pop(BEACON_VARIABLE, None)
        assert beacon == ("on" if container.entry and any_env.settings.scale_to_zero else None)
        assert environment == container.environment
        health = container.health
        assert health.command is not None
        assert definition["HealthCheck"] == {
            "Command": health.command,
            "Interval": health.interval_seconds,
            "Timeout": health.timeout_seconds,
            "Retries": health.retries,
            "StartPeriod": health.start_period_seconds,
        }


def test_caddy_starts_with_the_api_and_the_web(any_env: SynthesizedEnv) -> None:
    # The example's dependency_conditions: START, not the default HEALTHY of a dependency with a health
    # check (a wake one health-check interval shorter); Caddy's /healthz waits for both instead.
    caddy = _containers(any_env)["caddy"]
    assert sorted(caddy["DependsOn"], key=lambda item: item["ContainerName"]) == [
        {"Condition": "START", "ContainerName": "api"},
        {"Condition": "START", "ContainerName": "web"},
    ]
    assert "DependsOn" not in _containers(any_env)["api"]


def test_one_log_group_per_container_with_the_configured_retention(any_env: SynthesizedEnv) -> None:
    log_groups = any_env.resources("AWS::Logs::LogGroup")
    used = set()
    for name, definition in _containers(any_env).items():
        log_configuration = definition["LogConfiguration"]
        assert log_configuration["LogDriver"] == "awslogs"
        group = log_configuration["Options"]["awslogs-group"]["Ref"]
        assert group not in used, "two containers share a log group"
        used.add(group)
        properties = log_groups[group]["Properties"]
        assert properties["LogGroupName"] == f"/warmkeeper/cityguided/{any_env.env_name}/{name}"
        assert properties["RetentionInDays"] == any_env.settings.log_retention_days
    # Every log group of the stack (flow logs, the Lambda) has a retention: none grows forever.
    assert all("RetentionInDays" in group["Properties"] for group in log_groups.values())


def test_log_retention_differs_per_environment(staging: SynthesizedEnv, production: SynthesizedEnv) -> None:
    assert {
        g["Properties"]["RetentionInDays"] for g in staging.resources("AWS::Logs::LogGroup").values()
    } == {7}
    assert {
        g["Properties"]["RetentionInDays"] for g in production.resources("AWS::Logs::LogGroup").values()
    } == {30}
    # Production keeps its logs when the stack is deleted; staging does not.
    assert {g["DeletionPolicy"] for g in production.resources("AWS::Logs::LogGroup").values()} == {"Retain"}
    assert {g["DeletionPolicy"] for g in staging.resources("AWS::Logs::LogGroup").values()} == {"Delete"}


def _repository_names(synth: SynthesizedEnv) -> set[str]:
    return {r["Properties"]["RepositoryName"] for r in synth.resources("AWS::ECR::Repository").values()}


def test_repositories_live_in_the_images_stack(any_env: SynthesizedEnv) -> None:
    assert any_env.images is not None
    built = {c.name for c in any_env.config.containers if c.build is not None}
    assert _repository_names(any_env.images) == {f"cityguided-{any_env.env_name}/{name}" for name in built}
    # The service stack owns none, and imports nothing through exports (no deletion or change lock).
    assert any_env.resources("AWS::ECR::Repository") == {}
    assert "Fn::ImportValue" not in json.dumps(any_env.raw)
    # ...but `cdk deploy --all` still deploys the repositories first.
    assert any_env.images.stack in any_env.stack.dependencies


def test_built_images_come_from_ecr_with_the_image_tag(staging: SynthesizedEnv) -> None:
    containers = _containers(staging)
    for name in ("caddy", "api", "web"):
        assert flatten_join(containers[name]["Image"]) == (
            f"<TOKEN>.dkr.ecr.eu-west-3.<TOKEN>/cityguided-staging/{name}:latest"
        )


def test_a_digest_pins_its_image_and_the_others_keep_the_tag(https_staging: SynthesizedEnv) -> None:
    containers = _containers(https_staging)
    # ecs.ContainerImage.from_ecr_repository(repo, "sha256:...") gives <uri>@sha256:..., a tag <uri>:tag.
    assert flatten_join(containers["api"]["Image"]).endswith(f"/cityguided-staging/api@{API_DIGEST}")
    assert flatten_join(containers["caddy"]["Image"]).endswith(f"/cityguided-staging/caddy:{IMAGE_TAG}")


def test_a_configured_image_is_used_as_is(https_staging: SynthesizedEnv) -> None:
    assert _containers(https_staging)["web"]["Image"] == WEB_IMAGE
    assert https_staging.images is not None
    assert _repository_names(https_staging.images) == {"cityguided-staging/caddy", "cityguided-staging/api"}


def test_tasks_pull_only_from_the_environments_repositories(any_env: SynthesizedEnv) -> None:
    execution_role = any_env.logical_id("App/TaskDefinition/ExecutionRole")
    pulled: set[str] = set()
    for policy in any_env.resources("AWS::IAM::Policy").values():
        if ref(execution_role) not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "ecr:BatchGetImage" in as_list(statement["Action"]):
                pulled.update(flatten_join(resource) for resource in as_list(statement["Resource"]))
    built = {c.name for c in any_env.config.containers if c.build is not None}
    assert pulled == {
        f"arn:<TOKEN>:ecr:eu-west-3:<TOKEN>:repository/cityguided-{any_env.env_name}/{name}" for name in built
    }


def test_repositories_scan_and_expire_images(images_stack: SynthesizedEnv) -> None:
    repositories = images_stack.resources("AWS::ECR::Repository")
    assert repositories
    for repository in repositories.values():
        properties = repository["Properties"]
        assert properties["ImageScanningConfiguration"] == {"ScanOnPush": True}
        rules = json.loads(properties["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
        assert {rule["selection"]["tagStatus"] for rule in rules} == {"untagged", "any"}
        assert any(rule["selection"].get("countType") == "imageCountMoreThan" for rule in rules)
        # Deleting or replacing the stack must not delete released images.
        assert (repository["DeletionPolicy"], repository["UpdateReplacePolicy"]) == ("Retain", "Retain")
        assert {"Key": "warmkeeper:env", "Value": images_stack.env_name} in properties["Tags"]


def test_secrets_are_references_read_by_the_execution_role(https_staging: SynthesizedEnv) -> None:
    api = _containers(https_staging)["api"]
    assert api["Secrets"] == [
        {"Name": "DATABASE_URL", "ValueFrom": DATABASE_SECRET_ARN},
        {"Name": "MAPS_KEY", "ValueFrom": MAPS_KEY_PARAMETER_ARN},
        # warmkeeper's own: the wake secret the activity beacon sends (scale-to-zero).
        {"Name": WAKE_SECRET_VARIABLE, "ValueFrom": ref(https_staging.logical_id("Waker/WakeSecret"))},
    ]
    granted: dict[str, set[str]] = {}
    execution_role = https_staging.logical_id("App/TaskDefinition/ExecutionRole")
    for policy in https_staging.resources("AWS::IAM::Policy").values():
        if ref(execution_role) not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for resource in resources:
                if isinstance(resource, str):
                    granted.setdefault(resource, set()).update(actions)
    assert "secretsmanager:GetSecretValue" in granted[DATABASE_SECRET_ARN]
    assert "ssm:GetParameters" in granted[MAPS_KEY_PARAMETER_ARN]


def test_a_watched_cluster_has_container_insights(any_env: SynthesizedEnv) -> None:
    # Every variant here is watched (a dashboard or an alarm e-mail): its dashboard reads them.
    assert any_env.settings.is_watched
    _, cluster = any_env.only("AWS::ECS::Cluster")
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["ClusterSettings"]


def test_containers_run_read_only_with_every_capability_dropped(every_front_door: SynthesizedEnv) -> None:
    _, task = every_front_door.only("AWS::ECS::TaskDefinition")
    volumes = {volume["Name"] for volume in task.get("Volumes", [])}
    for definition in task["ContainerDefinitions"]:
        container = every_front_door.config.container(definition["Name"])
        assert definition["ReadonlyRootFilesystem"] is container.read_only_root is True
        assert definition["LinuxParameters"]["Capabilities"]["Drop"] == ["ALL"]
        assert "Add" not in definition["LinuxParameters"]["Capabilities"]
        # What the config declares writable gets a volume of the task's own storage, and nothing else.
        mounts = {m["ContainerPath"]: m for m in definition.get("MountPoints", [])}
        assert set(mounts) == set(container.writable_paths)
        for mount in mounts.values():
            assert mount["ReadOnly"] is False and mount["SourceVolume"] in volumes
    caddy = next(d for d in task["ContainerDefinitions"] if d["Name"] == "caddy")
    assert [m["ContainerPath"] for m in caddy["MountPoints"]] == ["/tmp"]


def test_tasks_may_open_https_and_dns_only(every_front_door: SynthesizedEnv) -> None:
    group = every_front_door.properties(every_front_door.logical_id("App/TaskSecurityGroup"))
    egress = {
        (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], json.dumps(rule.get("CidrIp"), sort_keys=True))
        for rule in group["SecurityGroupEgress"]
    }
    vpc_cidr = json.dumps(get_att(every_front_door.logical_id("Network/Vpc"), "CidrBlock"), sort_keys=True)
    assert egress == {
        ("tcp", 443, 443, '"0.0.0.0/0"'),
        ("udp", 53, 53, vpc_cidr),
        ("tcp", 53, 53, vpc_cidr),
    }
    assert all(rule["IpProtocol"] != "-1" for rule in group["SecurityGroupEgress"])


@pytest.mark.parametrize(
    ("door", "header"),
    [
        ("load_balancer", "X-Forwarded-For"),
        ("cloudfront", "X-Forwarded-For"),
        ("http_api", "X-Warmkeeper-Client-Ip"),
    ],
)
def test_a_private_environment_gives_the_entry_container_its_ranges(door: str, header: str) -> None:
    """The task definition's variables behind each front door (no synthesis: the same function the
    construct calls; test_http_api.py checks them in a synthesized template). Behind a load balancer,
    with or without CloudFront, the client's address is the X-Forwarded-For entry before the hops in
    the VPC; behind an HTTP API, the header its integration overwrites."""
    import tomllib

    from tests.conftest import EXAMPLE_CONFIG
    from tests.infra.conftest import CERTIFICATE_ARN, DOMAIN
    from warmkeeper.config import parse_config
    from warmkeeper.infra.network import VPC_CIDR
    from warmkeeper.infra.service import AppService
    from warmkeeper.infra.stack_settings import StackSettings

    data = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["environments"]["staging"].update(
        front_door=door, wake_allowed_from=["203.0.113.0/24", "2001:db8::/32"]
    )
    if door == "load_balancer":
        data["environments"]["staging"].update(domain=DOMAIN, certificate_arn=CERTIFICATE_ARN)
    config = parse_config(data, EXAMPLE_CONFIG.resolve())
    settings = StackSettings.create(config, "staging")
    for container in config.containers:
        environment = AppService._environment(settings, container)
        private = {name: value for name, value in environment.items() if name.startswith("WARMKEEPER_")}
        private.pop("WARMKEEPER_DRAIN_SECONDS", None)
        expected = {
            "WARMKEEPER_ALLOWED_FROM": "203.0.113.0/24 2001:db8::/32",
            "WARMKEEPER_TRUSTED_PROXIES": VPC_CIDR,
            "WARMKEEPER_CLIENT_IP_HEADER": header,
        }
        assert private == (expected if container.entry else {})
