"""The HTTP API front door at run time, in moto: API Gateway V2 (routes, integrations, VPC link) and
Cloud Map (namespace, service, instances and their custom health) beside ECS, SSM and CloudWatch.

The seam, beyond tests/aws/conftest.py's: ECS registers a task in Cloud Map and reports its health
as the instance's custom health status; here the test does both (RegisterInstance, then
UpdateInstanceCustomHealthStatus), and ECS's own view of the task's container health (what
DescribeTasks answers for the task id Cloud Map's instance is named by) is set on the way back.
moto's GetVpcLink always says AVAILABLE: an INACTIVE link is the same response with its status
changed on the way back (a botocore after-call hook).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.aws.conftest import (
    APP,
    CAPTURE,
    POLICY,
    REGION,
    TOKEN,
    scheduled_event,
    shared_session,
)
from warmkeeper.aws import lambda_handler
from warmkeeper.aws.adapters import WakeLock
from warmkeeper.aws.api_gateway import BadEventError, request_from_http_api_event
from warmkeeper.aws.clients import AwsClients
from warmkeeper.aws.engine import Warmkeeper, build_engine
from warmkeeper.aws.http_api_routing import WARM_ROUTE_KEYS
from warmkeeper.aws.lambda_settings import Settings
from warmkeeper.aws.metrics import MetricName
from warmkeeper.aws.operations import AwsControl, settings_from_outputs
from warmkeeper.commands.ops_commands import human_status
from warmkeeper.naming import (
    OUTPUT_API_ID,
    OUTPUT_API_STAGE,
    OUTPUT_CLOUD_MAP_FRONT_SERVICE_ID,
    OUTPUT_CLOUD_MAP_SERVICE_ID,
    OUTPUT_CLUSTER,
    OUTPUT_PARAMETER_PREFIX,
    OUTPUT_SERVICE,
    OUTPUT_SERVICE_INTEGRATION_ID,
    OUTPUT_VPC_LINK_ID,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "events" / "http_api_v2.json"
ENV = "staging-api"
PREFIX = f"/warmkeeper/{APP}/{ENV}"
NAMESPACE = f"{ENV}.{APP}.internal"
STAGE = "$default"


@dataclass
class ApiWorld:
    clients: AwsClients
    settings: Settings
    cluster: str
    service: str
    api_id: str
    waker_integration_id: str
    service_integration_id: str
    vpc_link_id: str
    cloud_map_service_id: str
    logs: list[str] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # the mutating calls, in order
    probes: list[str] = field(default_factory=list)  # the engine's requests through the VPC link
    link_status: str = "AVAILABLE"
    # ECS's view of the tasks behind the Cloud Map instances: task id -> (IP, container healthy).
    containers: dict[str, tuple[str, bool]] = field(default_factory=dict)
    _asked: list[str] = field(default_factory=list)
    _hooks: list[tuple[Any, str, Any]] = field(default_factory=list)
    _instances: int = 0

    def engine(self) -> Warmkeeper:
        return build_engine(
            self.settings,
            self.clients,
            sleep=self.sleeps.append,
            link_probe=lambda: self.probes.append("probe"),
        )

    def hook(self, client: Any, event: str, handler: Any) -> None:
        client.meta.events.register(event, handler)
        self._hooks.append((client, event, handler))

    def unhook(self) -> None:
        for client, event, handler in self._hooks:
            client.meta.events.unregister(event, handler)
        self._hooks.clear()

    # --- the world as AWS would change it -------------------------------------------------------

    def desired(self) -> int:
        found = self.clients.ecs.describe_services(cluster=self.cluster, services=[self.service])
        return int(found["services"][0]["desiredCount"])

    def task_registered(self, *, healthy: bool) -> str:
        """ECS registered a task in Cloud Map (SRV: its IP and port) and reports its health."""
        self._instances += 1
        instance_id = f"task-{self._instances}"
        ip = f"10.0.1.{10 + self._instances}"
        self.clients.servicediscovery.register_instance(
            ServiceId=self.cloud_map_service_id,
            InstanceId=instance_id,
            Attributes={"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": "8080"},
        )
        self.containers[instance_id] = (ip, False)
        self.task_health(instance_id, healthy=healthy)
        return instance_id

    def task_health(self, instance_id: str, *, healthy: bool) -> None:
        """ECS finds the container healthy (or not) and reports it to Cloud Map."""
        ip, _ = self.containers.get(instance_id, ("", False))
        self.containers[instance_id] = (ip, healthy)
        self.clients.servicediscovery.update_instance_custom_health_status(
            ServiceId=self.cloud_map_service_id,
            InstanceId=instance_id,
            Status="HEALTHY" if healthy else "UNHEALTHY",
        )

    def routes(self) -> dict[str, dict[str, Any]]:
        items = self.clients.apigatewayv2.get_routes(ApiId=self.api_id)["Items"]
        return {str(route["RouteKey"]): dict(route) for route in items}

    def warm_targets(self) -> dict[str, str | None]:
        return {key: route.get("Target") for key, route in self.routes().items() if key in WARM_ROUTE_KEYS}

    def put_lock(self, requested_ago: timedelta, healthy_ago: timedelta | None = None) -> None:
        now = datetime.now(UTC)
        lock = WakeLock(
            requested_at=now - requested_ago,
            healthy_at=(now - healthy_ago) if healthy_ago is not None else None,
        )
        self.clients.ssm.put_parameter(
            Name=f"{PREFIX}/wake-lock", Value=lock.to_json(), Type="String", Overwrite=True
        )

    def metric_sum(self, name: str) -> float:
        total = 0.0
        for line in (json.loads(text) for text in self.logs):
            if "_aws" in line and name in line:
                total += float(line[name])
        return total

    def log_messages(self) -> list[str]:
        return [str(json.loads(text).get("message")) for text in self.logs]

    def reset(self) -> None:
        self.unhook()
        self.clients.ssm.delete_parameters(
            Names=[f"{PREFIX}/wake-lock", f"{PREFIX}/lease-until", f"{PREFIX}/last-wake"]
        )
        self.clients.ecs.update_service(cluster=self.cluster, service=self.service, desiredCount=0)
        instances = self.clients.servicediscovery.list_instances(ServiceId=self.cloud_map_service_id)
        for instance in instances["Instances"]:
            self.clients.servicediscovery.deregister_instance(
                ServiceId=self.cloud_map_service_id, InstanceId=instance["Id"]
            )
        for key, route in self.routes().items():
            if key in WARM_ROUTE_KEYS:
                self.clients.apigatewayv2.delete_route(ApiId=self.api_id, RouteId=route["RouteId"])
        self.logs.clear()
        CAPTURE.target = self.logs
        self.sleeps.clear()
        self.calls.clear()
        self.probes.clear()
        self.link_status = "AVAILABLE"
        self.containers.clear()
        for client, operations in (
            (self.clients.ecs, ("UpdateService",)),
            (self.clients.apigatewayv2, ("CreateRoute", "UpdateRoute", "DeleteRoute")),
        ):
            for operation in operations:
                self.hook(
                    client,
                    f"provide-client-params.{client.meta.service_model.service_name}.{operation}",
                    self._recorder(operation),
                )

        def link_status(parsed: dict[str, Any], **_: Any) -> None:
            parsed["VpcLinkStatus"] = self.link_status

        self.hook(self.clients.apigatewayv2, "after-call.apigatewayv2.GetVpcLink", link_status)

        def asked(params: dict[str, Any], **_: Any) -> None:
            self._asked[:] = [str(task) for task in params.get("tasks", [])]

        def containers(parsed: dict[str, Any], **_: Any) -> None:
            for task_id in self._asked:
                if task_id not in self.containers:
                    continue
                ip, healthy = self.containers[task_id]
                parsed.setdefault("tasks", []).append(
                    {
                        "taskArn": f"arn:aws:ecs:{REGION}:123456789012:task/{self.cluster}/{task_id}",
                        "lastStatus": "RUNNING",
                        "desiredStatus": "RUNNING",
                        "healthStatus": "HEALTHY" if healthy else "UNKNOWN",
                        "attachments": [{"details": [{"name": "privateIPv4Address", "value": ip}]}],
                    }
                )
            parsed["failures"] = [
                f for f in parsed.get("failures", []) if f.get("arn") not in self.containers
            ]

        self.hook(self.clients.ecs, "provide-client-params.ecs.DescribeTasks", asked)
        self.hook(self.clients.ecs, "after-call.ecs.DescribeTasks", containers)

    def _recorder(self, operation: str) -> Any:
        lock = threading.Lock()

        def record(params: dict[str, Any], **_: Any) -> None:
            with lock:
                detail = params.get("desiredCount", params.get("RouteKey", params.get("RouteId", "")))
                self.calls.append(f"{operation}({detail})")

        return record


def _create_world() -> ApiWorld:
    session = shared_session()
    clients = AwsClients(session)
    ec2 = session.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.1.1.0/24", AvailabilityZone=f"{REGION}a")[
        "Subnet"
    ]["SubnetId"]
    group_id = ec2.create_security_group(GroupName="link", Description="link", VpcId=vpc_id)["GroupId"]
    discovery = clients.servicediscovery
    discovery.create_private_dns_namespace(Name=NAMESPACE, Vpc=vpc_id)
    namespace_id = next(n["Id"] for n in discovery.list_namespaces()["Namespaces"] if n["Name"] == NAMESPACE)
    cloud_map_service = discovery.create_service(
        Name="app",
        NamespaceId=namespace_id,
        DnsConfig={"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "SRV", "TTL": 60}]},
        HealthCheckCustomConfig={"FailureThreshold": 1},
    )["Service"]
    apigw = clients.apigatewayv2
    api_id = apigw.create_api(Name=f"{APP}-{ENV}", ProtocolType="HTTP")["ApiId"]
    apigw.create_stage(ApiId=api_id, StageName=STAGE, AutoDeploy=True)
    vpc_link_id = apigw.create_vpc_link(Name="tasks", SubnetIds=[subnet_id], SecurityGroupIds=[group_id])[
        "VpcLinkId"
    ]
    waker = apigw.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri=f"arn:aws:lambda:{REGION}:123456789012:function:{APP}-{ENV}-warmkeeper",
        PayloadFormatVersion="2.0",
    )["IntegrationId"]
    service_integration = apigw.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="ANY",
        ConnectionType="VPC_LINK",
        ConnectionId=vpc_link_id,
        IntegrationUri=cloud_map_service["Arn"],
        PayloadFormatVersion="1.0",
    )["IntegrationId"]
    # What CloudFormation owns: the waker's paths and $default (the cold path).
    for key in ("$default", "ANY /_warmkeeper", "ANY /_warmkeeper/{proxy+}"):
        apigw.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{waker}")
    cluster = f"{APP}-{ENV}"
    clients.ecs.create_cluster(clusterName=cluster)
    task_definition = clients.ecs.register_task_definition(
        family=cluster,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "caddy", "image": "cityguided/caddy:latest", "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    clients.ecs.create_service(
        cluster=cluster,
        serviceName="cityguided",
        taskDefinition=task_definition,
        desiredCount=0,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet_id], "securityGroups": [group_id]}},
    )
    secret_arn = clients.secretsmanager.create_secret(Name=f"{cluster}-keepalive", SecretString=TOKEN)["ARN"]
    settings = Settings(
        app=APP,
        env=ENV,
        cluster=cluster,
        service="cityguided",
        parameter_prefix=PREFIX,
        policy=POLICY,
        keepalive_secret_arn=secret_arn,
        front_door="http_api",
        api_id=api_id,
        api_stage=STAGE,
        service_integration_id=service_integration,
        warm_route_keys=WARM_ROUTE_KEYS,
        vpc_link_id=vpc_link_id,
        cloud_map_namespace=NAMESPACE,
        cloud_map_service_id=cloud_map_service["Id"],
        cloud_map_service_name="app",
    )
    return ApiWorld(
        clients=clients,
        settings=settings,
        cluster=cluster,
        service="cityguided",
        api_id=api_id,
        waker_integration_id=waker,
        service_integration_id=service_integration,
        vpc_link_id=vpc_link_id,
        cloud_map_service_id=cloud_map_service["Id"],
    )


@pytest.fixture(scope="module")
def shared_api_world(moto: None) -> ApiWorld:
    return _create_world()


@pytest.fixture
def api(shared_api_world: ApiWorld) -> Iterator[ApiWorld]:
    shared_api_world.reset()
    lambda_handler.use(shared_api_world.engine())
    yield shared_api_world
    lambda_handler.use(None)
    shared_api_world.unhook()


def v2_event(
    method: str = "GET",
    path: str = "/",
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    body: str | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An HTTP API -> Lambda event, payload format 2.0, built on AWS's published example."""
    event: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    event["rawPath"] = path
    event["rawQueryString"] = query
    event["headers"] = {"host": "abc123.execute-api.eu-west-3.amazonaws.com", **(headers or {})}
    event["requestContext"]["http"].update(method=method, path=path)
    event.pop("queryStringParameters")
    event.pop("pathParameters")
    if cookies is None:
        event.pop("cookies")
    else:
        event["cookies"] = cookies
    if body is None:
        event.pop("body")
    else:
        event["body"] = body
    event["isBase64Encoded"] = base64_body
    return event


