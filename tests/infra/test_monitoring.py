"""Issue 6 §1: the dashboard, the operational alarms, the alarm topic and its e-mail subscription."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import ALARM_EMAIL
from tests.infra.support import SynthesizedEnv, dashboard_body, get_att, ref

pytestmark = pytest.mark.infra


def _dashboard_metrics(synth: SynthesizedEnv) -> dict[str, set[tuple[str, str, str]]]:
    """Widget title -> {(namespace, metric, statistic)} of every metric drawn."""
    _, dashboard = synth.only("AWS::CloudWatch::Dashboard")
    body = dashboard_body(dashboard["DashboardBody"])
    drawn: dict[str, set[tuple[str, str, str]]] = {}
    for widget in body["widgets"]:
        for line in widget["properties"].get("metrics", []):
            if isinstance(line[0], dict):  # a math expression over the lines marked invisible
                continue
            options = line[-1] if isinstance(line[-1], dict) else {}
            drawn.setdefault(widget["properties"]["title"], set()).add(
                (line[0], line[1], options.get("stat", "Average"))
            )
    return drawn


def _alarms_by_suffix(synth: SynthesizedEnv) -> dict[str, dict[str, Any]]:
    prefix = f"Cityguided-{synth.env_name}-"
    return {
        alarm["Properties"]["AlarmName"].removeprefix(prefix): alarm["Properties"]
        for alarm in synth.resources("AWS::CloudWatch::Alarm").values()
    }


def test_dashboard_shows_what_the_issue_lists(any_env: SynthesizedEnv) -> None:
    _, dashboard = any_env.only("AWS::CloudWatch::Dashboard")
    assert dashboard["DashboardName"] == f"Cityguided-{any_env.env_name}"
    drawn = _dashboard_metrics(any_env)
    everything = set().union(*drawn.values())
    elb = "AWS/ApplicationELB"
    insights = "ECS/ContainerInsights"
    for expected in [
        (elb, "RequestCount", "Sum"),
        (elb, "HTTPCode_ELB_4XX_Count", "Sum"),
        (elb, "HTTPCode_ELB_5XX_Count", "Sum"),
        (elb, "HTTPCode_Target_4XX_Count", "Sum"),
        (elb, "HTTPCode_Target_5XX_Count", "Sum"),
        (elb, "TargetResponseTime", "p50"),
        (elb, "TargetResponseTime", "p99"),
        (elb, "HealthyHostCount", "Minimum"),
        (insights, "RunningTaskCount", "Average"),
        ("Warmkeeper", "Wakes", "Sum"),
        ("Warmkeeper", "ColdStartSeconds", "Average"),
        ("Warmkeeper", "Sleeps", "Sum"),
        ("Warmkeeper", "HeldRequests", "Sum"),
        ("Warmkeeper", "WakeFailures", "Sum"),
    ]:
        assert expected in everything, expected
    # CPU and memory come from Container Insights (used over reserved), not the AWS/ECS service metrics.
    cpu_memory = {metric for _, metric, _ in drawn["CPU and memory (Container Insights)"]}
    assert cpu_memory == {"CpuUtilized", "CpuReserved", "MemoryUtilized", "MemoryReserved"}
    assert not any(namespace == "AWS/ECS" for namespace, _, _ in everything)


def test_warmkeeper_metrics_use_the_contracts_dimensions(any_env: SynthesizedEnv) -> None:
    _, dashboard = any_env.only("AWS::CloudWatch::Dashboard")
    body = dashboard_body(dashboard["DashboardBody"])
    lines = [
        line
        for widget in body["widgets"]
        for line in widget["properties"].get("metrics", [])
        if isinstance(line[0], str) and line[0] == "Warmkeeper"
    ]
    assert lines
    assert all(line[2:6] == ["App", "cityguided", "Env", any_env.env_name] for line in lines)


def test_operational_alarms_go_to_the_topic(any_env: SynthesizedEnv) -> None:
    alarms = _alarms_by_suffix(any_env)
    expected = {"5xx-rate", "unhealthy-targets", "waker-errors"}
    if any_env.settings.scale_to_zero:
        expected |= {"wake-failed", "idle"}
    assert set(alarms) == expected
    topic = ref(any_env.logical_id("Monitoring/AlarmTopic"))
    for name in expected - {"idle"}:
        assert alarms[name]["AlarmActions"] == [topic], name


def test_server_error_rate_alarm(any_env: SynthesizedEnv) -> None:
    alarm = _alarms_by_suffix(any_env)["5xx-rate"]
    queries = {query["Id"]: query for query in alarm["Metrics"]}
    expression = next(query for query in alarm["Metrics"] if "Expression" in query)
    assert "elb5xx" in expression["Expression"] and "service5xx" in expression["Expression"]
    assert queries["requests"]["MetricStat"]["Metric"]["MetricName"] == "RequestCount"
    assert queries["elb5xx"]["MetricStat"]["Metric"]["MetricName"] == "HTTPCode_ELB_5XX_Count"
    service_5xx = queries["service5xx"]["MetricStat"]["Metric"]
    assert service_5xx["MetricName"] == "HTTPCode_Target_5XX_Count"
    # Only the service's target group: the waker's deliberate 503 while waking is not an incident.
    dimensions = {item["Name"]: item["Value"] for item in service_5xx["Dimensions"]}
    assert dimensions["TargetGroup"] == get_att(
        any_env.logical_id("Ingress/ServiceTargetGroup"), "TargetGroupFullName"
    )
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == 5
    assert alarm["TreatMissingData"] == "notBreaching"


def test_unhealthy_targets_alarm(any_env: SynthesizedEnv) -> None:
    alarm = _alarms_by_suffix(any_env)["unhealthy-targets"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/ApplicationELB",
        "UnHealthyHostCount",
        "Maximum",
    )
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Threshold"] == 1


def test_wake_failure_alarm(scale_to_zero_env: SynthesizedEnv, production: SynthesizedEnv) -> None:
    alarm = _alarms_by_suffix(scale_to_zero_env)["wake-failed"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "Warmkeeper",
        "WakeFailures",
        "Sum",
    )
    assert {item["Name"]: item["Value"] for item in alarm["Dimensions"]} == {
        "App": "cityguided",
        "Env": scale_to_zero_env.env_name,
    }
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Threshold"] == 1
    assert alarm["EvaluationPeriods"] == 1
    # Production never sleeps, so it never wakes.
    assert "wake-failed" not in _alarms_by_suffix(production)


def test_rolled_back_deployment_is_announced(any_env: SynthesizedEnv) -> None:
    service = ref(any_env.logical_id("App/Service/Service"))
    topic = ref(any_env.logical_id("Monitoring/AlarmTopic"))
    any_env.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.ecs"],
                "detail-type": ["ECS Deployment State Change"],
                "resources": [service],
                "detail": {"eventName": ["SERVICE_DEPLOYMENT_FAILED"]},
            },
            "State": "ENABLED",
        },
    )
    rule = next(
        rule["Properties"]
        for rule in any_env.resources("AWS::Events::Rule").values()
        if rule["Properties"].get("EventPattern", {}).get("detail-type") == ["ECS Deployment State Change"]
    )
    assert [target["Arn"] for target in rule["Targets"]] == [topic]


def test_alarm_topic_is_encrypted_and_tls_only(any_env: SynthesizedEnv) -> None:
    topic = any_env.properties(any_env.logical_id("Monitoring/AlarmTopic"))
    key = any_env.logical_id("Monitoring/AlarmTopicKey")
    assert topic["KmsMasterKeyId"] == get_att(key, "Arn")
    assert any_env.properties(key)["EnableKeyRotation"] is True
    key_policy = any_env.properties(key)["KeyPolicy"]["Statement"]
    publishers = [s["Principal"].get("Service") for s in key_policy if "kms:GenerateDataKey*" in s["Action"]]
    assert ["cloudwatch.amazonaws.com", "events.amazonaws.com"] in publishers
    _, topic_policy = any_env.only("AWS::SNS::TopicPolicy")
    denies = [s for s in topic_policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert denies and denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_email_subscription_only_when_configured(
    staging: SynthesizedEnv, production: SynthesizedEnv, https_staging: SynthesizedEnv
) -> None:
    assert staging.settings.alarm_email is None and production.settings.alarm_email is None
    staging.template.resource_count_is("AWS::SNS::Subscription", 0)
    production.template.resource_count_is("AWS::SNS::Subscription", 0)
    _, subscription = https_staging.only("AWS::SNS::Subscription")
    assert subscription == {
        "Protocol": "email",
        "Endpoint": ALARM_EMAIL,
        "TopicArn": ref(https_staging.logical_id("Monitoring/AlarmTopic")),
    }


def test_front_door_row_shows_cloudfront_from_us_east_1(
    staging: SynthesizedEnv, production: SynthesizedEnv
) -> None:
    # Behind CloudFront, a request that never reached the ALB (502 from the VPC origin) shows here only.
    _, dashboard = staging.only("AWS::CloudWatch::Dashboard")
    body = dashboard_body(dashboard["DashboardBody"])
    (widget,) = [w for w in body["widgets"] if w["properties"].get("title", "").startswith("Front door")]
    lines = widget["properties"]["metrics"]
    assert {line[1] for line in lines} == {"Requests", "4xxErrorRate", "5xxErrorRate"}
    distribution = staging.logical_id("FrontDoor/Distribution")
    for line in lines:
        assert line[0] == "AWS/CloudFront"
        assert line[2:6] == ["DistributionId", "<TOKEN>", "Region", "Global"]
        assert line[-1]["region"] == "us-east-1"  # CloudFront publishes there only
    # The token is this stack's distribution.
    assert ref(distribution) in dashboard["DashboardBody"]["Fn::Join"][1]
    assert "AWS/CloudFront" not in {
        ns for metrics in _dashboard_metrics(production).values() for ns, _, _ in metrics
    }
