"""The HTTP API front door (`front_door = "http_api"`): API Gateway, a VPC link and Cloud Map
instead of a load balancer, the waker's routes, and a run-time warm route CloudFormation never owns."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest

from tests.conftest import EXAMPLE_CONFIG
from tests.infra.conftest import PRIVATE_RANGES
from tests.infra.support import SynthesizedEnv, dashboard_body, get_att, ref, statements
from warmkeeper import naming as keys
from warmkeeper.aws.lambda_settings import VARIABLES, Settings
from warmkeeper.config import (
    ALLOWED_FROM_ENVIRONMENT_VARIABLE,
    CLIENT_IP_HEADER_ENVIRONMENT_VARIABLE,
    TRUSTED_PROXIES_ENVIRONMENT_VARIABLE,
    parse_config,
)
from warmkeeper.infra.network import VPC_CIDR

pytestmark = pytest.mark.infra

PARIS_CERTIFICATE = "arn:aws:acm:eu-west-3:123456789012:certificate/6b1f0c1e-2d4a-4c55-9a39-0f1b2c3d4e5f"
DOMAIN = "staging.cityguided.example"
PRIVATE_VARIABLES = {
    ALLOWED_FROM_ENVIRONMENT_VARIABLE,
    TRUSTED_PROXIES_ENVIRONMENT_VARIABLE,
    CLIENT_IP_HEADER_ENVIRONMENT_VARIABLE,
}
LOAD_BALANCER_TYPES = (
    "AWS::ElasticLoadBalancingV2::LoadBalancer",
    "AWS::ElasticLoadBalancingV2::Listener",
    "AWS::ElasticLoadBalancingV2::ListenerRule",
    "AWS::ElasticLoadBalancingV2::TargetGroup",
)


def _routes(synth: SynthesizedEnv) -> dict[str, dict[str, Any]]:
    return {
        route["Properties"]["RouteKey"]: route["Properties"]
        for route in synth.resources("AWS::ApiGatewayV2::Route").values()
    }


def _integration_target(logical_id: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["integrations/", ref(logical_id)]]}


def test_no_load_balancer_while_production_keeps_its_own(
    http_api_staging: SynthesizedEnv, production: SynthesizedEnv
) -> None:
    for resource_type in LOAD_BALANCER_TYPES:
        http_api_staging.template.resource_count_is(resource_type, 0)
    production.template.resource_count_is("AWS::ElasticLoadBalancingV2::LoadBalancer", 1)
    production.template.resource_count_is("AWS::ApiGatewayV2::Api", 0)
    # Nor the pieces that only a load balancer needs: isolated subnets, NAT, an ELB invoke permission.
    http_api_staging.template.resource_count_is("AWS::EC2::NatGateway", 0)
    subnets = http_api_staging.resources("AWS::EC2::Subnet").values()
    assert all(subnet["Properties"]["MapPublicIpOnLaunch"] for subnet in subnets)
    principals = {
        p["Properties"]["Principal"] for p in http_api_staging.resources("AWS::Lambda::Permission").values()
    }
    assert "elasticloadbalancing.amazonaws.com" not in principals


def test_api_and_its_default_stage(http_api_staging: SynthesizedEnv) -> None:
    synth = http_api_staging
    api_id, api = synth.only("AWS::ApiGatewayV2::Api")
    assert api["ProtocolType"] == "HTTP" and api["Name"] == "cityguided-staging"
    _, stage = synth.only("AWS::ApiGatewayV2::Stage")
    assert stage["ApiId"] == ref(api_id)
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    env = synth.settings
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": env.api_burst_limit,
        "ThrottlingRateLimit": env.api_rate_limit,
    }
    # The waker's routes have their own, lower buckets: a flood on /_warmkeeper/status or on the cold
    # catch-all is throttled there, and the app's routes keep the stage's default.
    endpoint = {
        "ThrottlingBurstLimit": env.endpoint_burst_limit,
        "ThrottlingRateLimit": env.endpoint_rate_limit,
    }
    assert stage["RouteSettings"] == {
        "ANY /_warmkeeper": endpoint,
        "ANY /_warmkeeper/{proxy+}": endpoint,
        "$default": {
            "ThrottlingBurstLimit": env.waker_burst_limit,
            "ThrottlingRateLimit": env.waker_rate_limit,
        },
    }
    assert env.endpoint_rate_limit < env.api_rate_limit and env.waker_rate_limit < env.api_rate_limit
    routes = {
        r["Properties"]["RouteKey"]: logical
        for logical, r in synth.resources("AWS::ApiGatewayV2::Route").items()
    }
    depends = set(synth.raw["Resources"][synth.logical_id("FrontDoor/Stage")].get("DependsOn", []))
    assert {routes[key] for key in stage["RouteSettings"]} <= depends
    # Access logs: one JSON object per request, into a log group with the environment's retention.
    logs = stage["AccessLogSettings"]
    log_group_id = synth.logical_id("FrontDoor/AccessLogs")
    assert logs["DestinationArn"] == get_att(log_group_id, "Arn")
    fields = json.loads(logs["Format"])
    assert {"requestId", "status", "routeKey", "integrationError"} <= set(fields)
    log_group = synth.properties(log_group_id)
    assert log_group["LogGroupName"] == "/warmkeeper/cityguided/staging/api-access"
    assert log_group["RetentionInDays"] == env.log_retention_days


def test_waker_owns_its_paths_and_the_default_route(http_api_staging: SynthesizedEnv) -> None:
    synth = http_api_staging
    routes = _routes(synth)
    # The warm routes (ANY /, ANY /{proxy+}) are the waker's, created at run time: not in the template.
    assert set(routes) == {"ANY /_warmkeeper", "ANY /_warmkeeper/{proxy+}", "$default"}
    integrations = synth.resources("AWS::ApiGatewayV2::Integration")
    (waker_id,) = [
        key for key, value in integrations.items() if value["Properties"]["IntegrationType"] == "AWS_PROXY"
    ]
    waker = integrations[waker_id]["Properties"]
    function_id = synth.logical_id("Waker/Function")
    assert waker["IntegrationUri"] == get_att(function_id, "Arn")
    assert waker["PayloadFormatVersion"] == "2.0"
    # No timeout set: an HTTP API's default, 30 s, is also its maximum.
    assert "TimeoutInMillis" not in waker
    for route in routes.values():
        assert route["Target"] == _integration_target(waker_id)
    # API Gateway may invoke the waker for this API's routes only.
    permissions = [
        p["Properties"]
        for p in synth.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert len(permissions) == 3
    api_id, _ = synth.only("AWS::ApiGatewayV2::Api")
    for permission in permissions:
        assert permission["FunctionName"] == get_att(function_id, "Arn")
        assert ref(api_id) in permission["SourceArn"]["Fn::Join"][1]


def _tasks_service(synth: SynthesizedEnv) -> str:
    """ECS's Cloud Map service (the one the ECS service registers its tasks in)."""
    _, service = synth.only("AWS::ECS::Service")
    registry = service["ServiceRegistries"][0]["RegistryArn"]
    return str(registry["Fn::GetAtt"][0])