BROWSER = {
    "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "sec-fetch-mode": "navigate",
}


def call(event: dict[str, Any]) -> dict[str, Any]:
    return lambda_handler.handler(event, None)


# --- payload format 2.0 -------------------------------------------------------------------------------


def test_the_published_example_reads_as_the_request_it_describes() -> None:
    event = json.loads(FIXTURE.read_text(encoding="utf-8"))
    request = request_from_http_api_event(event)
    assert (request.method, request.path) == ("POST", "/my/path")
    # The raw query string keeps both values of parameter1 (queryStringParameters joins them).
    assert request.query == "parameter1=value1&parameter1=value2&parameter2=value"
    assert request.header("cookie") == "cookie1; cookie2"
    assert request.header("header2") == "value1,value2"
    assert request.body == b"Hello from Lambda"


def test_the_published_example_through_the_handler_wakes_once_and_answers_in_the_2_0_shape(
    api: ApiWorld,
) -> None:
    response = call(json.loads(FIXTURE.read_text(encoding="utf-8")))
    # A POST is an API call; no recorded wake fits in the hold (holding costs an execution), so it is
    # answered at once: 503 with the modelled 60 s estimate plus 5 s as Retry-After.
    assert set(response) == {"statusCode", "headers", "cookies", "body", "isBase64Encoded"}
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "65"
    assert response["cookies"] == [] and response["isBase64Encoded"] is False
    assert json.loads(response["body"])["state"] == "WAKING"
    assert api.sleeps == []
    assert api.calls == ["UpdateService(1)"]
    assert api.desired() == 1
    assert api.warm_targets() == {}


