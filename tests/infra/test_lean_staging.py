"""The example's staging as it is: its warm schedule (EventBridge Scheduler in the window's time zone,
invoking the Lambda with a keep-warm lease), and none of what it does not ask for (no dashboard, no
alarm topic nor its KMS key: no alarm e-mail)."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest

from tests.conftest import EXAMPLE_CONFIG
from tests.infra.conftest import _synthesize
from tests.infra.support import SynthesizedEnv, get_att, statements
from warmkeeper.config import parse_config
from warmkeeper.core.schedule import AWS_WAKE_LEAD_MINUTES, WARM_WINDOW_EVENT, parse_window, scheduler_trigger
from warmkeeper.infra.schedules import warm_lead_minutes

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def lean(lean_staging: SynthesizedEnv) -> SynthesizedEnv:
    return lean_staging


def test_the_example_staging_has_a_warm_schedule_in_its_time_zone(lean: SynthesizedEnv) -> None:
    windows = lean.settings.warm_windows
    assert [window.text for window in windows] == ["Mon-Fri 08:30-09:00 Europe/Paris"]
    _, schedule = lean.only("AWS::Scheduler::Schedule")
    trigger = scheduler_trigger(parse_window(windows[0].text), warm_lead_minutes())
    assert schedule["ScheduleExpression"] == trigger.expression == "cron(27 8 ? * MON,TUE,WED,THU,FRI *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Arn"] == get_att(lean.logical_id("Waker/Function"), "Arn")
    assert json.loads(target["Input"]) == {
        "warmkeeper": WARM_WINDOW_EVENT,
        "window": "Mon-Fri 08:30-09:00 Europe/Paris",
        "minutes": 30 + warm_lead_minutes(),
    }
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] >= 60


def test_the_stack_lead_is_the_one_the_cost_model_and_the_simulation_use() -> None:
    assert warm_lead_minutes() == AWS_WAKE_LEAD_MINUTES == 3


def test_the_schedule_role_may_invoke_the_function_and_nothing_else(lean: SynthesizedEnv) -> None:
    role_id = lean.logical_id("WarmSchedules/Role")
    role = lean.properties(role_id)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    policies = [
        resource["Properties"]
        for resource in lean.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in resource["Properties"]["Roles"]
    ]
    granted = [statement for policy in policies for statement in statements(policy)]
    assert granted == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": get_att(lean.logical_id("Waker/Function"), "Arn"),
        }
    ]


def test_no_dashboard_no_alarm_topic_no_key(lean: SynthesizedEnv) -> None:
    for resource_type in ("AWS::CloudWatch::Dashboard", "AWS::SNS::Topic", "AWS::KMS::Key"):
        assert lean.resources(resource_type) == {}, resource_type
    assert "DashboardName" not in lean.raw["Outputs"]


def test_nobody_watches_so_only_the_idle_alarm_and_no_custom_metrics(lean: SynthesizedEnv) -> None:
    # Operational alarms and warmkeeper's custom metrics are billed every month; where nobody is told
    # or looks (EnvironmentSettings.is_watched) only the alarm that puts the service to sleep remains.
    assert not lean.settings.is_watched
    # The app's idle alarm, and the osrm service's own (tests/infra/test_internal_service.py).
    alarm_id = lean.logical_id("Idle/Alarm")
    osrm_alarm = lean.logical_id("Services/Osrm/Idle/Alarm")
    assert set(lean.resources("AWS::CloudWatch::Alarm")) == {alarm_id, osrm_alarm}
    assert lean.raw["Outputs"]["IdleAlarmName"]["Value"] == {"Ref": alarm_id}
    variables = lean.properties(lean.logical_id("Waker/Function"))["Environment"]["Variables"]
    assert variables["WK_CUSTOM_METRICS"] == "false"


def test_without_a_schedule_there_is_no_scheduler(production: SynthesizedEnv) -> None:
    assert production.resources("AWS::Scheduler::Schedule") == {}


@pytest.fixture(scope="module")
def with_holidays(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnv:
    data: dict[str, Any] = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["environments"]["staging"]["warm_schedule_skip"] = ["2027-01-01", "2026-12-25"]
    config = parse_config(data, EXAMPLE_CONFIG.resolve())
    return _synthesize("holidays", config, "staging", tmp_path_factory.mktemp("cdk-holidays"))


def test_skip_dates_travel_in_the_schedules_input_not_its_cron(
    with_holidays: SynthesizedEnv, lean: SynthesizedEnv
) -> None:
    _, schedule = with_holidays.only("AWS::Scheduler::Schedule")
    _, plain = lean.only("AWS::Scheduler::Schedule")
    # The cron cannot leave dates out: it is the same; the Lambda reads the dates from the input.
    assert schedule["ScheduleExpression"] == plain["ScheduleExpression"]
    event = json.loads(schedule["Target"]["Input"])
    assert event["skip"] == ["2026-12-25", "2027-01-01"]
    assert event["window"] == "Mon-Fri 08:30-09:00 Europe/Paris"
    assert "skip" not in json.loads(plain["Target"]["Input"])


def test_the_unwatched_staging_has_no_container_insights_and_says_why(lean: SynthesizedEnv) -> None:
    # Nobody looks (no dashboard) nor is told (no alarm e-mail): no Container Insights, which was the
    # largest line of its bill; the scanner's and cdk-nag's findings carry the reason.
    assert not lean.settings.has_container_insights
    logical_id, cluster = lean.only("AWS::ECS::Cluster")
    assert {"Name": "containerInsights", "Value": "disabled"} in cluster["ClusterSettings"]
    skips = lean.raw["Resources"][logical_id]["Metadata"]["checkov"]["skip"]
    assert [entry["id"] for entry in skips] == ["CKV_AWS_65"]
    # Nothing the stack builds reads it: no dashboard, no tasks-short alarm.
    assert "ECS/ContainerInsights" not in json.dumps(lean.raw)
