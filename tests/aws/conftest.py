"""A real-shaped staging environment in moto (in-process), and events shaped like AWS sends them.

What moto does not do, and how the tests stand in for it (the seam, documented here once):
- moto runs no task and no health check. A target registered in the service's target group is
  reported ``healthy`` by moto's DescribeTargetHealth (checked in test_world_matches_moto), so "a task
  became healthy" is ``world.task_healthy()`` (RegisterTargets of an IP) and "no healthy target" is
  no registration.
- moto's UpdateService sets runningCount = desiredCount at once; "tasks still stopping" is not
  modelled and not needed (DRAINING is covered by the core's tests).
- moto's backends are not atomic across threads (SSM PutParameter checks, then inserts). Real AWS
  APIs are atomic per call; :func:`atomic_moto` serialises moto's request processing so the
  concurrency test checks warmkeeper's compare-and-set, not a race inside moto.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.botocore_stubber import BotocoreStubber

from warmkeeper.aws import lambda_handler, logs
from warmkeeper.aws.adapters import WakeLock
from warmkeeper.aws.clients import AwsClients
from warmkeeper.aws.engine import Warmkeeper, build_engine
from warmkeeper.aws.lambda_settings import Settings
from warmkeeper.aws.metrics import METRICS_NAMESPACE, MetricName
from warmkeeper.core import Policy

REGION = "eu-west-3"
APP = "cityguided"
ENV = "staging"
PREFIX = "/warmkeeper/cityguided/staging"
# What the app's tasks send with a beacon report (the wake secret).
WAKE_TOKEN = "w4ke-t0ken"
TOKEN = "k33p-4live-t0ken"
ALARM_NAME = "Cityguided-staging-idle"
POLICY = Policy(
    idle_minutes=5,
    min_warm_minutes=2,
    hold_seconds=3,
    wake_timeout_seconds=180,
    retry_after_seconds=10,
    default_lease_minutes=30,
    max_lease_minutes=240,
    ignore_user_agents=("ELB-HealthChecker", "UptimeRobot", "bot"),
)


FAKE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    # moto's EC2 backend otherwise parses thousands of AMIs; none are used here.
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}


class LogCapture(logging.Handler):
    """The Lambda's log channel as CloudWatch Logs would receive it (one JSON line per record),
    collected into the current world's ``logs``."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logs.JsonFormatter())
        self.target: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.target.append(self.format(record))


CAPTURE = LogCapture()
logs.log.addHandler(CAPTURE)
logs.log.setLevel(logging.INFO)


@pytest.fixture(scope="package")
def moto() -> Iterator[None]:
    """Fake credentials and one in-process moto for tests/aws (worlds are reset per test).

    Package scope, not session: moto resets its backends only when the outermost mock stops, so a
    mock left running would keep this package's stacks and parameters alive in the next package's
    own `mock_aws()` (tests/deploy)."""
    saved = {name: os.environ.get(name) for name in [*FAKE_ENVIRONMENT, "AWS_PROFILE"]}
    os.environ.update(FAKE_ENVIRONMENT)
    os.environ.pop("AWS_PROFILE", None)
    with mock_aws():
        yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@dataclass