def test_cold_requests_cause_one_update_service(api: ApiWorld) -> None:
    for _ in range(4):
        page = call(v2_event(headers=BROWSER, cookies=["session=abc"], query="a=1&a=2"))
        # The waiting page (a 503 with Retry-After, so no crawler or cache keeps it).
        assert page["statusCode"] == 503
        assert page["headers"]["Content-Type"].startswith("text/html")
        assert "is waking up" in page["body"]
    assert api.calls == ["UpdateService(1)"]


def test_base64_body_and_keepalive_through_the_http_api(api: ApiWorld) -> None:
    body = base64.b64encode(json.dumps({"minutes": 30}).encode()).decode()
    response = call(
        v2_event(
            "POST",
            "/_warmkeeper/keepalive",
            headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
            body=body,
            base64_body=True,
        )
    )
    assert response["statusCode"] == 202, response["body"]
    assert json.loads(response["body"])["minutes"] == 30
    assert api.calls == ["UpdateService(1)"]


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (lambda e: e.update(version="1.0"), "payloadFormatVersion 2.0"),
        (lambda e: e["requestContext"]["http"].pop("method"), "requestContext.http.method"),
        (lambda e: e.update(rawPath="no-slash"), "rawPath"),
        (lambda e: e.update(cookies="a=b"), "cookies"),
        (lambda e: e.update(headers=["x"]), "headers"),
        (lambda e: e.update(body="%%%not base64", isBase64Encoded=True), "not valid base64"),
    ],
)
def test_bad_events_get_a_clear_400_and_wake_nothing(api: ApiWorld, change: Any, names: str) -> None:
    event = v2_event("GET", "/", headers=BROWSER)
    change(event)
    with pytest.raises(BadEventError, match=names.replace(".", r"\.")):
        request_from_http_api_event(event)
    response = call(event)
    assert response["statusCode"] == 400
    document = json.loads(response["body"])
    assert document["error"] == "bad_request" and names in document["message"]
    assert api.calls == [] and api.desired() == 0
    assert "bad request event" in api.log_messages()


