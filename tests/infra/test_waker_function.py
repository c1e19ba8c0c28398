"""The warmkeeper Lambda, its routing, the idle alarm, the events and the IAM scoping."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.support import SynthesizedEnv, as_list, get_att, ref, statements
from warmkeeper.aws.lambda_settings import HTTP_API_FIELDS, VARIABLES
from warmkeeper.core.machine import DEFAULT_IGNORE_USER_AGENTS

pytestmark = pytest.mark.infra

# The AWS limits and the shared names are standard library only: the Lambda's settings read them.
ALLOWED_IN_BUNDLE = re.compile(
    r"^warmkeeper/(__init__\.py|py\.typed|control\.py|aws_limits\.py|naming\.py|core/.+|aws/.+)$"
)


def _function(synth: SynthesizedEnv) -> tuple[str, dict[str, Any]]:
    return synth.only("AWS::Lambda::Function")


def _environment(synth: SynthesizedEnv) -> dict[str, Any]:
    variables: dict[str, Any] = _function(synth)[1]["Environment"]["Variables"]
    return variables


def _traffic_listener(synth: SynthesizedEnv) -> str:
    # The HTTPS listener exists on an internet-facing load balancer with a certificate; behind CloudFront
    # the internal load balancer has one HTTP listener.
    https_listener = synth.settings.internet_facing_load_balancer and synth.settings.certificate_arn
    suffix = "Ingress/LoadBalancer/Https" if https_listener else "Ingress/LoadBalancer/Http"
    return synth.logical_id(suffix)


def _rules(synth: SynthesizedEnv) -> dict[int, dict[str, Any]]:
    return {
        rule["Properties"]["Priority"]: rule["Properties"]
        for rule in synth.resources("AWS::ElasticLoadBalancingV2::ListenerRule").values()
    }


def test_function_runtime_and_handler(any_env: SynthesizedEnv) -> None:
    _, function = _function(any_env)
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["arm64"]
    assert function["Handler"] == "warmkeeper.aws.lambda_handler.handler"
    assert function["FunctionName"] == f"cityguided-{any_env.env_name}-warmkeeper"
    # A held request waits up to hold_seconds; the function must outlive it.
    assert function["Timeout"] >= any_env.config.scale_to_zero.hold_seconds + 10


def test_bundle_holds_only_the_allowed_files(staging: SynthesizedEnv) -> None:
    code = _function(staging)[1]["Code"]
    asset_dir = staging.assembly_dir / f"asset.{Path(code['S3Key']).stem}"
    files = sorted(path.relative_to(asset_dir).as_posix() for path in asset_dir.rglob("*") if path.is_file())
    assert "warmkeeper/__init__.py" in files and "warmkeeper/aws/lambda_handler.py" in files
    assert any(name.startswith("warmkeeper/core/") for name in files)
    unexpected = [name for name in files if not ALLOWED_IN_BUNDLE.match(name) or "__pycache__" in name]
    assert unexpected == []
    # The modules that would drag pydantic/typer/aws_cdk into the Lambda are not there.
    for name in (
        "warmkeeper/config.py",
        "warmkeeper/cli.py",
        "warmkeeper/clikit.py",
        "warmkeeper/infra/app.py",
    ):
        assert name not in files


# What importing the handler loads, in a fresh interpreter: the independent check of the bundle.
_LOADED_BY_HANDLER = """
import json, sys
import warmkeeper.aws.lambda_handler
print(json.dumps(sorted(getattr(m, "__file__", None) or "" for n, m in sys.modules.items()
                        if n == "warmkeeper" or n.startswith("warmkeeper."))))
