"""`warmkeeper status / wake / sleep / keepalive` against moto: names from the stack's outputs."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.aws.conftest import REGION, World
from tests.conftest import EXAMPLE_CONFIG, run_cli
from tests.moto_lambda import create_waker_function
from warmkeeper.aws.lambda_settings import InternalService
from warmkeeper.aws.operations import AwsControl, ControlError, settings_from_outputs
from warmkeeper.cli import app
from warmkeeper.core import Policy
from warmkeeper.core.report import StatusReport

STACK = "Cityguided-staging"  # AppConfig.stack_name("staging") of the example
STATUS_KEYS = {
    "app",
    "env",
    "state",
    "routing",
    "front_door",
    "desired",
    "running",
    "healthy",
    "scale_to_zero",
    "tasks",
    "services",
    "last_wake_at",
    "last_wake_seconds",
    "lease_until",
    "last_activity_at",
    "minutes_until_sleep",
    "deployment_in_progress",
    "url",
    "problems",
    "poll_after_seconds",
    "activity_beacon",
}


def outputs_of(world: World) -> dict[str, str]:
    settings = world.settings
    return {
        "Url": "https://staging.cityguided.example",
        "ClusterName": settings.cluster,
        "ServiceName": settings.service,
        "ListenerArn": settings.listener_arn,
        "ServiceTargetGroupArn": settings.service_target_group_arn,
        "WarmkeeperFunctionName": "Cityguided-staging-warmkeeper",
        "ParameterPrefix": settings.parameter_prefix,
        "KeepaliveSecretArn": world.secret_arn,
        "WarmRulePriority": "10",
        "LoadBalancerDimension": settings.load_balancer_dimension or "",
        "TargetGroupDimension": settings.target_group_dimension or "",
        "IdleAlarmName": settings.idle_alarm_name or "",
        "DashboardName": "Cityguided-staging",
    }


def create_stack(world: World, outputs: dict[str, str]) -> None:
    """A CloudFormation stack in moto whose outputs are `outputs` (as a deploy leaves them)."""
    template = {
        "Resources": {
            "Marker": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": f"/marker/{STACK}", "Type": "String", "Value": "x"},
            }
        },
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    world.clients.cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(template))


@pytest.fixture
def stack(world: World) -> Iterator[World]:
    """The world's resources named by a deployed stack's outputs."""
    create_stack(world, outputs_of(world))
    yield world
    world.clients.cloudformation.delete_stack(StackName=STACK)


@pytest.fixture
def custom_stack(world: World) -> Iterator[Callable[[dict[str, str]], None]]:
    """Deploy the stack with other outputs; deleted after the test."""
    yield lambda outputs: create_stack(world, outputs)
    world.clients.cloudformation.delete_stack(StackName=STACK)


def control(world: World) -> AwsControl:
    return AwsControl.from_stack(
        stack_name=STACK,
        app="cityguided",
        env="staging",
        policy=world.settings.policy,
        clients=world.clients,
    )


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


# --- the AwsControl backend --------------------------------------------------------------------------


def test_status_of_a_cold_environment(stack: World) -> None:
    report = control(stack).status()
    assert isinstance(report, StatusReport)
    assert report.state == "COLD"
    assert report.routing == "waker"
    assert report.url == "https://staging.cityguided.example"
    assert set(report.to_json_dict()) == STATUS_KEYS


def test_status_of_a_warm_environment_with_a_lease(stack: World) -> None:
    stack.set_desired(1)
    stack.put_lock(requested_ago=timedelta(minutes=3), healthy_ago=timedelta(minutes=2))
    stack.put_lease(datetime.now(UTC) + timedelta(minutes=20))
    stack.task_healthy()
    stack.create_warm_rule()
    report = control(stack).status()
    assert report.state == "WARM"
    assert report.routing == "service"
    assert report.healthy == 1
    assert report.lease_until is not None
    assert report.minutes_until_sleep is not None and report.minutes_until_sleep > 19
    assert report.last_wake_seconds == 60.0  # from the wake request to the first healthy target
    assert report.tasks == []  # moto's service starts no task (see test_task_health_mapping)


def test_task_health_mapping() -> None:
    # moto 5.2.5 cannot run an awsvpc task (its ENI lacks private_dns_name), so the mapping from
    # tasks to health is checked with botocore's Stubber, which validates both the request and
    # the response against the ECS API model.
    import boto3
    from botocore.stub import Stubber

    from warmkeeper.aws.adapters import EcsService

    ecs = boto3.session.Session(region_name=REGION).client("ecs")
    arn = "arn:aws:ecs:eu-west-3:123456789012:task/cityguided-staging/{}"
    started = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)

    def task(task_id: str, ip: str, last_status: str, health: str = "UNKNOWN") -> dict[str, object]:
        return {
            "taskArn": arn.format(task_id),
            "taskDefinitionArn": "arn:aws:ecs:eu-west-3:123456789012:task-definition/cityguided-staging:7",
            "lastStatus": last_status,
            "healthStatus": health,
            "startedAt": started,
            "attachments": [
                {
                    "type": "ElasticNetworkInterface",
                    "status": "ATTACHED",
                    "details": [{"name": "privateIPv4Address", "value": ip}],
                }
            ],
        }

    with Stubber(ecs) as stub:
        stub.add_response(
            "list_tasks",
            {"taskArns": [arn.format(i) for i in ("a1", "b2", "c3", "d4")]},
            {"cluster": "cityguided-staging", "serviceName": "cityguided", "desiredStatus": "RUNNING"},
        )
        stub.add_response(
            "describe_tasks",
            {
                "tasks": [
                    task("a1", "10.0.1.5", "RUNNING", "HEALTHY"),
                    task("b2", "10.0.1.6", "PROVISIONING"),
                    task("c3", "10.0.1.7", "RUNNING", "UNHEALTHY"),
                    task("d4", "10.0.1.8", "DEACTIVATING"),
                ]
            },
            {"cluster": "cityguided-staging", "tasks": [arn.format(i) for i in ("a1", "b2", "c3", "d4")]},
        )
        tasks = EcsService(ecs, "cityguided-staging", "cityguided").tasks(frozenset({"10.0.1.5"}))
    assert [(t.task_id, t.health) for t in tasks] == [
        ("a1", "healthy"),
        ("b2", "starting"),
        ("c3", "unhealthy"),
        ("d4", "stopping"),
    ]
    assert tasks[0].version == "cityguided-staging:7"
    assert tasks[0].started_at == started


def test_status_is_read_only(stack: World) -> None:
    stack.set_desired(1)
    stack.put_lock(requested_ago=timedelta(minutes=1))
    stack.task_healthy()
    report = control(stack).status()
    assert report.state == "WAKING"
    assert stack.warm_rules() == []  # the CLI observes; the Lambda acts


def test_wake_sleep_keepalive(stack: World) -> None:
    backend = control(stack)
    assert backend.wake().startswith("scale-up: desired 0 -> 1")
    assert backend.wake().startswith("already awake (WAKING)")
    with pytest.raises(ControlError, match="min_warm"):
        backend.sleep()
    assert "scale to zero: desired 1 -> 0" in backend.sleep(force=True)
    assert stack.desired() == 0
    message = backend.keepalive(100000)
    assert "bounded by max_lease_minutes 240" in message
    assert "scale-up" in message
    assert stack.desired() == 1


def test_sleep_refused_when_scale_to_zero_is_off(stack: World) -> None:
    backend = AwsControl.from_stack(
        stack_name=STACK,
        app="cityguided",
        env="production",
        policy=Policy(scale_to_zero=False, min_tasks=1, max_tasks=3),
        clients=stack.clients,
    )
    stack.set_desired(1)
    assert "scale_to_zero is off" in backend.sleep(force=True)
    assert stack.desired() == 1


def test_missing_stack_and_missing_output_are_one_line(
    world: World, custom_stack: Callable[[dict[str, str]], None]
) -> None:
    with pytest.raises(ControlError, match=f"stack {STACK} not found in {REGION}"):
        control(world)
    outputs = outputs_of(world)
    del outputs["ListenerArn"]
    custom_stack(outputs)
    with pytest.raises(ControlError, match="has no output ListenerArn"):
        control(world)


def test_the_warm_route_is_looked_for_at_the_stacks_priority(
    world: World, custom_stack: Callable[[dict[str, str]], None]
) -> None:
    """The CLI must see the warm route where the Lambda creates it (WK_WARM_RULE_PRIORITY)."""
    world.set_desired(1)
    world.put_lock(requested_ago=timedelta(minutes=3), healthy_ago=timedelta(minutes=2))
    world.task_healthy()
    world.create_warm_rule(priority=20)
    custom_stack({**outputs_of(world), "WarmRulePriority": "20"})
    report = control(world).status()
    assert (report.state, report.routing) == ("WARM", "service")


@pytest.mark.parametrize(
    ("priority", "expected"), [(None, 10), ("20", 20)], ids=["older stack: default", "output"]
)
def test_warm_rule_priority_from_the_outputs(world: World, priority: str | None, expected: int) -> None:
    outputs = outputs_of(world)
    outputs.pop("WarmRulePriority")
    if priority is not None:
        outputs["WarmRulePriority"] = priority
    settings = settings_from_outputs(
        outputs, stack_name=STACK, app="cityguided", env="staging", policy=world.settings.policy
    )
    assert settings.warm_rule_priority == expected


@pytest.mark.parametrize("priority", ["ten", "0", "50001"])
def test_a_bad_warm_rule_priority_output_is_one_line(world: World, priority: str) -> None:
    with pytest.raises(ControlError, match=f"stack {STACK}: output WarmRulePriority is '{priority}'"):
        settings_from_outputs(
            {**outputs_of(world), "WarmRulePriority": priority},
            stack_name=STACK,
            app="cityguided",
            env="staging",
            policy=world.settings.policy,
        )


# --- the commands -----------------------------------------------------------------------------------


def test_status_json(stack: World) -> None:
    code, output = cli("status", "--config", str(EXAMPLE_CONFIG), "--env", "staging", "--json")
    assert code == 0, output
    document = json.loads(output)
    # The report's keys, and the environment's warm schedule (the CLI adds it from the config).
    assert set(document) == STATUS_KEYS | {"warm_schedule"}
    assert document["warm_schedule"]["windows"] == ["Mon-Fri 08:30-09:00 Europe/Paris"]
    assert document["app"] == "cityguided"
    assert document["env"] == "staging"
    assert document["state"] == "COLD"
    assert document["scale_to_zero"] is True
    assert document["tasks"] == []


def test_status_human_view(stack: World) -> None:
    stack.set_desired(1)
    stack.put_lock(requested_ago=timedelta(minutes=3), healthy_ago=timedelta(minutes=2))
    stack.task_healthy()
    stack.create_warm_rule()
    code, output = cli("status", "--config", str(EXAMPLE_CONFIG), "--env", "staging")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0] == "cityguided staging: WARM (traffic to the service)"
    assert "  url         https://staging.cityguided.example" in lines
    assert "  tasks       desired 1, running 1, healthy 1" in lines
    assert any(line.startswith("  last wake   ") and "healthy after 60.0 s" in line for line in lines)
    assert any(line.startswith("  sleep       in ") for line in lines)
    assert "  deploy      none in progress" in lines


def test_wake_sleep_keepalive_commands(stack: World) -> None:
    base = ["--config", str(EXAMPLE_CONFIG), "--env", "staging"]
    code, output = cli("wake", *base)
    assert code == 0 and "scale-up" in output
    code, output = cli("sleep", *base)
    assert code == 2 and "min_warm" in output
    code, output = cli("sleep", *base, "--force")
    assert code == 0 and "scale to zero" in output
    code, output = cli("keepalive", *base, "--minutes", "15")
    assert code == 0 and "lease until" in output
    code, output = cli("keepalive", *base, "--minutes", "0")
    assert code == 2 and "--minutes" in output


def test_status_of_an_environment_without_stack(world: World) -> None:
    code, output = cli("status", "--config", str(EXAMPLE_CONFIG), "--env", "production")
    assert code == 2
    assert "stack Cityguided-production not found in eu-west-3" in output
    assert "Traceback" not in output


def test_status_local_without_a_twin_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "warmkeeper.toml"
    config.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    code, output = cli("status", "--config", str(config), "--env", "local")
    assert code == 2
    assert "Traceback" not in output


def test_missing_credentials_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real process with no credentials anywhere (no moto): what a person without a profile sees.
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = run_cli(["status", "--config", str(EXAMPLE_CONFIG), "--env", "staging"], timeout=60)
    assert result.returncode == 2, result.stderr
    assert "no AWS credentials found" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_status_lists_the_internal_services_the_waker_knows(
    world: World, custom_stack: Callable[[dict[str, str]], None]
) -> None:
    """The stack's outputs do not list the internal services: the CLI reads them from the waker's
    variables, and each service gets its own line (its own state: asleep here while the app is read)."""
    ecs = world.clients.ecs
    task_definition = ecs.register_task_definition(
        family="cityguided-staging-osrm",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="512",
        memory="3072",
        containerDefinitions=[{"name": "osrm", "image": "osrm", "memory": 3072}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=world.cluster, serviceName="cityguided-osrm", taskDefinition=task_definition, desiredCount=0
    )
    secret = world.clients.secretsmanager.create_secret(Name="wake-secret-ops", SecretString="s")["ARN"]
    osrm = InternalService(
        name="osrm",
        service="cityguided-osrm",
        policy=Policy(idle_minutes=10),
        cloud_map_service_id="srv-osrm",
    )
    variables = {
        "WK_INTERNAL_SERVICES": json.dumps([osrm.to_dict()]),
        "WK_WAKE_SECRET_ARN": secret,
    }
    create_waker_function(world.clients, "Cityguided-staging-waker-ops", variables)
    custom_stack({**outputs_of(world), "WarmkeeperFunctionName": "Cityguided-staging-waker-ops"})
    report = control(world).status()
    assert report.services == {"osrm": "COLD (tasks desired 0, healthy 0; the next call wakes it)"}
    code, output = cli("status", "--config", str(EXAMPLE_CONFIG), "--env", "staging")
    assert code == 0, output
    assert "service     osrm: COLD (tasks desired 0, healthy 0; the next call wakes it)" in output
    # A waker whose variables cannot be read (here: gone) leaves the app's own status as it was.
    world.clients.client("lambda").delete_function(FunctionName="Cityguided-staging-waker-ops")
    assert control(world).status().services == {}