# --- the warm routes -----------------------------------------------------------------------------------


def test_warm_routes_only_after_a_healthy_cloud_map_instance(api: ApiWorld) -> None:
    call(v2_event(headers=BROWSER))
    instance = api.task_registered(healthy=False)
    call(scheduled_event())
    assert api.warm_targets() == {}  # a task registered but not healthy: still the waker
    api.task_health(instance, healthy=True)
    # The waiting page's poll switches at once (its report shows what it observed before the switch).
    assert json.loads(call(v2_event(path="/_warmkeeper/status"))["body"])["routing"] == "waker"
    assert json.loads(call(v2_event(path="/_warmkeeper/status"))["body"])["routing"] == "service"
    service = f"integrations/{api.service_integration_id}"
    assert api.warm_targets() == dict.fromkeys(WARM_ROUTE_KEYS, service)
    assert api.calls == ["UpdateService(1)", "CreateRoute(ANY /)", "CreateRoute(ANY /{proxy+})"]
    # The template's routes are untouched: $default and /_warmkeeper* still go to the waker.
    waker = f"integrations/{api.waker_integration_id}"
    routes = api.routes()
    assert {routes[k]["Target"] for k in ("$default", "ANY /_warmkeeper", "ANY /_warmkeeper/{proxy+}")} == {
        waker
    }


def test_warm_routes_deleted_before_the_scale_in(api: ApiWorld) -> None:
    api.clients.ecs.update_service(cluster=api.cluster, service=api.service, desiredCount=1)
    api.task_registered(healthy=True)
    api.put_lock(requested_ago=timedelta(minutes=3), healthy_ago=timedelta(minutes=2))
    call(scheduled_event())
    assert set(api.warm_targets()) == set(WARM_ROUTE_KEYS)
    api.put_lock(requested_ago=timedelta(minutes=30), healthy_ago=timedelta(minutes=29))
    api.calls.clear()
    # No request counted (AWS/ApiGateway Count has no data: idle), min_warm long past: sleep.
    call(scheduled_event())
    assert api.desired() == 0
    assert api.warm_targets() == {}
    assert api.calls[-1] == "UpdateService(0)"
    assert sorted(api.calls[:-1]) == sorted(
        f"DeleteRoute({api_route_id})" for api_route_id in _deleted_ids(api.calls)
    )
    assert len(api.calls) == 3  # two routes deleted, then the scale-in