"""


def test_bundle_is_what_the_handler_imports(staging: SynthesizedEnv) -> None:
    from warmkeeper.infra.bundle import bundle_files
    from warmkeeper.infra.waker_function import HANDLER, source_root

    code = _function(staging)[1]["Code"]
    asset_dir = staging.assembly_dir / f"asset.{Path(code['S3Key']).stem}"
    files = {path.relative_to(asset_dir).as_posix() for path in asset_dir.rglob("*") if path.is_file()}
    root = source_root()
    proc = subprocess.run(
        [sys.executable, "-c", _LOADED_BY_HANDLER], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = {Path(name).resolve().relative_to(root).as_posix() for name in json.loads(proc.stdout) if name}
    # Everything the handler loads is there, and nothing the handler does not import.
    assert loaded <= files, loaded - files
    assert files == set(bundle_files(root, HANDLER.rsplit(".", 1)[0]))
    assert "warmkeeper/aws/lambda_handler.py" in files and "warmkeeper/core/machine.py" in files
    for never in ("cost/", "commands/", "infra/", "local/", "deploy/", "config.py", "cli.py"):
        assert not any(name.startswith(f"warmkeeper/{never}") for name in files), never
    # Nothing but Python modules: no price table, no cache, no marker file.
    assert all(name.endswith(".py") for name in files)


def test_environment_variables_of_the_contract(any_env: SynthesizedEnv) -> None:
    variables = _environment(any_env)
    # The Lambda's Settings names them, once; the HTTP API's own are tests/infra/test_http_api.py's.
    expected_keys = {variable for name, variable in VARIABLES.items() if name not in HTTP_API_FIELDS}
    if not any_env.settings.scale_to_zero:
        expected_keys.discard("WK_IDLE_ALARM_NAME")
    expected_keys.discard("WK_TITLE")  # the example sets no [app] title: the waiting page says its name
    # An app with internal services only (tests/infra/test_internal_service.py); these variants have none.
    expected_keys -= {"WK_INTERNAL_SERVICES", "WK_WAKE_WITH"}
    # The wake secret: the activity beacon's reports, with scale-to-zero only.
    if not any_env.settings.scale_to_zero:
        expected_keys.discard("WK_WAKE_SECRET_ARN")
    assert set(variables) == expected_keys
    assert variables["WK_APP"] == "cityguided"
    assert variables["WK_ENV"] == any_env.env_name
    assert variables["WK_WARM_RULE_PRIORITY"] == "10"
    assert variables["WK_PARAMETER_PREFIX"] == f"/warmkeeper/cityguided/{any_env.env_name}"
    assert variables["WK_METRICS_NAMESPACE"] == "Warmkeeper"
    assert variables["WK_CLUSTER"] == ref(any_env.logical_id("Cluster/Cluster"))
    # By its name (a reference would close a cycle through the function URL the tasks carry).
    assert variables["WK_SERVICE"] == "cityguided"
    assert variables["WK_LISTENER_ARN"] == ref(_traffic_listener(any_env))
    target_group = any_env.logical_id("Ingress/ServiceTargetGroup")
    assert variables["WK_SERVICE_TARGET_GROUP_ARN"] == ref(target_group)
    assert variables["WK_TARGET_GROUP_DIMENSION"] == get_att(target_group, "TargetGroupFullName")
    assert variables["WK_LOAD_BALANCER_DIMENSION"] == get_att(
        any_env.logical_id("Ingress/LoadBalancer"), "LoadBalancerFullName"
    )
    assert variables["WK_KEEPALIVE_SECRET_ARN"] == ref(any_env.logical_id("Waker/KeepaliveSecret"))
    if any_env.settings.scale_to_zero:
        assert variables["WK_IDLE_ALARM_NAME"] == f"Cityguided-{any_env.env_name}-idle"


def test_function_logs_json_for_the_runtime_to_format(any_env: SynthesizedEnv) -> None:
    """warmkeeper.aws.logs relies on it: records become JSON objects with the request id, and the
    EMF metric documents are top-level JSON that CloudWatch Logs extracts."""
    assert _function(any_env)[1]["LoggingConfig"] == {
        "ApplicationLogLevel": "INFO",
        "LogFormat": "JSON",
        "LogGroup": ref(any_env.logical_id("Waker/Logs")),
    }


def test_waker_publishes_no_metric_through_the_api(any_env: SynthesizedEnv) -> None:
    actions = {action for statement in _waker_statements(any_env) for action in as_list(statement["Action"])}
    assert "cloudwatch:PutMetricData" not in actions


def test_policy_json_carries_the_config(staging: SynthesizedEnv, production: SynthesizedEnv) -> None:
    policy = json.loads(_environment(staging)["WK_POLICY"])
    assert policy == {
        "scale_to_zero": True,
        "idle_minutes": 5,
        "min_warm_minutes": 2,
        "hold_seconds": 25,
        "wake_timeout_seconds": 180,
        "retry_after_seconds": 10,
        "default_lease_minutes": 30,
        "max_lease_minutes": 240,
        "ignore_user_agents": [*DEFAULT_IGNORE_USER_AGENTS, "CityGuidedMonitor"],
        "min_tasks": 0,
        "max_tasks": 1,
        "wake_allowed_from": [],
    }
    production_policy = json.loads(_environment(production)["WK_POLICY"])
    assert (
        production_policy["scale_to_zero"],
        production_policy["min_tasks"],
        production_policy["max_tasks"],
    ) == (
        False,
        1,
        3,
    )


def test_lambda_target_group(any_env: SynthesizedEnv) -> None:
    function_id, _ = _function(any_env)
    target_group_id = any_env.logical_id("Waker/TargetGroup")
    target_group = any_env.properties(target_group_id)
    assert target_group["TargetType"] == "lambda"
    assert target_group["Targets"] == [{"Id": get_att(function_id, "Arn")}]
    # Only load balancers of this account may invoke the function, and the permission exists
    # before the target group registers the function.
    permissions = {
        logical_id: resource["Properties"]
        for logical_id, resource in any_env.resources("AWS::Lambda::Permission").items()
        if resource["Properties"]["Principal"] == "elasticloadbalancing.amazonaws.com"
    }
    assert len(permissions) == 1
    permission_id, permission = next(iter(permissions.items()))
    assert permission["FunctionName"] == get_att(function_id, "Arn")
    assert permission["SourceArn"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                f":elasticloadbalancing:{any_env.settings.region}:",
                {"Ref": "AWS::AccountId"},
                ":targetgroup/*",
            ],
        ]
    }
    assert any_env.raw["Resources"][target_group_id]["DependsOn"] == [permission_id]


def test_scale_to_zero_routing(scale_to_zero_env: SynthesizedEnv) -> None:
    synth = scale_to_zero_env
    waker = ref(synth.logical_id("Waker/TargetGroup"))
    service = ref(synth.logical_id("Ingress/ServiceTargetGroup"))
    listener = ref(_traffic_listener(synth))
    rules = _rules(synth)
    # 10 is the warm route's: the Lambda creates it at run time, CloudFormation never owns it.
    assert sorted(rules) == [1, 49999, 50000]
    assert all(rule["ListenerArn"] == listener for rule in rules.values())
    assert rules[1]["Conditions"] == [
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/_warmkeeper/*"]}}
    ]
    assert rules[1]["Actions"] == [{"Type": "forward", "TargetGroupArn": waker}]
    assert rules[49999]["Conditions"] == [
        {
            "Field": "http-header",
            "HttpHeaderConfig": {"HttpHeaderName": "X-Warmkeeper-Route", "Values": ["service"]},
        }
    ]
    assert rules[49999]["Actions"] == [{"Type": "forward", "TargetGroupArn": service}]
    assert rules[50000]["Conditions"] == [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}]
    assert rules[50000]["Actions"] == [{"Type": "forward", "TargetGroupArn": waker}]
    default_actions = synth.properties(_traffic_listener(synth))["DefaultActions"]
    assert [action["Type"] for action in default_actions] == ["fixed-response"]
    # No CloudFormation-owned rule sends ordinary traffic to the service.
    assert [p for p, rule in rules.items() if rule["Actions"][0]["TargetGroupArn"] == service] == [49999]


def test_production_routing(production: SynthesizedEnv) -> None:
    rules = _rules(production)
    assert sorted(rules) == [1]
    assert rules[1]["Actions"] == [
        {"Type": "forward", "TargetGroupArn": ref(production.logical_id("Waker/TargetGroup"))}
    ]
    default_actions = production.properties(_traffic_listener(production))["DefaultActions"]
    assert default_actions == [
        {"Type": "forward", "TargetGroupArn": ref(production.logical_id("Ingress/ServiceTargetGroup"))}
    ]


def test_idle_alarm(scale_to_zero_env: SynthesizedEnv) -> None:
    synth = scale_to_zero_env
    alarm = synth.properties(synth.logical_id("Idle/Alarm"))
    assert alarm["AlarmName"] == f"Cityguided-{synth.env_name}-idle"
    assert alarm["Namespace"] == "AWS/ApplicationELB"
    assert alarm["MetricName"] == "RequestCount"
    assert alarm["Statistic"] == "Sum"
    assert alarm["Period"] == 60
    assert alarm["EvaluationPeriods"] == synth.settings.idle_minutes == 5
    assert alarm["DatapointsToAlarm"] == 5
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["TreatMissingData"] == "breaching"
    dimensions = {item["Name"]: item["Value"] for item in alarm["Dimensions"]}
    assert dimensions == {
        "LoadBalancer": get_att(synth.logical_id("Ingress/LoadBalancer"), "LoadBalancerFullName"),
        "TargetGroup": get_att(synth.logical_id("Ingress/ServiceTargetGroup"), "TargetGroupFullName"),
    }
    assert "AlarmActions" not in alarm  # EventBridge carries its state changes


def test_no_idle_alarm_in_production(production: SynthesizedEnv) -> None:
    names = [
        alarm["Properties"]["AlarmName"] for alarm in production.resources("AWS::CloudWatch::Alarm").values()
    ]
    assert not any(name.endswith("-idle") for name in names)
    assert "IdleAlarmName" not in production.raw["Outputs"]


def _rules_to_function(synth: SynthesizedEnv) -> list[dict[str, Any]]:
    function_id, _ = _function(synth)
    return [
        rule["Properties"]
        for rule in synth.resources("AWS::Events::Rule").values()
        if any(target["Arn"] == get_att(function_id, "Arn") for target in rule["Properties"]["Targets"])
    ]


def test_events_reach_the_lambda(every_front_door: SynthesizedEnv) -> None:
    rules = _rules_to_function(every_front_door)
    schedules = [rule for rule in rules if "ScheduleExpression" in rule]
    assert [rule["ScheduleExpression"] for rule in schedules] == ["rate(1 minute)"]
    alarm_rules = [rule for rule in rules if rule.get("EventPattern", {}).get("source") == ["aws.cloudwatch"]]
    task_rules = [rule for rule in rules if rule.get("EventPattern", {}).get("source") == ["aws.ecs"]]
    if every_front_door.settings.scale_to_zero:
        assert len(alarm_rules) == 1
        assert alarm_rules[0]["EventPattern"] == {
            "source": ["aws.cloudwatch"],
            "detail-type": ["CloudWatch Alarm State Change"],
            "resources": [get_att(every_front_door.logical_id("Idle/Alarm"), "Arn")],
        }
        # A Spot interruption: the service's stopping tasks reach the Lambda within seconds.
        assert len(task_rules) == 1
        pattern = task_rules[0]["EventPattern"]
        assert pattern["detail-type"] == ["ECS Task State Change"]
        assert pattern["detail"]["clusterArn"] == [
            get_att(every_front_door.logical_id("Cluster/Cluster"), "Arn")
        ]
        assert pattern["detail"]["$or"] == [
            {"lastStatus": ["STOPPING", "STOPPED"]},
            {"desiredStatus": ["STOPPED"]},
        ]
        assert "service:" in json.dumps(pattern["detail"]["group"])
        assert task_rules[0]["Targets"][0]["RetryPolicy"]["MaximumRetryAttempts"] == 2
    else:
        assert alarm_rules == [] and task_rules == []
    assert len(rules) == len(schedules) + len(alarm_rules) + len(task_rules)
    permissions = [
        permission["Properties"]
        for permission in every_front_door.resources("AWS::Lambda::Permission").values()
        if permission["Properties"]["Principal"] == "events.amazonaws.com"
    ]
    assert len(permissions) == len(rules)


def test_keepalive_secret_is_generated(any_env: SynthesizedEnv) -> None:
    secret = any_env.properties(any_env.logical_id("Waker/KeepaliveSecret"))
    assert secret["Name"] == f"warmkeeper/cityguided/{any_env.env_name}/keepalive"
    assert secret["GenerateSecretString"]["PasswordLength"] >= 32
    assert "SecretString" not in secret


# --- IAM -------------------------------------------------------------------------------------------

READ_ONLY_PREFIXES = ("Describe", "Get", "List")


def _waker_statements(synth: SynthesizedEnv) -> list[dict[str, Any]]:
    role = synth.logical_id("Waker/Role")
    found = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        if ref(role) in policy["Properties"]["Roles"]:
            found.extend(statements(policy["Properties"]))
    return found


def test_waker_role_has_no_managed_policy(any_env: SynthesizedEnv) -> None:
    role = any_env.properties(any_env.logical_id("Waker/Role"))
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }


def test_no_wildcard_resource_on_a_mutating_action(any_env: SynthesizedEnv) -> None:
    """Every IAM policy of the stack: `*` only for reads. (The Lambda's metrics are EMF log lines: it
    needs no cloudwatch:PutMetricData, the one mutating action that would need `*`.)"""
    for logical_id, policy in any_env.resources("AWS::IAM::Policy").items():
        for statement in statements(policy["Properties"]):
            if "*" not in as_list(statement["Resource"]):
                continue
            for action in as_list(statement["Action"]):
                verb = action.split(":", 1)[1]
                if verb.startswith(READ_ONLY_PREFIXES):
                    continue
                raise AssertionError(f"{logical_id}: {action} on *")


def test_waker_permissions_are_scoped_as_the_contract_says(any_env: SynthesizedEnv) -> None:
    by_action: dict[str, dict[str, Any]] = {}
    secrets_read: list[Any] = []
    for statement in _waker_statements(any_env):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            by_action[action] = statement
            if action == "secretsmanager:GetSecretValue":
                secrets_read.append(statement["Resource"])
    service = ref(any_env.logical_id("App/Service/Service"))
    listener = ref(_traffic_listener(any_env))
    assert by_action["ecs:UpdateService"]["Resource"] == service
    assert by_action["ecs:DescribeServices"]["Resource"] == service
    for action in ("ecs:ListTasks", "ecs:DescribeTasks"):
        assert by_action[action]["Condition"] == {
            "ArnEquals": {"ecs:cluster": get_att(any_env.logical_id("Cluster/Cluster"), "Arn")}
        }
    assert by_action["elasticloadbalancing:Describe*"]["Resource"] == "*"
    assert by_action["elasticloadbalancing:CreateRule"]["Resource"] == listener
    rule_arn = by_action["elasticloadbalancing:DeleteRule"]["Resource"]
    assert by_action["elasticloadbalancing:ModifyRule"]["Resource"] == rule_arn
    assert by_action["elasticloadbalancing:AddTags"]["Resource"] == rule_arn
    # Only the rule it creates, tagged as the warm route: never the stack's own rules on the listener.
    tag = {"aws:RequestTag/warmkeeper:role": "warm-route"}
    assert by_action["elasticloadbalancing:CreateRule"]["Condition"] == {"StringEquals": tag}
    assert by_action["elasticloadbalancing:AddTags"]["Condition"] == {
        "StringEquals": {"elasticloadbalancing:CreateAction": "CreateRule", **tag}
    }
    for action in ("elasticloadbalancing:DeleteRule", "elasticloadbalancing:ModifyRule"):
        assert by_action[action]["Condition"] == {
            "StringEquals": {"aws:ResourceTag/warmkeeper:role": "warm-route"}
        }
    assert json.dumps(rule_arn).count(json.dumps(listener)) == 2  # both halves of the listener ARN
    assert ":listener-rule/" in json.dumps(rule_arn) and json.dumps(rule_arn).endswith('"/*"]]}')
    parameters = json.dumps(by_action["ssm:PutParameter"]["Resource"])
    assert f":parameter/warmkeeper/cityguided/{any_env.env_name}/*" in parameters
    for action in ("ssm:GetParameter", "ssm:GetParameters", "ssm:DeleteParameter", "ssm:DeleteParameters"):
        assert by_action[action]["Resource"] == by_action["ssm:PutParameter"]["Resource"]
    # The keep-alive token, and with scale-to-zero the wake secret of the beacon's reports.
    read = [ref(any_env.logical_id("Waker/KeepaliveSecret"))]
    if any_env.settings.scale_to_zero:
        read.append(ref(any_env.logical_id("Waker/WakeSecret")))
    assert secrets_read == read
    for action in ("cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics", "cloudwatch:DescribeAlarms"):
        assert by_action[action]["Resource"] == "*"
    # It can write its own logs, and no others.
    assert by_action["logs:PutLogEvents"]["Resource"] == get_att(any_env.logical_id("Waker/Logs"), "Arn")