def test_service_integration_goes_through_the_vpc_link_to_the_wakers_front_service(
    http_api_staging: SynthesizedEnv,
) -> None:
    synth = http_api_staging
    integration = synth.properties(synth.logical_id("FrontDoor/ServiceIntegration"))
    assert integration["IntegrationType"] == "HTTP_PROXY"
    assert integration["ConnectionType"] == "VPC_LINK"
    assert integration["ConnectionId"] == ref(synth.logical_id("FrontDoor/VpcLink"))
    # Scaling to zero, API Gateway reads the front service, where only the waker registers ready
    # tasks, never ECS's own (whose instances may be HEALTHY before the task listens).
    front_id = synth.logical_id("FrontDoor/FrontService")
    assert front_id != _tasks_service(synth)
    assert integration["IntegrationUri"] == get_att(front_id, "Arn")
    front = synth.properties(front_id)
    namespace_id, _ = synth.only("AWS::ServiceDiscovery::PrivateDnsNamespace")
    assert front["NamespaceId"] == get_att(namespace_id, "Id")
    assert front["Name"] == "cityguided-front"
    assert [record["Type"] for record in front["DnsConfig"]["DnsRecords"]] == ["SRV"]
    # Custom health, so that RegisterInstance's AWS_INIT_HEALTH_STATUS (HEALTHY) applies at once.
    assert "HealthCheckCustomConfig" in front and "HealthCheckConfig" not in front
    assert integration["IntegrationMethod"] == "ANY"
    # In a scale-to-zero environment no template route uses it: the warm routes are the waker's.
    targets = [route["Target"] for route in _routes(synth).values()]
    assert _integration_target(synth.logical_id("FrontDoor/ServiceIntegration")) not in targets


