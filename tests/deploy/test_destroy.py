"""`warmkeeper destroy --env E` removes the run-time routing, then runs `cdk destroy`.

The stand-in for `cdk destroy` does what CloudFormation does to the resources that matter here, in
moto: delete the stack's own listener rules, then the service's target group, then the stack. moto
refuses the target group's delete with ResourceInUse while any rule still forwards to it, exactly
as ELB does, so a warm route left behind makes the stand-in fail as a real `cdk destroy` would.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from rich.console import Console

from tests.deploy.conftest import STACK, FakeClock, FakeSynth, outputs_template, shared_session
from tests.moto_lambda import create_waker_function
from warmkeeper.aws.adapters import WARM_ROUTE_TAG_KEY, WARM_ROUTE_TAG_VALUE
from warmkeeper.aws.clients import AwsClients
from warmkeeper.config import AppConfig, EnvironmentSettings
from warmkeeper.deploy.context import ReleaseContext
from warmkeeper.deploy.destroy import Destroyer, destroy_args
from warmkeeper.deploy.preflight import PreflightError

FUNCTION = "cityguided-staging-warmkeeper"


@dataclass
class Environment:
    clients: AwsClients
    listener_arn: str
    service_target_group_arn: str
    stack_rule_arn: str

    def add_warm_route(self) -> str:
        rule = self.clients.elbv2.create_rule(
            ListenerArn=self.listener_arn,
            Priority=10,
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
            Actions=[{"Type": "forward", "TargetGroupArn": self.service_target_group_arn}],
            Tags=[{"Key": WARM_ROUTE_TAG_KEY, "Value": WARM_ROUTE_TAG_VALUE}],
        )
        return str(rule["Rules"][0]["RuleArn"])

    def rule_arns(self) -> list[str]:
        rules = self.clients.elbv2.describe_rules(ListenerArn=self.listener_arn)["Rules"]
        return [str(r["RuleArn"]) for r in rules if not r["IsDefault"]]

    def reserved_concurrency(self) -> int | None:
        answer = self.clients.client("lambda").get_function_concurrency(FunctionName=FUNCTION)
        value = answer.get("ReservedConcurrentExecutions")
        return int(value) if value is not None else None


@dataclass
class CloudFormationDelete:
    """`cdk destroy` as CloudFormation plays it; records what it saw when it started."""

    env: Environment
    exit_code: int = 0  # a failure for another reason (e.g. a permission)
    seen: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    done: bool = False

    def poll(self) -> int | None:
        if self.done:
            return self.code
        self.done = True
        self.code = self.exit_code
        if self.exit_code != 0:
            self.lines.append(f"❌  {STACK}: destroy failed AccessDenied")
            return self.code
        elbv2 = self.env.clients.elbv2
        elbv2.delete_rule(RuleArn=self.env.stack_rule_arn)
        try:
            elbv2.delete_target_group(TargetGroupArn=self.env.service_target_group_arn)
        except ClientError as exc:
            self.lines.append(f"❌  {STACK}: destroy failed {exc.response['Error']['Code']}")
            self.code = 1
            return self.code
        self.env.clients.cloudformation.delete_stack(StackName=STACK)
        self.lines.append(f"✅  {STACK}: destroyed")
        return self.code

    def read_lines(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines

    def terminate(self) -> None: ...


@dataclass
class DestroyCdk:
    env: Environment
    exit_code: int = 0
    calls: list[list[str]] = field(default_factory=list)
    seen: dict[str, Any] = field(default_factory=dict)

    def start(self, args: Sequence[str]) -> CloudFormationDelete:
        self.calls.append(list(args))
        self.seen = {"rules": self.env.rule_arns(), "concurrency": self.env.reserved_concurrency()}
        return CloudFormationDelete(self.env, self.exit_code)


def _create_environment(clients: AwsClients, with_stack: bool = True) -> Environment:
    ec2 = clients.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"eu-west-3{az}")["Subnet"][
            "SubnetId"
        ]
        for i, az in ((1, "a"), (2, "b"))
    ]
    elbv2 = clients.elbv2
    lb = elbv2.create_load_balancer(Name="cityguided-staging", Subnets=subnets)["LoadBalancers"][0]
    service_tg = elbv2.create_target_group(
        Name="cityguided-staging-service", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}],
    )["Listeners"][0]["ListenerArn"]
    # The stack's own anchor rule (warmkeeper.infra.routing), tagged with another role.
    anchor = elbv2.create_rule(
        ListenerArn=listener,
        Priority=49999,
        Conditions=[
            {
                "Field": "http-header",
                "HttpHeaderConfig": {"HttpHeaderName": "X-Warmkeeper-Route", "Values": ["service"]},
            }
        ],
        Actions=[{"Type": "forward", "TargetGroupArn": service_tg}],
        Tags=[{"Key": WARM_ROUTE_TAG_KEY, "Value": "service-anchor"}],
    )["Rules"][0]["RuleArn"]
    create_waker_function(clients, FUNCTION)
    lambda_ = clients.client("lambda")
    lambda_.put_function_concurrency(FunctionName=FUNCTION, ReservedConcurrentExecutions=20)
    if with_stack:
        outputs = {"ListenerArn": listener, "WarmkeeperFunctionName": FUNCTION, "Url": "http://x.example"}
        clients.cloudformation.create_stack(
            StackName=STACK, TemplateBody=json.dumps(outputs_template(outputs))
        )
    return Environment(clients, listener, service_tg, str(anchor))


@pytest.fixture
def aws(aws_env: None) -> Iterator[AwsClients]:
    with mock_aws():
        yield AwsClients(shared_session())


def destroyer(
    cfg: AppConfig, staging: EnvironmentSettings, clients: AwsClients, cdk: DestroyCdk, tmp_path: Path
) -> tuple[Destroyer, io.StringIO]:
    console_file = io.StringIO()
    clock = FakeClock()
    context = ReleaseContext(
        cfg=cfg,
        env="staging",
        settings=staging,
        clients=clients,
        runner=cdk,
        assembly_dir=tmp_path / "cdk.out" / "destroy-staging",
        console=Console(file=console_file, width=240, color_system=None),
        clock=clock,
        sleep=clock.sleep,
    )
    synth = FakeSynth()
    return Destroyer(context, synthesize=lambda c, e, o, t, d: synth(c, e, o, t, d)), console_file


def test_cdk_destroy_of_a_warm_environment_fails_while_the_warm_route_exists(aws: AwsClients) -> None:
    """Why the run-time routing goes first, as the stand-in plays it: CloudFormation alone cannot
    delete a warm environment."""
    env = _create_environment(aws)
    env.add_warm_route()
    process = DestroyCdk(env).start(["destroy", STACK])
    assert process.poll() == 1
    assert "ResourceInUse" in process.read_lines()[0]


def test_destroy_throttles_the_waker_removes_the_warm_route_then_runs_cdk_destroy(
    aws: AwsClients, cfg: AppConfig, staging: EnvironmentSettings, tmp_path: Path
) -> None:
    env = _create_environment(aws)
    warm_route = env.add_warm_route()
    cdk = DestroyCdk(env)
    run, console = destroyer(cfg, staging, aws, cdk, tmp_path)
    result = run.destroy(timeout_seconds=600)
    assert (result.exit_code, result.message) == (0, f"stack {STACK} destroyed (the images stack stays)")
    assert cdk.calls == [destroy_args(tmp_path / "cdk.out" / "destroy-staging", STACK)]
    # When cdk destroy started: the waker throttled, our rule gone, the stack's own rule still there.
    assert cdk.seen == {"rules": [env.stack_rule_arn], "concurrency": 0}
    assert warm_route not in env.rule_arns()
    output = console.getvalue()
    assert output.index("throttled") < output.index("warm route removed") < output.index("→ cdk destroy")


def test_a_failed_cdk_destroy_gives_the_waker_its_concurrency_back(
    aws: AwsClients, cfg: AppConfig, staging: EnvironmentSettings, tmp_path: Path
) -> None:
    env = _create_environment(aws)
    cdk = DestroyCdk(env, exit_code=1)
    run, _ = destroyer(cfg, staging, aws, cdk, tmp_path)
    result = run.destroy(timeout_seconds=600)
    assert result.exit_code == 1 and "the waker answers again" in result.message
    assert env.reserved_concurrency() == 20


def test_nothing_to_destroy_changes_nothing(
    aws: AwsClients, cfg: AppConfig, staging: EnvironmentSettings, tmp_path: Path
) -> None:
    env = _create_environment(aws, with_stack=False)
    cdk = DestroyCdk(env)
    run, _ = destroyer(cfg, staging, aws, cdk, tmp_path)
    with pytest.raises(PreflightError, match="does not exist: nothing to destroy"):
        run.destroy()
    assert cdk.calls == [] and env.reserved_concurrency() == 20


def test_the_command_needs_the_environment_named(tmp_path: Path) -> None:
    from tests.conftest import EXAMPLE_CONFIG, run_cli

    result = run_cli(["destroy", "--config", str(EXAMPLE_CONFIG)])
    assert result.returncode == 2 and "--env" in result.stderr
    local = run_cli(["destroy", "--config", str(EXAMPLE_CONFIG), "--env", "local"])
    assert local.returncode == 2 and "no stack to destroy" in local.stderr
    assert "Traceback" not in local.stderr


def _create_http_api_with_warm_routes(clients: AwsClients) -> tuple[str, list[str]]:
    """An HTTP API as the stack and the waker leave it while warm: the stack's routes and the two
    run-time warm routes to the service integration."""
    apigatewayv2 = clients.apigatewayv2
    api_id = str(apigatewayv2.create_api(Name="cityguided-staging", ProtocolType="HTTP")["ApiId"])
    integration = apigatewayv2.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="ANY",
        IntegrationUri="http://service.internal",
        PayloadFormatVersion="1.0",
    )["IntegrationId"]
    stack_routes = [
        str(apigatewayv2.create_route(ApiId=api_id, RouteKey=key)["RouteId"])
        for key in ("$default", "ANY /_warmkeeper", "ANY /_warmkeeper/{proxy+}")
    ]
    for key in ("ANY /", "ANY /{proxy+}"):
        apigatewayv2.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{integration}")
    return api_id, stack_routes


def test_behind_an_http_api_destroy_removes_the_run_time_warm_routes_first(
    aws: AwsClients, cfg: AppConfig, staging: EnvironmentSettings, tmp_path: Path
) -> None:
    env = _create_environment(aws, with_stack=False)
    api_id, stack_routes = _create_http_api_with_warm_routes(aws)
    outputs = {"ApiId": api_id, "WarmkeeperFunctionName": FUNCTION, "Url": "https://x.example"}
    aws.cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(outputs_template(outputs)))
    cdk = DestroyCdk(env)
    run, console = destroyer(cfg, staging, aws, cdk, tmp_path)
    result = run.destroy(timeout_seconds=600)
    assert result.exit_code == 0
    left = {str(r["RouteId"]) for r in aws.apigatewayv2.get_routes(ApiId=api_id)["Items"]}
    assert left == set(stack_routes)  # only the warm routes went; the stack's own stay for CloudFormation
    output = console.getvalue()
    assert "warm routes removed (2 route(s))" in output
    assert output.index("throttled") < output.index("warm routes removed") < output.index("→ cdk destroy")


def test_behind_an_http_api_destroy_deregisters_the_wakers_cloud_map_instances(
    aws: AwsClients, cfg: AppConfig, staging: EnvironmentSettings, tmp_path: Path
) -> None:
    """Cloud Map will not delete a service that has instances, and CloudFormation owns none of those the
    waker registered: they go before `cdk destroy`; ECS's own instances are left to ECS."""
    env = _create_environment(aws, with_stack=False)
    api_id, _ = _create_http_api_with_warm_routes(aws)
    discovery = aws.client("servicediscovery")
    namespace_op = discovery.create_private_dns_namespace(Name="staging.cityguided.internal", Vpc="vpc-1")
    namespace_id = discovery.get_operation(OperationId=namespace_op["OperationId"])["Operation"]["Targets"][
        "NAMESPACE"
    ]
    record = {"DnsRecords": [{"Type": "A", "TTL": 10}]}
    front = discovery.create_service(Name="cityguided-front", NamespaceId=namespace_id, DnsConfig=record)
    tasks = discovery.create_service(Name="cityguided", NamespaceId=namespace_id, DnsConfig=record)
    front_id, tasks_id = front["Service"]["Id"], tasks["Service"]["Id"]
    for service_id, instance_id in ((front_id, "wk-task1"), (tasks_id, "wk-task0"), (tasks_id, "task1")):
        discovery.register_instance(
            ServiceId=service_id, InstanceId=instance_id, Attributes={"AWS_INSTANCE_IPV4": "10.0.1.5"}
        )
    outputs = {
        "ApiId": api_id,
        "WarmkeeperFunctionName": FUNCTION,
        "Url": "https://x.example",
        "CloudMapFrontServiceId": front_id,
        "CloudMapServiceId": tasks_id,
    }
    aws.cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(outputs_template(outputs)))
    run, console = destroyer(cfg, staging, aws, DestroyCdk(env), tmp_path)
    assert run.destroy(timeout_seconds=600).exit_code == 0

    def left(service_id: str) -> set[str]:
        return {i["Id"] for i in discovery.list_instances(ServiceId=service_id)["Instances"]}

    assert left(front_id) == set()
    assert left(tasks_id) == {"task1"}  # ECS's own registration: ECS removes it with its task
    output = console.getvalue()
    assert "Cloud Map instances deregistered (2)" in output
    assert output.index("Cloud Map instances deregistered") < output.index("→ cdk destroy")