def _cloud_map_instances(api: ApiWorld) -> dict[str, str]:
    """Instance id -> health status, as DiscoverInstances reports them."""
    found = api.clients.servicediscovery.discover_instances(
        NamespaceName=NAMESPACE, ServiceName="app", HealthStatus="ALL"
    )["Instances"]
    return {str(i["InstanceId"]): str(i.get("HealthStatus")) for i in found}


def test_a_ready_task_cloud_map_still_calls_unhealthy_is_registered_healthy_by_the_waker(
    api: ApiWorld,
) -> None:
    """Cloud Map applies ECS's health report about 30 s late: once ECS finds the container healthy,
    the waker registers its own instance of the task, healthy at once, and opens the warm routes."""
    call(v2_event(headers=BROWSER))
    instance = api.task_registered(healthy=False)
    api.containers[instance] = (api.containers[instance][0], True)  # ECS: healthy; Cloud Map: not yet
    call(scheduled_event())
    instances = _cloud_map_instances(api)
    assert instances[f"wk-{instance}"] == "HEALTHY" and instances[instance] == "UNHEALTHY"
    call(v2_event(path="/_warmkeeper/status"))
    service = f"integrations/{api.service_integration_id}"
    assert api.warm_targets() == dict.fromkeys(WARM_ROUTE_KEYS, service)
    # The sleep removes the waker's own instance with the task.
    api.put_lock(requested_ago=timedelta(minutes=30), healthy_ago=timedelta(minutes=29))
    call(scheduled_event())
    assert api.desired() == 0 and f"wk-{instance}" not in _cloud_map_instances(api)


def test_a_task_cloud_map_calls_healthy_before_its_container_is_gets_no_warm_route(api: ApiWorld) -> None:
    """A task may start HEALTHY in Cloud Map (its first status is not documented) before it listens:
    the warm routes wait for ECS's container health."""
    call(v2_event(headers=BROWSER))
    instance = api.task_registered(healthy=True)
    api.containers[instance] = (api.containers[instance][0], False)  # listening not yet
    call(scheduled_event())
    call(v2_event(path="/_warmkeeper/status"))
    assert api.warm_targets() == {}
    api.task_health(instance, healthy=True)
    call(scheduled_event())
    call(v2_event(path="/_warmkeeper/status"))
    assert set(api.warm_targets()) == set(WARM_ROUTE_KEYS)
    assert f"wk-{instance}" not in _cloud_map_instances(api)  # Cloud Map showed it: nothing to add


def _deleted_ids(calls: list[str]) -> list[str]:
    return [c[len("DeleteRoute(") : -1] for c in calls if c.startswith("DeleteRoute(")]


def test_requests_counted_by_the_stage_keep_the_service_awake(api: ApiWorld) -> None:
    api.clients.ecs.update_service(cluster=api.cluster, service=api.service, desiredCount=1)
    api.task_registered(healthy=True)
    api.put_lock(requested_ago=timedelta(minutes=30), healthy_ago=timedelta(minutes=29))
    api.clients.cloudwatch.put_metric_data(
        Namespace="AWS/ApiGateway",
        MetricData=[
            {
                "MetricName": "Count",
                "Dimensions": [{"Name": "ApiId", "Value": api.api_id}, {"Name": "Stage", "Value": STAGE}],
                "Timestamp": datetime.now(UTC) - timedelta(minutes=1),
                "Value": 12,
                "Unit": "Count",
            }
        ],
    )
    call(scheduled_event())
    call(scheduled_event())
    assert api.desired() == 1 and set(api.warm_targets()) == set(WARM_ROUTE_KEYS)
    assert api.engine().status(with_tasks=False).last_activity_at is not None


def test_reconcile_repairs_drifted_warm_routes(api: ApiWorld) -> None:
    api.clients.ecs.update_service(cluster=api.cluster, service=api.service, desiredCount=1)
    api.task_registered(healthy=True)
    api.put_lock(requested_ago=timedelta(minutes=3), healthy_ago=timedelta(minutes=2))
    call(scheduled_event())
    routes = api.routes()
    # By hand: one warm route re-pointed at the waker, the other deleted.
    api.clients.apigatewayv2.update_route(
        ApiId=api.api_id,
        RouteId=routes["ANY /"]["RouteId"],
        Target=f"integrations/{api.waker_integration_id}",
    )
    api.clients.apigatewayv2.delete_route(ApiId=api.api_id, RouteId=routes["ANY /{proxy+}"]["RouteId"])
    report = api.engine().status()
    assert any("warm routes incomplete" in p for p in report.problems)
    api.calls.clear()
    call(scheduled_event())
    service = f"integrations/{api.service_integration_id}"
    assert api.warm_targets() == dict.fromkeys(WARM_ROUTE_KEYS, service)
    assert sorted(api.calls) == sorted(
        [f"UpdateRoute({routes['ANY /']['RouteId']})", "CreateRoute(ANY /{proxy+})"]
    )
    assert any("warm route repaired (drift)" in json.dumps(json.loads(line)) for line in api.logs)
    # Nothing left to repair: the next reconcile changes nothing.
    api.calls.clear()
    call(scheduled_event())
    assert api.calls == []


