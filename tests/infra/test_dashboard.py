"""The dashboard (warmkeeper.infra.dashboard): what it draws, from which metrics."""

from __future__ import annotations

import pytest

from tests.infra.support import SynthesizedEnv, dashboard_body, ref

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