def test_cloud_map_registers_tasks_with_srv_records_and_ecs_health(http_api_staging: SynthesizedEnv) -> None:
    synth = http_api_staging
    namespace_id, namespace = synth.only("AWS::ServiceDiscovery::PrivateDnsNamespace")
    assert namespace["Name"] == "staging.cityguided.warmkeeper.internal"
    assert namespace["Vpc"] == ref(synth.logical_id("Network/Vpc"))
    cloud_map_id = _tasks_service(synth)
    cloud_map = synth.properties(cloud_map_id)
    assert len(synth.resources("AWS::ServiceDiscovery::Service")) == 2  # ECS's and the waker's front
    assert cloud_map["NamespaceId"] == get_att(namespace_id, "Id")
    # SRV: API Gateway needs each instance's port, which an A record does not carry.
    assert [record["Type"] for record in cloud_map["DnsConfig"]["DnsRecords"]] == ["SRV"]
    # ECS's custom health status: only instances of tasks ECS finds healthy are discovered.
    assert "HealthCheckCustomConfig" in cloud_map and "HealthCheckConfig" not in cloud_map
    service_id, service = synth.only("AWS::ECS::Service")
    entry = synth.config.entry_container
    assert service["ServiceRegistries"] == [
        {
            "ContainerName": entry.name,
            "ContainerPort": entry.port,
            "RegistryArn": get_att(cloud_map_id, "Arn"),
        }
    ]
    assert "LoadBalancers" not in service
    # The reference orders the deploy: the Cloud Map service exists before the ECS service.
    assert synth.raw["Resources"][service_id]["Properties"]["ServiceRegistries"][0]["RegistryArn"] == get_att(
        cloud_map_id, "Arn"
    )