def test_reconcile_deletes_a_stray_warm_route_while_cold(api: ApiWorld) -> None:
    api.clients.apigatewayv2.create_route(
        ApiId=api.api_id, RouteKey="ANY /{proxy+}", Target=f"integrations/{api.service_integration_id}"
    )
    call(scheduled_event())
    assert api.warm_targets() == {}
    assert api.desired() == 0


# --- the VPC link, status -------------------------------------------------------------------------------


def test_an_inactive_vpc_link_is_reported_by_the_reconcile_and_status(api: ApiWorld) -> None:
    call(scheduled_event())
    assert api.metric_sum(MetricName.VPC_LINK_INACTIVE) == 0
    api.link_status = "INACTIVE"
    call(scheduled_event())
    assert api.metric_sum(MetricName.VPC_LINK_INACTIVE) == 1
    assert "vpc link inactive" in api.log_messages()
    report = api.engine().status()
    assert report.front_door["vpc link"].startswith(f"{api.vpc_link_id} INACTIVE")
    assert any("INACTIVE" in problem and "runbook" in problem for problem in report.problems)


def test_status_through_the_stack_outputs_shows_routes_instances_and_link(api: ApiWorld) -> None:
    api.clients.cloudformation.create_stack(
        StackName="Cityguided-staging-api",
        TemplateBody=json.dumps(
            {
                "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {key: {"Value": value} for key, value in _stack_outputs(api).items()},
            }
        ),
    )
    try:
        api.clients.ecs.update_service(cluster=api.cluster, service=api.service, desiredCount=1)
        api.task_registered(healthy=True)
        control = AwsControl.from_stack(
            stack_name="Cityguided-staging-api", app=APP, env=ENV, policy=POLICY, clients=api.clients
        )
        assert control.engine.settings == replace(api.settings, keepalive_secret_arn=None)
        control.wake()
        report = control.status()
        lines = "\n".join(human_status(report))
        assert report.routing == "service"
        assert "routes      ANY / -> service; ANY /{proxy+} -> service" in lines
        assert "cloud map   1 healthy, 10.0.1." in lines
        assert f"vpc link    {api.vpc_link_id} AVAILABLE" in lines
    finally:
        api.clients.cloudformation.delete_stack(StackName="Cityguided-staging-api")


def test_http_api_settings_round_trip_and_name_what_is_missing(api: ApiWorld) -> None:
    variables = api.settings.to_env()
    assert variables["WK_FRONT_DOOR"] == "http_api"
    assert json.loads(variables["WK_WARM_ROUTE_KEYS"]) == list(WARM_ROUTE_KEYS)
    assert not any(
        name.startswith(("WK_LISTENER", "WK_SERVICE_TARGET", "WK_WARM_RULE")) for name in variables
    )
    assert Settings.from_env(variables) == api.settings
    from warmkeeper.aws.lambda_settings import SettingsError

    with pytest.raises(
        SettingsError, match="WK_CLOUD_MAP_NAMESPACE: required when WK_FRONT_DOOR is http_api"
    ):
        Settings.from_env({**variables, "WK_CLOUD_MAP_NAMESPACE": ""})
    with pytest.raises(SettingsError, match="WK_WARM_ROUTE_KEYS: expected a JSON list"):
        Settings.from_env({**variables, "WK_WARM_ROUTE_KEYS": '"ANY /"'})
    with pytest.raises(Exception, match="has no output ApiStage, ServiceIntegrationId"):
        settings_from_outputs(
            {OUTPUT_API_ID: "x", OUTPUT_CLUSTER: "c", OUTPUT_SERVICE: "s", OUTPUT_PARAMETER_PREFIX: "/p"},
            stack_name="S",
            app=APP,
            env=ENV,
            policy=POLICY,
            cloud_map_names=("n", "s"),
        )


def _stack_outputs(api: ApiWorld) -> dict[str, str]:
    """The outputs an HTTP API stack gives the CLI, for the test world's resources."""
    return {
        OUTPUT_CLUSTER: api.cluster,
        OUTPUT_SERVICE: api.service,
        OUTPUT_PARAMETER_PREFIX: PREFIX,
        OUTPUT_API_ID: api.api_id,
        OUTPUT_API_STAGE: STAGE,
        OUTPUT_SERVICE_INTEGRATION_ID: api.service_integration_id,
        OUTPUT_VPC_LINK_ID: api.vpc_link_id,
        OUTPUT_CLOUD_MAP_SERVICE_ID: api.cloud_map_service_id,
    }


