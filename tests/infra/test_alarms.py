"""The operational alarms, the alarm topic and its e-mail subscription (warmkeeper.infra.alarms)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import ALARM_EMAIL
from tests.infra.support import SynthesizedEnv, flatten_join, get_att, ref

pytestmark = pytest.mark.infra


def _alarms_by_suffix(synth: SynthesizedEnv) -> dict[str, dict[str, Any]]:
    prefix = f"Cityguided-{synth.env_name}-"
    return {
        alarm["Properties"]["AlarmName"].removeprefix(prefix): alarm["Properties"]
        for alarm in synth.resources("AWS::CloudWatch::Alarm").values()
    }


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
    publishers = {s["Principal"].get("Service") for s in key_policy if "kms:GenerateDataKey*" in s["Action"]}
    assert publishers == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    _, topic_policy = any_env.only("AWS::SNS::TopicPolicy")
    denies = [s for s in topic_policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert denies and denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_email_subscription_only_when_configured(
    staging: SynthesizedEnv, production: SynthesizedEnv, https_staging: SynthesizedEnv
) -> None:
    # Production keeps a topic without an e-mail (it never sleeps: people may subscribe otherwise);
    # the `staging` variant sets one to keep its topic (a sleeping environment has none without it).
    assert production.settings.alarm_email is None
    production.template.resource_count_is("AWS::SNS::Subscription", 0)
    assert staging.settings.alarm_email == ALARM_EMAIL
    staging.template.resource_count_is("AWS::SNS::Subscription", 1)
    _, subscription = https_staging.only("AWS::SNS::Subscription")
    assert subscription == {
        "Protocol": "email",
        "Endpoint": ALARM_EMAIL,
        "TopicArn": ref(https_staging.logical_id("Monitoring/AlarmTopic")),
    }


def _service_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if s["Effect"] == "Allow" and "Service" in s.get("Principal", {})]


def test_services_may_publish_for_this_stacks_alarms_and_rule_only(any_env: SynthesizedEnv) -> None:
    """No statement lets a service publish (or use the key) on behalf of any rule or alarm of any
    account: each carries aws:SourceAccount and aws:SourceArn, the rule's ARN by its fixed name."""
    _, topic_policy = any_env.only("AWS::SNS::TopicPolicy")
    key_policy = any_env.properties(any_env.logical_id("Monitoring/AlarmTopicKey"))["KeyPolicy"]["Statement"]
    rule = next(
        rule["Properties"]
        for rule in any_env.resources("AWS::Events::Rule").values()
        if rule["Properties"].get("EventPattern", {}).get("detail-type") == ["ECS Deployment State Change"]
    )
    rule_name = f"{any_env.config.stack_name(any_env.env_name)}-deployment-rolled-back"
    assert rule["Name"] == rule_name
    for statements in (topic_policy["PolicyDocument"]["Statement"], key_policy):
        by_service = {s["Principal"]["Service"]: s for s in _service_statements(statements)}
        assert set(by_service) == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
        for statement in by_service.values():
            assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        events_source = flatten_join(
            by_service["events.amazonaws.com"]["Condition"]["ArnEquals"]["aws:SourceArn"]
        )
        assert events_source.endswith(f":rule/{rule_name}")
        alarms_source = flatten_join(
            by_service["cloudwatch.amazonaws.com"]["Condition"]["ArnLike"]["aws:SourceArn"]
        )
        assert alarms_source.endswith(f":alarm:{any_env.config.stack_name(any_env.env_name)}-*")