def test_tasks_admit_the_vpc_link_alone(http_api_staging: SynthesizedEnv) -> None:
    synth = http_api_staging
    task_group = synth.logical_id("App/TaskSecurityGroup")
    link_group = synth.logical_id("FrontDoor/VpcLinkSecurityGroup")
    _, vpc_link = synth.only("AWS::ApiGatewayV2::VpcLink")
    assert vpc_link["SecurityGroupIds"] == [get_att(link_group, "GroupId")]
    public_subnets = [
        ref(key)
        for key, subnet in synth.resources("AWS::EC2::Subnet").items()
        if subnet["Properties"]["MapPublicIpOnLaunch"]
    ]
    assert sorted(map(str, vpc_link["SubnetIds"])) == sorted(map(str, public_subnets))  # the tasks' subnets
    entry_port = synth.config.entry_container.port
    assert "SecurityGroupIngress" not in synth.properties(task_group)
    to_tasks = [
        rule["Properties"]
        for rule in synth.resources("AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == get_att(task_group, "GroupId")
    ]
    assert len(to_tasks) == 1
    assert to_tasks[0]["SourceSecurityGroupId"] == get_att(link_group, "GroupId")
    assert (to_tasks[0]["FromPort"], to_tasks[0]["ToPort"], to_tasks[0]["IpProtocol"]) == (
        entry_port,
        entry_port,
        "tcp",
    )
    # The link's group talks to the tasks' entry port only: its one egress rule, inline (no allow-all).
    link = synth.properties(link_group)
    assert link["SecurityGroupEgress"] == [
        {
            "Description": "HTTP API VPC link to the tasks entry port",
            "DestinationSecurityGroupId": get_att(task_group, "GroupId"),
            "FromPort": entry_port,
            "IpProtocol": "tcp",
            "ToPort": entry_port,
        }
    ]
    assert "SecurityGroupIngress" not in link
    # Nothing in the environment is open to the internet.
    for rule in synth.resources("AWS::EC2::SecurityGroupIngress").values():
        assert rule["Properties"].get("CidrIp") != "0.0.0.0/0"
    for group in synth.resources("AWS::EC2::SecurityGroup").values():
        for rule in group["Properties"].get("SecurityGroupIngress", []):
            assert rule.get("CidrIp") != "0.0.0.0/0"


def test_idle_alarm_reads_the_stages_request_count(http_api_staging: SynthesizedEnv) -> None:
    synth = http_api_staging
    alarm = synth.properties(synth.logical_id("Idle/Alarm"))
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/ApiGateway", "Count", "Sum")
    api_id, _ = synth.only("AWS::ApiGatewayV2::Api")
    assert {item["Name"]: item["Value"] for item in alarm["Dimensions"]} == {
        "ApiId": ref(api_id),
        "Stage": "$default",
    }
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == synth.settings.idle_minutes
    # Its state changes reach the waker through EventBridge, as behind a load balancer.
    function_arn = get_att(synth.logical_id("Waker/Function"), "Arn")
    rule = synth.properties(synth.logical_id("Idle/AlarmStateChange"))
    assert rule["EventPattern"]["resources"] == [get_att(synth.logical_id("Idle/Alarm"), "Arn")]
    assert [target["Arn"] for target in rule["Targets"]] == [function_arn]


def test_dashboard_and_alarms_read_the_api(http_api_staging: SynthesizedEnv) -> None:
    synth = http_api_staging
    _, dashboard = synth.only("AWS::CloudWatch::Dashboard")
    body = dashboard_body(dashboard["DashboardBody"])
    drawn = {
        (line[0], line[1])
        for widget in body["widgets"]
        for line in widget["properties"].get("metrics", [])
        if not isinstance(line[0], dict)
    }
    assert {("AWS/ApiGateway", name) for name in ("Count", "4xx", "5xx", "IntegrationLatency")} <= drawn
    assert not any(namespace == "AWS/ApplicationELB" for namespace, _ in drawn)
    names = {a["Properties"]["AlarmName"] for a in synth.resources("AWS::CloudWatch::Alarm").values()}
    assert "Cityguided-staging-unhealthy-targets" not in names  # no target group to watch
    inactive = next(
        a["Properties"]
        for a in synth.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"] == "Cityguided-staging-vpc-link-inactive"
    )
    assert (inactive["Namespace"], inactive["MetricName"], inactive["Statistic"]) == (
        "Warmkeeper",
        "VpcLinkInactive",
        "Maximum",
    )
    assert {d["Name"]: d["Value"] for d in inactive["Dimensions"]} == {"App": "cityguided", "Env": "staging"}
    assert inactive["Threshold"] == 1 and inactive["TreatMissingData"] == "notBreaching"
    error_rate = next(
        a["Properties"]
        for a in synth.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"] == "Cityguided-staging-5xx-rate"
    )
    used = {
        (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"])
        for m in error_rate["Metrics"]
        if "MetricStat" in m
    }
    assert used == {("AWS/ApiGateway", "Count"), ("AWS/ApiGateway", "5xx")}


def test_waker_may_switch_this_apis_routes_and_read_cloud_map(http_api_staging: SynthesizedEnv) -> None:
    synth = http_api_staging
    _, function = synth.only("AWS::Lambda::Function")
    variables = function["Environment"]["Variables"]
    api_id, _ = synth.only("AWS::ApiGatewayV2::Api")
    assert variables["WK_FRONT_DOOR"] == "http_api"
    assert variables["WK_API_ID"] == ref(api_id)
    assert variables["WK_API_STAGE"] == "$default"
    assert variables["WK_SERVICE_INTEGRATION_ID"] == ref(synth.logical_id("FrontDoor/ServiceIntegration"))
    assert json.loads(variables["WK_WARM_ROUTE_KEYS"]) == ["ANY /", "ANY /{proxy+}"]
    assert variables["WK_VPC_LINK_ID"] == ref(synth.logical_id("FrontDoor/VpcLink"))
    cloud_map_id = _tasks_service(synth)
    front_id = synth.logical_id("FrontDoor/FrontService")
    assert variables["WK_CLOUD_MAP_SERVICE_ID"] == get_att(cloud_map_id, "Id")
    assert variables["WK_CLOUD_MAP_FRONT_SERVICE_ID"] == get_att(front_id, "Id")
    assert variables["WK_CLOUD_MAP_FRONT_SERVICE_NAME"] == get_att(front_id, "Name")
    assert not any(
        name.startswith(("WK_LISTENER", "WK_LOAD_BALANCER", "WK_TARGET_GROUP", "WK_WARM_RULE"))
        for name in variables
    )
    # The contract's round trip: the variables read back into the Lambda's settings of this front door.
    resolved = {name: value if isinstance(value, str) else "resolved" for name, value in variables.items()}
    lambda_settings = Settings.from_env(resolved)
    assert lambda_settings.http_api and lambda_settings.warm_route_keys == ("ANY /", "ANY /{proxy+}")
    assert set(variables) <= set(VARIABLES.values())
    policy = synth.properties(synth.logical_id("FrontDoor/WakerPolicy"))
    assert policy["Roles"] == [ref(synth.logical_id("Waker/Role"))]
    by_sid = {statement["Sid"]: statement for statement in statements(policy)}
    rendered = json.dumps(by_sid)
    # Every API Gateway action names this API (or its VPC link), never another one.
    for sid in (
        "CreateWarmRoutesOnThisApi",
        "ReadAndChangeRoutesOfThisApi",
        "ReadThisApisIntegrationsAndVpcLink",
    ):
        for resource in (
            by_sid[sid]["Resource"]
            if isinstance(by_sid[sid]["Resource"], list)
            else [by_sid[sid]["Resource"]]
        ):
            assert (
                ref(api_id) in resource["Fn::Join"][1]
                or ref(synth.logical_id("FrontDoor/VpcLink")) in resource["Fn::Join"][1]
            )
    assert set(by_sid["ReadAndChangeRoutesOfThisApi"]["Action"]) == {
        "apigateway:GET",
        "apigateway:PATCH",
        "apigateway:DELETE",
    }
    # ... but never the stack's own routes (the waker's paths and $default): denied by their ids.
    denied = by_sid["NeverTheStacksOwnRoutes"]
    assert denied["Effect"] == "Deny"
    assert set(denied["Action"]) == {"apigateway:PATCH", "apigateway:DELETE"}
    own_routes = {
        logical
        for logical, route in synth.resources("AWS::ApiGatewayV2::Route").items()
        if route["Properties"]["RouteKey"] in ("$default", "ANY /_warmkeeper", "ANY /_warmkeeper/{proxy+}")
    }
    assert len(own_routes) == 3
    assert {resource["Fn::Join"][1][-1]["Ref"] for resource in denied["Resource"]} == own_routes
    assert by_sid["SeeTheTasksAsApiGatewayDoes"]["Condition"] == {
        "StringEquals": {"servicediscovery:NamespaceName": "staging.cityguided.warmkeeper.internal"}
    }
    assert by_sid["ReadTheInstancesOfThisCloudMapService"]["Resource"] == [
        get_att(cloud_map_id, "Arn"),
        get_att(front_id, "Arn"),
    ]
    # The waker registers ready tasks itself (Cloud Map applies ECS's health about 30 s late): in its
    # front service only (never ECS's), and the SRV records in this namespace's zone only.
    register = by_sid["RegisterReadyTasksInThisCloudMapService"]
    assert set(register["Action"]) == {
        "servicediscovery:RegisterInstance",
        "servicediscovery:DeregisterInstance",
    }
    assert register["Resource"] == get_att(front_id, "Arn")
    namespace_id, _ = synth.only("AWS::ServiceDiscovery::PrivateDnsNamespace")
    records = json.dumps(by_sid["WriteTheRecordsOfTheWakersOwnInstances"]["Resource"])
    assert "hostedzone/" in records and namespace_id in records and "*" not in records
    assert "elasticloadbalancing" not in json.dumps(
        statements(synth.properties(synth.logical_id("Waker/Policy")))
    )
    assert "apigateway:*" not in rendered


def test_outputs_name_the_api_and_no_listener(http_api_staging: SynthesizedEnv) -> None:
    outputs = http_api_staging.raw["Outputs"]
    api_id, _ = http_api_staging.only("AWS::ApiGatewayV2::Api")
    assert outputs[keys.OUTPUT_API_ID]["Value"] == ref(api_id)
    assert outputs[keys.OUTPUT_API_STAGE]["Value"] == "$default"
    assert {
        keys.OUTPUT_VPC_LINK_ID,
        keys.OUTPUT_SERVICE_INTEGRATION_ID,
        keys.OUTPUT_CLOUD_MAP_SERVICE_ID,
        keys.OUTPUT_CLOUD_MAP_FRONT_SERVICE_ID,
    } <= set(outputs)
    front_id = http_api_staging.logical_id("FrontDoor/FrontService")
    assert outputs[keys.OUTPUT_CLOUD_MAP_FRONT_SERVICE_ID]["Value"] == get_att(front_id, "Id")
    assert outputs[keys.OUTPUT_URL]["Value"] == get_att(api_id, "ApiEndpoint")
    for absent in (
        keys.OUTPUT_LISTENER_ARN,
        keys.OUTPUT_SERVICE_TARGET_GROUP_ARN,
        keys.OUTPUT_LOAD_BALANCER_DIMENSION,
    ):
        assert absent not in outputs


def test_always_on_http_api_sends_default_to_the_service_and_serves_a_domain() -> None:
    """Production-like on an HTTP API, with a custom domain: a small stack of its own (no full synthesis)."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_servicediscovery as servicediscovery
    from aws_cdk.assertions import Template

    from warmkeeper.infra.http_api import HttpApiFrontDoor
    from warmkeeper.infra.stack_settings import StackSettings

    data = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["environments"]["production"].update(
        front_door="http_api", domain=DOMAIN, certificate_arn=PARIS_CERTIFICATE
    )
    settings = StackSettings.create(parse_config(data, EXAMPLE_CONFIG.resolve()), "production")
    stack = Stack(App(), "HttpApiOnly")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0)
    namespace = servicediscovery.PrivateDnsNamespace(stack, "Namespace", name="x.internal", vpc=vpc)
    service = namespace.create_service("Service", dns_record_type=servicediscovery.DnsRecordType.SRV)
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    function = lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="x.h",
        code=lambda_.Code.from_inline("x"),
        role=role,
    )
    front_door = HttpApiFrontDoor(
        stack,
        "FrontDoor",
        settings=settings,
        vpc=vpc,
        subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        task_security_group=ec2.SecurityGroup(stack, "Tasks", vpc=vpc),
        cloud_map_service=service,
        function=function,
        role=role,
    )
    template = Template.from_stack(stack)
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in template.find_resources("AWS::ApiGatewayV2::Route").values()
    }
    integrations = template.find_resources("AWS::ApiGatewayV2::Integration")
    (service_integration,) = [
        k for k, v in integrations.items() if v["Properties"]["IntegrationType"] == "HTTP_PROXY"
    ]
    assert routes["$default"]["Target"] == _integration_target(service_integration)
    assert routes["ANY /_warmkeeper"]["Target"] != routes["$default"]["Target"]
    # Always on, no waker registers the tasks: API Gateway reads ECS's own service.
    assert front_door.front_service is None
    assert len(template.find_resources("AWS::ServiceDiscovery::Service")) == 1
    (domain,) = template.find_resources("AWS::ApiGatewayV2::DomainName").values()
    config = domain["Properties"]["DomainNameConfigurations"][0]
    assert domain["Properties"]["DomainName"] == DOMAIN
    assert config["CertificateArn"] == PARIS_CERTIFICATE
    assert config["EndpointType"] == "REGIONAL" and config["SecurityPolicy"] == "TLS_1_2"
    template.resource_count_is("AWS::ApiGatewayV2::ApiMapping", 1)
    assert front_door.url == f"https://{DOMAIN}"


def test_the_entry_container_drains_and_its_stop_timeout_covers_it(
    http_api_staging: SynthesizedEnv, production: SynthesizedEnv
) -> None:
    """ECS stops a task deregistered from Cloud Map at once while API Gateway may still send it requests
    (its cached discovery): the entry container learns its drain window, and outlives it."""
    window = http_api_staging.settings.drain_window_seconds
    assert window == 75
    for synth, expected in ((http_api_staging, str(window)), (production, None)):
        _, task = synth.only("AWS::ECS::TaskDefinition")
        definitions = {d["Name"]: d for d in task["ContainerDefinitions"]}
        for container in synth.config.containers:
            environment = {e["Name"]: e["Value"] for e in definitions[container.name].get("Environment", [])}
            assert environment.get("WARMKEEPER_DRAIN_SECONDS") == (expected if container.entry else None)
    entry = http_api_staging.config.entry_container
    _, task = http_api_staging.only("AWS::ECS::TaskDefinition")
    (definition,) = [d for d in task["ContainerDefinitions"] if d["Name"] == entry.name]
    assert window + 5 <= definition["StopTimeout"] <= 120


def test_a_private_environment_tells_the_entry_who_may_in_and_where_to_look(
    http_api_staging: SynthesizedEnv,
) -> None:
    """wake_allowed_from behind an HTTP API: the entry container gets the ranges, trusts the VPC (where
    the VPC link's interfaces are) and reads the header the service integration overwrites with the
    connection's source address, so a client cannot choose the address it is judged by."""
    _, task = http_api_staging.only("AWS::ECS::TaskDefinition")
    definitions = {d["Name"]: d for d in task["ContainerDefinitions"]}
    for container in http_api_staging.config.containers:
        environment = {e["Name"]: e["Value"] for e in definitions[container.name].get("Environment", [])}
        private = {name: value for name, value in environment.items() if name in PRIVATE_VARIABLES}
        if not container.entry:
            assert private == {}
            continue
        assert private == {
            "WARMKEEPER_ALLOWED_FROM": " ".join(PRIVATE_RANGES),
            "WARMKEEPER_TRUSTED_PROXIES": VPC_CIDR,
            "WARMKEEPER_CLIENT_IP_HEADER": "X-Warmkeeper-Client-Ip",
        }
    integration = http_api_staging.properties(http_api_staging.logical_id("FrontDoor/ServiceIntegration"))
    assert integration["RequestParameters"] == {
        "overwrite:header.x-warmkeeper-client-ip": "$context.identity.sourceIp"
    }


def test_an_open_environment_sets_no_private_variables(staging: SynthesizedEnv) -> None:
    _, task = staging.only("AWS::ECS::TaskDefinition")
    for definition in task["ContainerDefinitions"]:
        names = {e["Name"] for e in definition.get("Environment", [])}
        assert not names & PRIVATE_VARIABLES