def _routing(api: ApiWorld, **extra: Any) -> Any:
    """The HTTP API's routing on the test world's API, built directly (no engine)."""
    from warmkeeper.aws.http_api_routing import HttpApiRouting

    return HttpApiRouting(
        api.clients.apigatewayv2,
        api.clients.servicediscovery,
        api_id=api.api_id,
        service_integration_id=api.service_integration_id,
        warm_route_keys=WARM_ROUTE_KEYS,
        vpc_link_id=api.vpc_link_id,
        cloud_map_namespace=NAMESPACE,
        cloud_map_service_name="app",
        **extra,
    )


def _refusal(status: int, code: str, message: str) -> Any:
    """What a botocore ``before-call`` handler returns to answer with API Gateway's error."""
    from botocore.awsrequest import AWSResponse

    error = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return AWSResponse("https://apigateway", status, {}, None), error


def test_a_concurrent_modification_conflict_is_retried_not_taken_for_the_route(api: ApiWorld) -> None:
    """API Gateway answers ConflictException both for a route key that exists and for a concurrent
    modification of the API: the second is tried again, never read as "the route is there"."""
    refused: list[str] = []

    def conflict_once(**_: Any) -> Any:
        if refused:
            return None
        refused.append("CreateRoute")
        return _refusal(
            409,
            "ConflictException",
            "Unable to complete operation due to concurrent modification. Try again later.",
        )

    api.hook(api.clients.apigatewayv2, "before-call.apigatewayv2.CreateRoute", conflict_once)
    pauses: list[float] = []
    routing = _routing(api, pause=pauses.append)
    assert routing.route_to_service() is True
    assert refused == ["CreateRoute"] and pauses  # refused once, paused, created on the next try
    service = f"integrations/{api.service_integration_id}"
    assert api.warm_targets() == dict.fromkeys(WARM_ROUTE_KEYS, service)


def test_the_first_routes_creator_keeps_the_claim_when_a_later_route_key_fails(api: ApiWorld) -> None:
    """A herd's invocations all find the task healthy in the same second; the one that created the
    first warm route may see its second CreateRoute throttled. It stays the one that created the
    routes (so it records the wake and publishes the cold-start metric: before, nobody did), and
    the next call completes the set without claiming it."""
    from warmkeeper.aws.http_api_routing import WarmRoutesIncompleteError

    calls: list[str] = []

    def refuse_the_second(**_: Any) -> Any:
        calls.append("CreateRoute")
        if len(calls) != 2:
            return None
        return _refusal(400, "BadRequestException", "refused for the test")

    api.hook(api.clients.apigatewayv2, "before-call.apigatewayv2.CreateRoute", refuse_the_second)
    routing = _routing(api)
    with pytest.raises(WarmRoutesIncompleteError, match="refused for the test"):
        routing.route_to_service()
    service = f"integrations/{api.service_integration_id}"
    assert api.warm_targets() == {WARM_ROUTE_KEYS[0]: service}
    assert routing.route_to_service() is False  # completed, not claimed a second time
    assert api.warm_targets() == dict.fromkeys(WARM_ROUTE_KEYS, service)


def test_a_wake_through_an_inactive_vpc_link_holds_the_warm_routes_back_and_says_why(api: ApiWorld) -> None:
    """A VPC link unused for 60 days is INACTIVE: requests through it fail until API Gateway has
    reprovisioned it, which only a request through it starts. The wake starts it (a probe route to
    the service, one request through it), the warm routes wait for AVAILABLE, and a client is told
    why it must come back later (503, Retry-After), never sent into the link."""
    from warmkeeper.aws.http_api_routing import LINK_PROBE_ROUTE_KEY

    api.link_status = "INACTIVE"
    api.containers.clear()
    call(v2_event(headers=BROWSER))
    assert api.desired() == 1 and api.probes == ["probe"]
    routes = api.routes()
    assert routes[LINK_PROBE_ROUTE_KEY]["Target"] == f"integrations/{api.service_integration_id}"
    instance = api.task_registered(healthy=True)
    api.containers[instance] = (api.containers[instance][0], True)
    response = call(v2_event(path="/api/places", headers={"accept": "application/json"}))
    assert response["statusCode"] == 503 and "retry-after" in {k.lower() for k in response["headers"]}
    assert "network link" in response["body"]
    assert api.warm_targets() == {}
    # Back to AVAILABLE: the next environment that looks creates the warm routes.
    api.link_status = "AVAILABLE"
    lambda_handler.use(api.engine())
    call(v2_event(path="/_warmkeeper/status"))
    assert set(api.warm_targets()) == set(WARM_ROUTE_KEYS)


