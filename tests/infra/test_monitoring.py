"""The `Monitoring` construct composes the alarms and the dashboard: their construct paths stay
`Monitoring/...` (so their logical ids do not move), and the dashboard lists the alarms in one order."""

from __future__ import annotations

import pytest

from tests.infra.support import SynthesizedEnv

pytestmark = pytest.mark.infra

BEHIND_EVERY_FRONT_DOOR = (
    "Monitoring/AlarmTopicKey",
    "Monitoring/AlarmTopic",
    "Monitoring/ServerErrorRate",
    "Monitoring/WakerErrors",
    "Monitoring/DeploymentRolledBack",
    "Monitoring/Dashboard",
)


def test_the_constructs_live_under_monitoring(every_front_door: SynthesizedEnv) -> None:
    for path in BEHIND_EVERY_FRONT_DOOR:
        assert every_front_door.logical_id(path)
    door = every_front_door.settings.front_door
    own = "Monitoring/VpcLinkInactive" if door == "http_api" else "Monitoring/UnhealthyTargets"
    assert every_front_door.logical_id(own)
    if every_front_door.settings.scale_to_zero:
        assert every_front_door.logical_id("Monitoring/WakeFailed")


def test_the_dashboard_lists_the_alarms_tasks_first(every_front_door: SynthesizedEnv) -> None:
    """The alarm status widget: the 5xx rate, then the alarm on the tasks (a target group's unhealthy
    targets), the waker's errors, then the alarm on the way to them (an HTTP API's VPC link)."""
    _, dashboard = every_front_door.only("AWS::CloudWatch::Dashboard")
    alarms = every_front_door.resources("AWS::CloudWatch::Alarm")
    prefix = f"Cityguided-{every_front_door.env_name}-"
    listed = [
        alarms[part["Fn::GetAtt"][0]]["Properties"]["AlarmName"].removeprefix(prefix)
        for part in dashboard["DashboardBody"]["Fn::Join"][1]
        if isinstance(part, dict) and "Fn::GetAtt" in part and part["Fn::GetAtt"][0] in alarms
    ]
    if every_front_door.settings.front_door == "http_api":
        expected = ["5xx-rate", "waker-errors", "vpc-link-inactive"]
    else:
        expected = ["5xx-rate", "unhealthy-targets", "waker-errors"]
    if every_front_door.settings.scale_to_zero:
        expected.append("wake-failed")
    assert listed == expected