class World:
    """The moto resources of one environment and handles to poke them as AWS would."""

    session: boto3.session.Session
    clients: AwsClients
    settings: Settings
    vpc_id: str
    subnet_ids: list[str]
    load_balancer_arn: str
    listener_arn: str
    service_target_group_arn: str
    lambda_target_group_arn: str
    secret_arn: str
    cluster: str
    service: str
    prefix: str
    logs: list[str] = field(default_factory=list)  # the log channel's lines (JSON), since the reset
    sleeps: list[float] = field(default_factory=list)
    on_sleep: Callable[[int], None] | None = None  # called with the number of sleeps so far
    _next_ip: int = 10
    metric_calls: list[dict[str, Any]] = field(default_factory=list)  # PutMetricData: must stay empty
    _hooks: list[tuple[Any, str, Any]] = field(default_factory=list)

    def reset(self) -> None:
        """Back to a cold service with no state, as a fresh deploy leaves it."""
        for client, event, handler in self._hooks:
            client.meta.events.unregister(event, handler)
        self._hooks.clear()
        self.clients.ssm.delete_parameters(
            Names=[
                f"{self.prefix}/wake-lock",
                f"{self.prefix}/lease-until",
                f"{self.prefix}/last-wake",
                f"{self.prefix}/activity",
            ]
        )
        self.set_desired(0)
        targets = self.clients.elbv2.describe_target_health(TargetGroupArn=self.service_target_group_arn)
        registered = [
            d["Target"]
            for d in targets["TargetHealthDescriptions"]
            if d["TargetHealth"]["State"] == "healthy"
        ]
        if registered:
            self.clients.elbv2.deregister_targets(
                TargetGroupArn=self.service_target_group_arn, Targets=registered
            )
        for rule in self.rules():
            if not rule["IsDefault"] and rule["Priority"] not in ("1", "49999", "50000"):
                self.clients.elbv2.delete_rule(RuleArn=rule["RuleArn"])
        self.clients.secretsmanager.put_secret_value(SecretId=self.secret_arn, SecretString=TOKEN)
        # CloudWatch has no API to delete data points: empty moto's store, or a RequestCount put by
        # one test would make the service look busy in the next.
        backend = cloudwatch_backends[DEFAULT_ACCOUNT_ID][REGION]
        backend.metric_data.clear()
        backend.paged_metric_data.clear()
        self.logs.clear()
        CAPTURE.target = self.logs
        self.sleeps.clear()
        self.on_sleep = None
        self.metric_calls = self.count_calls(self.clients.cloudwatch, "PutMetricData")

    def engine(self, **options: Any) -> Warmkeeper:
        def fake_sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            if self.on_sleep is not None:
                self.on_sleep(len(self.sleeps))

        options.setdefault("sleep", fake_sleep)
        return build_engine(self.settings, self.clients, **options)

    # --- the world as AWS would change it --------------------------------------------------------

    def task_healthy(self, ip: str | None = None) -> str:
        """A task's IP registered in the service target group: moto reports it healthy."""
        if ip is None:
            ip = f"10.0.1.{self._next_ip}"
            self._next_ip += 1
        self.clients.elbv2.register_targets(
            TargetGroupArn=self.service_target_group_arn, Targets=[{"Id": ip, "Port": 8080}]
        )
        return ip

    def task_gone(self, ip: str) -> None:
        self.clients.elbv2.deregister_targets(
            TargetGroupArn=self.service_target_group_arn, Targets=[{"Id": ip, "Port": 8080}]
        )

    def desired(self) -> int:
        service = self.clients.ecs.describe_services(cluster=self.cluster, services=[self.service])
        return int(service["services"][0]["desiredCount"])

    def set_desired(self, count: int) -> None:
        self.clients.ecs.update_service(cluster=self.cluster, service=self.service, desiredCount=count)

    def rules(self) -> list[dict[str, Any]]:
        return list(self.clients.elbv2.describe_rules(ListenerArn=self.listener_arn)["Rules"])

    def warm_rules(self) -> list[dict[str, Any]]:
        return [r for r in self.rules() if r["Priority"] == "10"]

    def create_warm_rule(self, priority: int = 10) -> None:
        self.clients.elbv2.create_rule(
            ListenerArn=self.listener_arn,
            Priority=priority,
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
            Actions=[{"Type": "forward", "TargetGroupArn": self.service_target_group_arn}],
        )

    def parameter(self, leaf: str) -> str | None:
        try:
            return str(self.clients.ssm.get_parameter(Name=f"{self.prefix}/{leaf}")["Parameter"]["Value"])
        except self.clients.ssm.exceptions.ParameterNotFound:
            return None

    def put_lock(self, requested_ago: timedelta, healthy_ago: timedelta | None = None) -> None:
        now = datetime.now(UTC)
        lock = WakeLock(
            requested_at=now - requested_ago,
            healthy_at=(now - healthy_ago) if healthy_ago is not None else None,
        )
        self.clients.ssm.put_parameter(
            Name=f"{self.prefix}/wake-lock", Value=lock.to_json(), Type="String", Overwrite=True
        )

    def put_lease(self, until: datetime) -> None:
        self.clients.ssm.put_parameter(
            Name=f"{self.prefix}/lease-until", Value=until.isoformat(), Type="String", Overwrite=True
        )

    def requests_seen(self, minutes_ago: float, count: float = 3) -> None:
        """RequestCount data the ALB would have published for the service's target group."""
        assert self.settings.load_balancer_dimension and self.settings.target_group_dimension
        self.clients.cloudwatch.put_metric_data(
            Namespace="AWS/ApplicationELB",
            MetricData=[
                {
                    "MetricName": "RequestCount",
                    "Dimensions": [
                        {"Name": "LoadBalancer", "Value": self.settings.load_balancer_dimension},
                        {"Name": "TargetGroup", "Value": self.settings.target_group_dimension},
                    ],
                    "Timestamp": datetime.now(UTC) - timedelta(minutes=minutes_ago),
                    "Value": count,
                    "Unit": "Count",
                }
            ],
        )

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs]

    def metric_documents(self) -> list[dict[str, Any]]:
        """The EMF documents among the log lines, checked against the specification's structure."""
        documents = []
        for line in self.log_lines():
            if "_aws" not in line:
                continue
            metadata = line["_aws"]
            assert isinstance(metadata["Timestamp"], int)  # epoch milliseconds
            (directive,) = metadata["CloudWatchMetrics"]
            assert directive["Namespace"] == METRICS_NAMESPACE
            assert directive["Dimensions"] == [["App", "Env"]]
            assert (line["App"], line["Env"]) == (APP, self.settings.env)
            for metric in directive["Metrics"]:
                assert metric["Unit"] == MetricName(metric["Name"]).unit
                assert isinstance(line[metric["Name"]], int | float)  # the value, at the root
            documents.append(line)
        return documents

    def metric_sum(self, name: str) -> float:
        """Sum of the values warmkeeper emitted for one custom metric since the reset, read from
        its EMF log lines (what CloudWatch Logs extracts the metrics from). None went out through
        PutMetricData."""
        assert self.metric_calls == []
        total = 0.0
        for document in self.metric_documents():
            names = [m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
            if name in names:
                total += document[name]
        return total

    def count_calls(self, client: Any, operation: str) -> list[dict[str, Any]]:
        """Record every call of ``operation`` made through ``client`` (its parameters)."""
        calls: list[dict[str, Any]] = []
        lock = threading.Lock()

        def record(params: dict[str, Any], **_: Any) -> None:
            with lock:
                calls.append(params)

        service = client.meta.service_model.service_name
        self.hook(client, f"provide-client-params.{service}.{operation}", record)
        return calls

    def hook(self, client: Any, event: str, handler: Callable[..., None]) -> None:
        """Register a botocore event handler until the next reset: the world (and its clients) is
        shared by every test, so a handler left behind would act in the next one."""
        client.meta.events.register(event, handler)
        self._hooks.append((client, event, handler))


_SESSIONS: list[boto3.session.Session] = []


def shared_session() -> boto3.session.Session:
    """One boto3 session for the test run: it loads each service model once (a new session per
    test would parse botocore's JSON models again, about half a second each time)."""
    if not _SESSIONS:
        _SESSIONS.append(boto3.session.Session(region_name=REGION))
    return _SESSIONS[0]


def _create_world(policy: Policy = POLICY, initial_desired: int = 0, suffix: str = "") -> World:
    """One environment in moto. ``initial_desired`` > 0 makes moto show a deployment still rolling
    out; ``suffix`` keeps the names of an extra environment apart from the shared one."""
    env = ENV + suffix
    name = f"cityguided-{env}"
    prefix = f"/warmkeeper/cityguided/{env}"
    session = shared_session()
    clients = AwsClients(session)
    ec2 = session.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"))
    ]
    group_id = ec2.create_security_group(GroupName="alb", Description="alb", VpcId=vpc_id)["GroupId"]
    elbv2 = clients.elbv2
    lb = elbv2.create_load_balancer(
        Name=name, Subnets=subnet_ids, SecurityGroups=[group_id], Scheme="internet-facing"
    )["LoadBalancers"][0]
    service_tg = elbv2.create_target_group(
        Name=f"{name}-service",
        Protocol="HTTP",
        Port=8080,
        VpcId=vpc_id,
        TargetType="ip",
        HealthCheckPath="/healthz",
        HealthCheckIntervalSeconds=5,
        HealthyThresholdCount=2,
    )["TargetGroups"][0]
    lambda_tg = elbv2.create_target_group(Name=f"{name}-waker", TargetType="lambda")["TargetGroups"][0]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        # As the stack builds it (warmkeeper.infra.routing): the effective default is the last rule.
        DefaultActions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": "503", "ContentType": "text/plain"},
            }
        ],
    )["Listeners"][0]
    # The CloudFormation-owned rules: /_warmkeeper/* to the Lambda, the anchor, /* to the Lambda.
    elbv2.create_rule(
        ListenerArn=listener["ListenerArn"],
        Priority=1,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/_warmkeeper/*"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": lambda_tg["TargetGroupArn"]}],
    )
    elbv2.create_rule(
        ListenerArn=listener["ListenerArn"],
        Priority=49999,
        Conditions=[
            {
                "Field": "http-header",
                "HttpHeaderConfig": {"HttpHeaderName": "X-Warmkeeper-Route", "Values": ["service"]},
            }
        ],
        Actions=[{"Type": "forward", "TargetGroupArn": service_tg["TargetGroupArn"]}],
    )
    elbv2.create_rule(
        ListenerArn=listener["ListenerArn"],
        Priority=50000,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": lambda_tg["TargetGroupArn"]}],
    )
    ecs = clients.ecs
    ecs.create_cluster(clusterName=name)
    task_definition = ecs.register_task_definition(
        family=name,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        containerDefinitions=[
            {
                "name": "caddy",
                "image": "cityguided/caddy:latest",
                "memory": 512,
                "portMappings": [{"containerPort": 8080}],
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=name,
        serviceName="cityguided",
        taskDefinition=task_definition,
        desiredCount=initial_desired,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnet_ids, "securityGroups": [group_id]}},
        loadBalancers=[
            {"targetGroupArn": service_tg["TargetGroupArn"], "containerName": "caddy", "containerPort": 8080}
        ],
        tags=[{"key": "warmkeeper:app", "value": APP}, {"key": "warmkeeper:env", "value": env}],
    )
    secret_arn = clients.secretsmanager.create_secret(Name=f"{name}-keepalive", SecretString=TOKEN)["ARN"]
    wake_secret = clients.secretsmanager.create_secret(Name=f"{name}-wake", SecretString=WAKE_TOKEN)
    wake_secret_arn = wake_secret["ARN"]
    lb_dimension = lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    tg_dimension = service_tg["TargetGroupArn"].split(":", 5)[5]
    clients.cloudwatch.put_metric_alarm(
        AlarmName=ALARM_NAME + suffix,
        Namespace="AWS/ApplicationELB",
        MetricName="RequestCount",
        Dimensions=[
            {"Name": "LoadBalancer", "Value": lb_dimension},
            {"Name": "TargetGroup", "Value": tg_dimension},
        ],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=int(policy.idle_minutes),
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="breaching",
    )
    settings = Settings(
        app=APP,
        env=env,
        cluster=name,
        service="cityguided",
        listener_arn=listener["ListenerArn"],
        service_target_group_arn=service_tg["TargetGroupArn"],
        parameter_prefix=prefix,
        policy=policy,
        warm_rule_priority=10,
        keepalive_secret_arn=secret_arn,
        wake_secret_arn=wake_secret_arn,
        load_balancer_dimension=lb_dimension,
        target_group_dimension=tg_dimension,
        idle_alarm_name=ALARM_NAME + suffix,
    )
    world = World(
        session=session,
        clients=clients,
        settings=settings,
        vpc_id=vpc_id,
        subnet_ids=subnet_ids,
        load_balancer_arn=lb["LoadBalancerArn"],
        listener_arn=listener["ListenerArn"],
        service_target_group_arn=service_tg["TargetGroupArn"],
        lambda_target_group_arn=lambda_tg["TargetGroupArn"],
        secret_arn=secret_arn,
        cluster=name,
        service="cityguided",
        prefix=prefix,
    )
    world.metric_calls = world.count_calls(clients.cloudwatch, "PutMetricData")
    CAPTURE.target = world.logs
    return world


_SUFFIXES = itertools.count(1)


@pytest.fixture(scope="package")
def shared_world(moto: None) -> World:
    return _create_world()


@pytest.fixture
def world(shared_world: World) -> World:
    """The shared staging environment, reset to cold (creating one per test would cost more than
    the tests themselves)."""
    shared_world.reset()
    return shared_world


@pytest.fixture
def make_world(moto: None) -> Callable[..., World]:
    """A separate environment (its own names) for a test that needs another policy or setup."""

    def create(policy: Policy = POLICY, initial_desired: int = 0) -> World:
        return _create_world(policy, initial_desired, suffix=f"-{next(_SUFFIXES)}")

    return create


@pytest.fixture
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make each mocked AWS call atomic, as the real APIs are (see the module doc)."""
    lock = threading.RLock()
    original = BotocoreStubber.process_request

    def locked(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", locked)


@pytest.fixture
def lam(world: World) -> Iterator[World]:
    """The world, with the Lambda's handler driving its engine (as a deployed function would)."""
    lambda_handler.use(world.engine())
    yield world
    lambda_handler.use(None)


def call(event: dict[str, Any]) -> dict[str, Any]:
    """One invocation of the Lambda's handler."""
    return lambda_handler.handler(event, None)


# --- events shaped like AWS sends them ---------------------------------------------------------------


def alb_event(
    world: World,
    method: str = "GET",
    path: str = "/",
    query: dict[str, list[str]] | None = None,
    headers: dict[str, list[str]] | None = None,
    body: str = "",
    base64_body: bool = False,
    multi_value: bool = False,
) -> dict[str, Any]:
    """An ALB -> Lambda event (Elastic Load Balancing guide, "Lambda functions as targets")."""
    all_headers: dict[str, list[str]] = {
        "host": ["cityguided-staging-123456789.eu-west-3.elb.amazonaws.com"],
        "x-amzn-trace-id": ["Root=1-5bdb40ca-556d8b0c50dc66f0511bf520"],
        "x-forwarded-for": ["203.0.113.7"],
        "x-forwarded-port": ["443"],
        "x-forwarded-proto": ["https"],
        **(headers or {}),
    }
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": world.lambda_target_group_arn}},
        "httpMethod": method,
        "path": path,
        "isBase64Encoded": base64_body,
        "body": body,
    }
    if multi_value:
        event["multiValueHeaders"] = all_headers
        event["multiValueQueryStringParameters"] = query or {}
    else:
        event["headers"] = {name: values[-1] for name, values in all_headers.items()}
        event["queryStringParameters"] = {name: values[-1] for name, values in (query or {}).items()}
    return event


BROWSER = {
    "accept": ["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
    "user-agent": ["Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"],
    "sec-fetch-mode": ["navigate"],
}
API = {"accept": ["application/json"], "user-agent": ["curl/8.5.0"]}


def alarm_event(state: str = "ALARM", alarm_name: str = ALARM_NAME) -> dict[str, Any]:
    """EventBridge "CloudWatch Alarm State Change" (CloudWatch guide, "Alarm events and EventBridge")."""
    previous = "OK" if state == "ALARM" else "ALARM"
    return {
        "version": "0",
        "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2025-06-02T12:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:{alarm_name}"],
        "detail": {
            "alarmName": alarm_name,
            "state": {
                "value": state,
                "reason": "Threshold Crossed: 5 datapoints were less than the threshold (1.0).",
                "timestamp": "2025-06-02T12:00:00.000+0000",
            },
            "previousState": {
                "value": previous,
                "reason": "Threshold Crossed",
                "timestamp": "2025-06-02T11:40:00.000+0000",
            },
            "configuration": {
                "metrics": [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "namespace": "AWS/ApplicationELB",
                                "name": "RequestCount",
                                "dimensions": {"LoadBalancer": "app/x/1", "TargetGroup": "targetgroup/y/2"},
                            },
                            "period": 60,
                            "stat": "Sum",
                        },
                        "returnData": True,
                    }
                ]
            },
        },
    }


def scheduled_event() -> dict[str, Any]:
    """EventBridge schedule (rate(1 minute)) event."""
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2025-06-02T12:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:123456789012:rule/Cityguided-staging-reconcile"],
        "detail": {},
    }