# --- the stack's front service: API Gateway reads only what the waker registers ---------------------------


def _front_service(api: ApiWorld) -> tuple[str, str]:
    """The stack's front service beside ECS's (same namespace, custom health): (id, name)."""
    discovery = api.clients.servicediscovery
    namespace_id = next(n["Id"] for n in discovery.list_namespaces()["Namespaces"] if n["Name"] == NAMESPACE)
    listed = discovery.list_services()["Services"]
    found = next((s for s in listed if s["Name"] == "app-front"), None)
    if found is None:
        found = discovery.create_service(
            Name="app-front",
            NamespaceId=namespace_id,
            DnsConfig={"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "SRV", "TTL": 10}]},
            HealthCheckCustomConfig={"FailureThreshold": 1},
        )["Service"]
    for instance in discovery.list_instances(ServiceId=found["Id"])["Instances"]:
        discovery.deregister_instance(ServiceId=found["Id"], InstanceId=instance["Id"])
    return str(found["Id"]), "app-front"


def _instances_of(api: ApiWorld, service_name: str) -> dict[str, str]:
    found = api.clients.servicediscovery.discover_instances(
        NamespaceName=NAMESPACE, ServiceName=service_name, HealthStatus="ALL"
    )["Instances"]
    return {str(i["InstanceId"]): str(i.get("HealthStatus")) for i in found}


def test_with_a_front_service_a_task_ecs_registered_healthy_is_not_ready_until_the_waker_registers_it(
    api: ApiWorld,
) -> None:
    """ECS's instance may start HEALTHY before the task listens (its first status is undocumented):
    with the stack's front service, API Gateway never reads ECS's service, the warm routes wait for
    the waker's own instance there, registered once ECS finds the container healthy, and removed
    when ECS no longer does."""
    front_id, front_name = _front_service(api)
    settings = replace(
        api.settings, cloud_map_front_service_id=front_id, cloud_map_front_service_name=front_name
    )
    lambda_handler.use(build_engine(settings, api.clients, sleep=api.sleeps.append, link_probe=lambda: None))
    call(v2_event(headers=BROWSER))
    instance = api.task_registered(healthy=True)  # ECS's own: HEALTHY in its service at once
    api.containers[instance] = (api.containers[instance][0], False)  # not listening yet
    call(scheduled_event())
    call(v2_event(path="/_warmkeeper/status"))
    assert api.warm_targets() == {}  # ECS's HEALTHY instance is not what API Gateway reads
    assert _instances_of(api, front_name) == {}
    api.containers[instance] = (api.containers[instance][0], True)  # ECS: the container is healthy
    call(scheduled_event())
    assert _instances_of(api, front_name) == {f"wk-{instance}": "HEALTHY"}
    assert f"wk-{instance}" not in _instances_of(api, "app")  # nothing of the waker's in ECS's service
    call(v2_event(path="/_warmkeeper/status"))
    assert set(api.warm_targets()) == set(WARM_ROUTE_KEYS)
    # The task's container fails (ECS: no longer healthy): its instance leaves the front service.
    api.containers[instance] = (api.containers[instance][0], False)
    call(scheduled_event())
    assert _instances_of(api, front_name) == {}


def test_the_cli_reads_the_front_service_from_the_stack_outputs(api: ApiWorld) -> None:
    """`warmkeeper status`/`wake` on a stack with a front service: the CLI's engine registers in it and
    reads it as API Gateway does (else it would open the warm routes on ECS's service's word)."""
    front_id, front_name = _front_service(api)
    outputs = {**_stack_outputs(api), OUTPUT_CLOUD_MAP_FRONT_SERVICE_ID: front_id}
    api.clients.cloudformation.create_stack(
        StackName="Cityguided-staging-front",
        TemplateBody=json.dumps(
            {
                "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {key: {"Value": value} for key, value in outputs.items()},
            }
        ),
    )
    try:
        control = AwsControl.from_stack(
            stack_name="Cityguided-staging-front", app=APP, env=ENV, policy=POLICY, clients=api.clients
        )
        assert control.engine.settings == replace(
            api.settings,
            keepalive_secret_arn=None,
            cloud_map_front_service_id=front_id,
            cloud_map_front_service_name=front_name,
        )
        api.clients.ecs.update_service(cluster=api.cluster, service=api.service, desiredCount=1)
        instance = api.task_registered(healthy=True)
        api.containers[instance] = (api.containers[instance][0], True)
        control.wake()
        report = control.status()
        assert report.routing == "service"
        assert _instances_of(api, front_name) == {f"wk-{instance}": "HEALTHY"}
    finally:
        api.clients.cloudformation.delete_stack(StackName="Cityguided-staging-front")
