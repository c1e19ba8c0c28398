"""Internal services ([[services]]) on AWS: the example's osrm as an ECS service of its own, reached from
the app's tasks only, found through Cloud Map, woken through the waker's function URL, with its own
activity metric, idle alarm, operational alarm and dashboard row; and an app without services has none
of it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.support import SynthesizedEnv, dashboard_body, flatten_join, get_att, ref, statements
from warmkeeper.aws.lambda_settings import Settings
from warmkeeper.aws.metrics import METRICS_NAMESPACE
from warmkeeper.config import parse_s3_location
from warmkeeper.infra.cloud_map import namespace_name
from warmkeeper.infra.stack_settings import StackSettings
from warmkeeper.naming import (
    BEACON_VARIABLE,
    WAKE_SECRET_VARIABLE,
    WAKER_URL_VARIABLE,
    service_host_variable,
    service_port_variable,
)

pytestmark = pytest.mark.infra

OSRM_PORT = 5000


@pytest.fixture(params=["services_staging", "services_http_api"])
def with_services(request: pytest.FixtureRequest) -> SynthesizedEnv:
    """The example with its osrm service, behind CloudFront and behind an HTTP API (both watched)."""
    synthesized: SynthesizedEnv = request.getfixturevalue(request.param)
    return synthesized


def _service_ids(env: SynthesizedEnv) -> tuple[str, str]:
    return env.logical_id("App/Service/Service"), env.logical_id("Services/Osrm/Service/Service")


def _lambda_settings(env: SynthesizedEnv) -> dict[str, Any]:
    function = env.properties(env.logical_id("Waker/Function"))
    return dict(function["Environment"]["Variables"])


def test_two_ecs_services_each_with_its_own_task_definition(with_services: SynthesizedEnv) -> None:
    services = with_services.resources("AWS::ECS::Service")
    assert set(services) == set(_service_ids(with_services))
    osrm = with_services.properties(with_services.logical_id("Services/Osrm/Service/Service"))
    task = with_services.properties(with_services.logical_id("Services/Osrm/TaskDefinition"))
    assert osrm["TaskDefinition"] == ref(with_services.logical_id("Services/Osrm/TaskDefinition"))
    # The service's own size and architecture (x86_64 while the app's task is arm64).
    settings = with_services.config.service_settings("osrm", with_services.env_name)
    assert (task["Cpu"], task["Memory"]) == (str(settings.cpu), str(settings.memory)) == ("512", "3072")
    assert task["RuntimePlatform"]["CpuArchitecture"] == "X86_64"
    app_task = with_services.properties(with_services.logical_id("App/TaskDefinition"))
    assert app_task["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
    assert task["Family"] == f"cityguided-{with_services.env_name}-osrm"
    # The waker owns the count: a deploy never sets it (CloudFormation would on every update).
    assert "DesiredCount" not in osrm
    spot = "FARGATE_SPOT" if settings.spot else "FARGATE"
    assert osrm["CapacityProviderStrategy"] == [{"CapacityProvider": spot, "Weight": 1}]
    # Created after the cluster's capacity providers, like the app's.
    osrm_id = with_services.logical_id("Services/Osrm/Service/Service")
    depends = with_services.raw["Resources"][osrm_id]["DependsOn"]
    assert any(name.startswith("Cluster") for name in depends)


def test_the_init_container_runs_to_completion_and_shares_the_data_volume(
    with_services: SynthesizedEnv,
) -> None:
    task = with_services.properties(with_services.logical_id("Services/Osrm/TaskDefinition"))
    containers = {c["Name"]: c for c in task["ContainerDefinitions"]}
    assert list(containers) == ["osrm-data", "osrm"]
    assert containers["osrm-data"]["Essential"] is False
    assert containers["osrm-data"]["Image"] == "public.ecr.aws/aws-cli/aws-cli:2.22.35"
    assert containers["osrm"]["Essential"] is True
    assert containers["osrm"]["DependsOn"] == [{"ContainerName": "osrm-data", "Condition": "SUCCESS"}]
    # /data: ONE volume both containers mount (what the init container copies, osrm reads); /tmp of the
    # init container alone is its own.
    mounts = {
        name: {m["ContainerPath"]: m["SourceVolume"] for m in c["MountPoints"]}
        for name, c in containers.items()
    }
    assert mounts["osrm-data"]["/data"] == mounts["osrm"]["/data"] == "writable-data"
    assert mounts["osrm-data"]["/tmp"] == "osrm-data-writable-1"
    assert sorted(v["Name"] for v in task["Volumes"]) == ["osrm-data-writable-1", "writable-data"]
    # Each container logs to its own group.
    groups = {name: c["LogConfiguration"]["Options"]["awslogs-group"] for name, c in containers.items()}
    assert {
        name: with_services.properties(group["Ref"])["LogGroupName"] for name, group in groups.items()
    } == {
        "osrm-data": f"/warmkeeper/cityguided/{with_services.env_name}/osrm-data",
        "osrm": f"/warmkeeper/cityguided/{with_services.env_name}/osrm",
    }


def test_the_service_admits_its_port_from_the_app_tasks_only(with_services: SynthesizedEnv) -> None:
    osrm_group = with_services.logical_id("Services/Osrm/SecurityGroup")
    app_group = with_services.logical_id("App/TaskSecurityGroup")
    group = with_services.properties(osrm_group)
    assert "SecurityGroupIngress" not in group
    ingress = [
        rule
        for rule in with_services.resources("AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == get_att(osrm_group, "GroupId")
    ]
    assert [rule["Properties"] for rule in ingress] == [
        {
            "Description": "From the cityguided tasks only",
            "FromPort": OSRM_PORT,
            "GroupId": get_att(osrm_group, "GroupId"),
            "IpProtocol": "tcp",
            "SourceSecurityGroupId": get_att(app_group, "GroupId"),
            "ToPort": OSRM_PORT,
        }
    ]
    # Out as the app's tasks: HTTPS anywhere, DNS to the VPC, nothing else (no allow-all).
    vpc_range = json.dumps(get_att(with_services.logical_id("Network/Vpc"), "CidrBlock"))
    egress = {
        (json.dumps(rule["CidrIp"]), rule["IpProtocol"], rule["FromPort"])
        for rule in group["SecurityGroupEgress"]
    }
    assert egress == {('"0.0.0.0/0"', "tcp", 443), (vpc_range, "udp", 53), (vpc_range, "tcp", 53)}
    # The app's tasks may open connections to that port of that group (their egress is closed otherwise).
    (app_egress,) = [
        rule["Properties"]
        for rule in with_services.resources("AWS::EC2::SecurityGroupEgress").values()
        if rule["Properties"]["GroupId"] == get_att(app_group, "GroupId")
    ]
    assert app_egress["DestinationSecurityGroupId"] == get_att(osrm_group, "GroupId")
    assert (app_egress["FromPort"], app_egress["ToPort"]) == (OSRM_PORT, OSRM_PORT)


def test_nothing_of_the_front_door_points_at_the_internal_service(with_services: SynthesizedEnv) -> None:
    osrm_service = with_services.logical_id("Services/Osrm/Service/Service")
    osrm = with_services.properties(osrm_service)
    assert "LoadBalancers" not in osrm
    osrm_cloud_map = with_services.logical_id("Services/Osrm/Service/CloudmapService")
    osrm_group = with_services.logical_id("Services/Osrm/SecurityGroup")
    front_door_types = (
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ElasticLoadBalancingV2::ListenerRule",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ApiGatewayV2::Route",
        "AWS::ApiGatewayV2::Integration",
        "AWS::ApiGatewayV2::VpcLink",
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::VpcOrigin",
    )
    for resource_type in front_door_types:
        for logical_id, resource in with_services.resources(resource_type).items():
            text = json.dumps(resource.get("Properties", {}))
            for osrm_id in (osrm_service, osrm_cloud_map, osrm_group):
                assert osrm_id not in text, f"{logical_id} ({resource_type}) refers to {osrm_id}"
    # No load balancer security group nor the VPC link's reaches the service's group either.
    for rule in with_services.resources("AWS::EC2::SecurityGroupIngress").values():
        if rule["Properties"]["GroupId"] == get_att(osrm_group, "GroupId"):
            source = rule["Properties"]["SourceSecurityGroupId"]
            assert source == get_att(with_services.logical_id("App/TaskSecurityGroup"), "GroupId")


def test_the_service_registers_a_records_of_healthy_tasks_in_the_namespace(
    with_services: SynthesizedEnv,
) -> None:
    cloud_map = with_services.properties(with_services.logical_id("Services/Osrm/Service/CloudmapService"))
    assert cloud_map["Name"] == "osrm"
    assert cloud_map["DnsConfig"]["DnsRecords"] == [{"TTL": 10, "Type": "A"}]
    assert cloud_map["HealthCheckCustomConfig"] == {"FailureThreshold": 1}
    ((namespace_id, namespace),) = with_services.resources(
        "AWS::ServiceDiscovery::PrivateDnsNamespace"
    ).items()
    assert namespace["Properties"]["Name"] == "staging.cityguided.warmkeeper.internal".replace(
        "staging", with_services.env_name
    )
    assert cloud_map["DnsConfig"]["NamespaceId"] == get_att(namespace_id, "Id")


def test_the_app_containers_get_the_caller_variables(with_services: SynthesizedEnv) -> None:
    task = with_services.properties(with_services.logical_id("App/TaskDefinition"))
    url = get_att(with_services.logical_id("Waker/Function/FunctionUrl"), "FunctionUrl")
    secret = ref(with_services.logical_id("Waker/WakeSecret"))
    host = f"osrm.{with_services.env_name}.cityguided.warmkeeper.internal"
    for container in task["ContainerDefinitions"]:
        environment = {item["Name"]: item["Value"] for item in container["Environment"]}
        assert environment[service_host_variable("osrm")] == host, container["Name"]
        assert environment[service_port_variable("osrm")] == str(OSRM_PORT)
        assert environment[WAKER_URL_VARIABLE] == url
        secrets = {item["Name"]: item["ValueFrom"] for item in container["Secrets"]}
        # The secret by reference: its value never enters the template.
        assert secrets[WAKE_SECRET_VARIABLE] == secret
        assert WAKE_SECRET_VARIABLE not in environment


def test_the_waker_has_a_function_url_open_to_its_secret_check(with_services: SynthesizedEnv) -> None:
    _, url = with_services.only("AWS::Lambda::Url")
    function = with_services.logical_id("Waker/Function")
    assert url["AuthType"] == "NONE"
    assert url["TargetFunctionArn"] == get_att(function, "Arn")
    skips = with_services.raw["Resources"][with_services.logical_id("Waker/Function/FunctionUrl")]["Metadata"]
    assert [skip["id"] for skip in skips["checkov"]["skip"]] == ["CKV_AWS_258"]
    public = [
        permission["Properties"]
        for permission in with_services.resources("AWS::Lambda::Permission").values()
        if permission["Properties"]["Principal"] == "*"
    ]
    # Anyone may call the URL, and invoke the function through the URL only (AWS asks for both).
    assert {p["Action"]: (p.get("FunctionUrlAuthType"), p.get("InvokedViaFunctionUrl")) for p in public} == {
        "lambda:InvokeFunctionUrl": ("NONE", None),
        "lambda:InvokeFunction": (None, True),
    }
    # The reserved concurrency that bounds a flood stays on.
    reserved = with_services.properties(function)["ReservedConcurrentExecutions"]
    assert reserved == with_services.settings.waker_reserved_concurrency > 0


def test_the_waker_settings_name_the_internal_service(with_services: SynthesizedEnv) -> None:
    variables = _lambda_settings(with_services)
    assert variables["WK_WAKE_SECRET_ARN"] == ref(with_services.logical_id("Waker/WakeSecret"))
    # The app's service by its name (a reference would close a cycle through the function URL).
    assert variables["WK_SERVICE"] == "cityguided"
    app_service = with_services.properties(with_services.logical_id("App/Service/Service"))
    assert app_service["ServiceName"] == "cityguided"
    osrm_service = with_services.logical_id("Services/Osrm/Service/Service")
    osrm_cloud_map = with_services.logical_id("Services/Osrm/Service/CloudmapService")
    text = flatten_join(variables["WK_INTERNAL_SERVICES"])
    # Tokens stand where CloudFormation puts the ECS service's name and the Cloud Map service's id.
    (item,) = json.loads(text)
    env = with_services.env_name
    assert item["name"] == "osrm"
    assert item["service"] == item["cloud_map_service_id"] == "<TOKEN>"
    assert item["idle_alarm_name"] == f"Cityguided-{env}-osrm-idle"
    assert item["activity_metric"] == f"cityguided-{env}-osrm-Requests"
    assert item["policy"] == with_services.config.service_policy("osrm", env).to_dict()
    # The config's first estimate reaches the waker (the example's osrm: 120 s, not the default 60).
    assert item["first_wake_seconds"] == with_services.config.service("osrm").first_wake_seconds == 120
    # No wake_with in the example: neither the entry nor the app's variable carries one.
    assert with_services.config.wakes_with("cityguided") == []
    assert "wake_with" not in item and "WK_WAKE_WITH" not in variables
    parts = variables["WK_INTERNAL_SERVICES"]["Fn::Join"][1]
    assert get_att(osrm_service, "Name") in parts and get_att(osrm_cloud_map, "Id") in parts
    # What the stack writes, the Lambda reads back (tokens replaced by plain values).
    environ = {
        name: (flatten_join(value).replace("<TOKEN>", "x") if not isinstance(value, str) else value)
        for name, value in variables.items()
    }
    settings = Settings.from_env(environ)
    assert [s.name for s in settings.internal_services] == ["osrm"]


def test_the_waker_may_scale_only_this_stacks_services(with_services: SynthesizedEnv) -> None:
    policy = with_services.properties(with_services.logical_id("Waker/Policy"))
    by_sid = {statement["Sid"]: statement for statement in statements(policy)}
    app, osrm = _service_ids(with_services)
    assert by_sid["ScaleThisService"]["Action"] == ["ecs:UpdateService", "ecs:DescribeServices"]
    assert by_sid["ScaleThisService"]["Resource"] == [ref(app), ref(osrm)]
    assert by_sid["ReadWakeSecret"]["Resource"] == ref(with_services.logical_id("Waker/WakeSecret"))
    assert by_sid["ReadWakeSecret"]["Action"] == "secretsmanager:GetSecretValue"
    # Nothing on Cloud Map: the waker reads an internal service's health from its tasks.
    assert "servicediscovery" not in json.dumps(statements(policy))
    # No mutating ECS action anywhere else, and none on a wildcard.
    for statement in statements(policy):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(
            action in ("ecs:UpdateService", "ecs:CreateService", "ecs:DeleteService") for action in actions
        ):
            assert statement["Sid"] == "ScaleThisService"


def test_the_task_role_reads_the_configured_s3_prefix_only(with_services: SynthesizedEnv) -> None:
    task = with_services.properties(with_services.logical_id("Services/Osrm/TaskDefinition"))
    role = task["TaskRoleArn"]["Fn::GetAtt"][0]
    policies = [
        resource["Properties"]
        for resource in with_services.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in resource["Properties"]["Roles"]
    ]
    granted = [statement for policy in policies for statement in statements(policy)]
    bucket, prefix = parse_s3_location(with_services.config.service("osrm").read_s3[0])
    assert (bucket, prefix) == ("cityguided-osrm-data", "ile-de-france")
    assert granted == [
        {"Action": "s3:GetObject", "Effect": "Allow", "Resource": f"arn:aws:s3:::{bucket}/{prefix}/*"},
        {
            "Action": "s3:ListBucket",
            "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
            "Effect": "Allow",
            "Resource": f"arn:aws:s3:::{bucket}",
        },
    ]
    # The app's task role reads no S3.
    app_task = with_services.properties(with_services.logical_id("App/TaskDefinition"))
    app_role = app_task["TaskRoleArn"]["Fn::GetAtt"][0]
    for resource in with_services.resources("AWS::IAM::Policy").values():
        if {"Ref": app_role} in resource["Properties"]["Roles"]:
            assert "s3:" not in json.dumps(resource["Properties"])


def test_a_log_metric_filter_feeds_the_activity_metric(with_services: SynthesizedEnv) -> None:
    _, metric_filter = with_services.only("AWS::Logs::MetricFilter")
    log_group = with_services.logical_id("Services/Osrm/OsrmLogs")
    assert metric_filter["LogGroupName"] == ref(log_group)
    assert metric_filter["FilterPattern"] == ""  # every line the entry container writes
    (transformation,) = metric_filter["MetricTransformations"]
    assert transformation == {
        "MetricName": f"cityguided-{with_services.env_name}-osrm-Requests",
        "MetricNamespace": METRICS_NAMESPACE,
        "MetricValue": "1",
        "Unit": "Count",
    }
    assert "Dimensions" not in transformation and "DefaultValue" not in transformation


def test_the_idle_alarm_watches_the_activity_and_reaches_the_waker(with_services: SynthesizedEnv) -> None:
    env = with_services.env_name
    alarm_id = with_services.logical_id("Services/Osrm/Idle/Alarm")
    alarm = with_services.properties(alarm_id)
    idle = with_services.config.service_settings("osrm", env).idle_minutes
    assert alarm["AlarmName"] == f"Cityguided-{env}-osrm-idle"
    assert (alarm["MetricName"], alarm["Namespace"]) == (f"cityguided-{env}-osrm-Requests", METRICS_NAMESPACE)
    assert "Dimensions" not in alarm
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 60, 1)
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == idle == 10
    assert alarm["TreatMissingData"] == "breaching"
    rule = with_services.properties(with_services.logical_id("Services/Osrm/Idle/AlarmStateChange"))
    assert rule["EventPattern"]["resources"] == [get_att(alarm_id, "Arn")]
    assert rule["Targets"][0]["Arn"] == get_att(with_services.logical_id("Waker/Function"), "Arn")


def test_watched_environments_alarm_on_missing_tasks_and_show_a_row(services_staging: SynthesizedEnv) -> None:
    staging = services_staging
    alarm = staging.properties(staging.logical_id("Monitoring/OsrmTasksShort"))
    assert alarm["AlarmName"] == "Cityguided-staging-osrm-tasks-short"
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 10
    topic = ref(staging.logical_id("Monitoring/AlarmTopic"))
    assert alarm["AlarmActions"] == [topic]
    dimensions = [
        metric["MetricStat"]["Metric"]["Dimensions"] for metric in alarm["Metrics"] if "MetricStat" in metric
    ]
    osrm_name = get_att(staging.logical_id("Services/Osrm/Service/Service"), "Name")
    assert all({"Name": "ServiceName", "Value": osrm_name} in d for d in dimensions) and len(dimensions) == 2
    # A rolled-back deployment of either service reaches the topic.
    rule = staging.properties(staging.logical_id("Monitoring/DeploymentRolledBack"))
    assert rule["EventPattern"]["resources"] == [ref(sid) for sid in _service_ids(staging)]
    _, dashboard = staging.only("AWS::CloudWatch::Dashboard")
    body = dashboard_body(dashboard["DashboardBody"])
    titles = [widget["properties"].get("title") for widget in body["widgets"]]
    assert titles[-3:] == [
        "osrm: calls (log lines; sleeps after 10 min without a call)",
        "osrm: tasks",
        "osrm: CPU and memory",
    ]
    alarms_widget = next(w for w in body["widgets"] if w["properties"].get("title") == "Alarms")
    assert len(alarms_widget["properties"]["alarms"]) == len(staging.resources("AWS::CloudWatch::Alarm")) - 2


def test_unwatched_environments_have_no_operational_alarm_for_it(lean_staging: SynthesizedEnv) -> None:
    # The example's staging as it is: nobody watches, so osrm has its idle alarm and nothing else.
    assert not lean_staging.settings.is_watched
    alarms = [a["Properties"]["AlarmName"] for a in lean_staging.resources("AWS::CloudWatch::Alarm").values()]
    assert sorted(alarms) == ["Cityguided-staging-idle", "Cityguided-staging-osrm-idle"]


def test_an_app_without_services_has_none_of_it(no_services_staging: SynthesizedEnv) -> None:
    env = no_services_staging
    assert len(env.resources("AWS::ECS::Service")) == 1
    # Named all the same: the waker names it as a plain string (the function URL reaches the tasks).
    assert env.properties(env.logical_id("App/Service/Service"))["ServiceName"] == "cityguided"
    for resource_type in (
        "AWS::Logs::MetricFilter",
        "AWS::ServiceDiscovery::PrivateDnsNamespace",
        "AWS::ServiceDiscovery::Service",
    ):
        assert env.resources(resource_type) == {}, resource_type
    # The app's tasks open no connection but their inline rules (443, DNS): no rule towards a service.
    app_group = get_att(env.logical_id("App/TaskSecurityGroup"), "GroupId")
    egress = env.resources("AWS::EC2::SecurityGroupEgress").values()
    assert [rule for rule in egress if rule["Properties"]["GroupId"] == app_group] == []
    alarms = sorted(a["Properties"]["AlarmName"] for a in env.resources("AWS::CloudWatch::Alarm").values())
    assert alarms == [
        "Cityguided-staging-5xx-rate",
        "Cityguided-staging-idle",
        "Cityguided-staging-unhealthy-targets",
        "Cityguided-staging-wake-failed",
        "Cityguided-staging-waker-errors",
    ]
    variables = _lambda_settings(env)
    assert "WK_INTERNAL_SERVICES" not in variables
    policy = env.properties(env.logical_id("Waker/Policy"))
    by_sid = {statement["Sid"]: statement for statement in statements(policy)}
    assert by_sid["ScaleThisService"]["Resource"] == ref(env.logical_id("App/Service/Service"))
    task = env.properties(env.logical_id("App/TaskDefinition"))
    for container in task["ContainerDefinitions"]:
        names = {item["Name"] for item in container.get("Environment", [])}
        assert not any(name.startswith("WARMKEEPER_OSRM") for name in names)


def test_a_scale_to_zero_app_gets_the_beacon_way_to_the_waker(no_services_staging: SynthesizedEnv) -> None:
    """The activity beacon: every container of the app's task gets the function URL and the wake
    secret (by reference), and the waker reads that secret, with no internal service at all."""
    env = no_services_staging
    url = get_att(env.logical_id("Waker/Function/FunctionUrl"), "FunctionUrl")
    secret = ref(env.logical_id("Waker/WakeSecret"))
    assert sorted(env.resources("AWS::SecretsManager::Secret")) == sorted(
        [env.logical_id("Waker/KeepaliveSecret"), env.logical_id("Waker/WakeSecret")]
    )
    task = env.properties(env.logical_id("App/TaskDefinition"))
    for container in task["ContainerDefinitions"]:
        environment = {item["Name"]: item["Value"] for item in container["Environment"]}
        assert environment[WAKER_URL_VARIABLE] == url, container["Name"]
        secrets = {item["Name"]: item["ValueFrom"] for item in container["Secrets"]}
        assert secrets[WAKE_SECRET_VARIABLE] == secret
        # The entry container alone is told to run the beacon.
        entry = container["Name"] == env.config.entry_container.name
        assert environment.get(BEACON_VARIABLE) == ("on" if entry else None), container["Name"]
    assert _lambda_settings(env)["WK_WAKE_SECRET_ARN"] == secret
    by_sid = {s["Sid"]: s for s in statements(env.properties(env.logical_id("Waker/Policy")))}
    assert by_sid["ReadWakeSecret"]["Resource"] == secret


def test_an_always_on_app_without_services_has_no_beacon(production: SynthesizedEnv) -> None:
    env = production
    assert not env.config.services and not env.settings.scale_to_zero
    assert env.resources("AWS::Lambda::Url") == {}
    assert list(env.resources("AWS::SecretsManager::Secret")) == [env.logical_id("Waker/KeepaliveSecret")]
    assert all(p["Properties"]["Principal"] != "*" for p in env.resources("AWS::Lambda::Permission").values())
    assert "WK_WAKE_SECRET_ARN" not in _lambda_settings(env)
    task = env.properties(env.logical_id("App/TaskDefinition"))
    for container in task["ContainerDefinitions"]:
        names = {item["Name"] for item in container.get("Environment", [])}
        assert WAKER_URL_VARIABLE not in names and BEACON_VARIABLE not in names


def test_the_stack_settings_name_things_once() -> None:
    # The metric and alarm names the Lambda settings carry are the construct's (checked above): here,
    # that their shape stays unique per app, environment and service.
    from tests.conftest import EXAMPLE_CONFIG
    from warmkeeper.config import load_config
    from warmkeeper.infra.internal_service import activity_metric_name, idle_alarm_name

    cfg = load_config(EXAMPLE_CONFIG)
    names = {
        (
            activity_metric_name(StackSettings.create(cfg, env), "osrm"),
            idle_alarm_name(StackSettings.create(cfg, env), "osrm"),
        )
        for env in ("staging", "production")
    }
    assert len({n for pair in names for n in pair}) == 4
    assert namespace_name(StackSettings.create(cfg, "staging")) == "staging.cityguided.warmkeeper.internal"
