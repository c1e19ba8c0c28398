"""The idle alarm, the scheduled reconcile and the settings of the Lambda, against moto."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.aws.conftest import (
    ALARM_NAME,
    API,
    APP,
    BROWSER,
    POLICY,
    TOKEN,
    World,
    alarm_event,
    alb_event,
    call,
    scheduled_event,
)
from warmkeeper.aws import lambda_handler
from warmkeeper.aws.adapters import RoutingConflictError, WakeLock
from warmkeeper.aws.engine import STALE_LOCK_SECONDS, build_engine
from warmkeeper.aws.lambda_settings import HTTP_API_FIELDS, VARIABLES, Settings, SettingsError
from warmkeeper.core import Action, Policy, TaskStatus, decide


def warm(world: World, awake: timedelta = timedelta(minutes=30)) -> str:
    """A service woken ``awake`` ago, healthy and routed."""
    world.set_desired(1)
    world.put_lock(requested_ago=awake, healthy_ago=awake - timedelta(seconds=60))
    ip = world.task_healthy()
    world.create_warm_rule()
    return ip


def record_order(world: World) -> list[str]:
    """The order of the mutating calls warmkeeper makes (routing vs. count)."""
    calls = {
        operation: world.count_calls(client, operation)
        for client, operation in (
            (world.clients.elbv2, "CreateRule"),
            (world.clients.elbv2, "DeleteRule"),
            (world.clients.ecs, "UpdateService"),
        )
    }
    order: list[str] = []

    def hook(params: dict[str, Any], event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        order.append(f"{operation}({params['desiredCount']})" if operation == "UpdateService" else operation)

    for client, operation in (
        (world.clients.elbv2, "CreateRule"),
        (world.clients.elbv2, "DeleteRule"),
        (world.clients.ecs, "UpdateService"),
    ):
        world.hook(
            client, f"provide-client-params.{client.meta.service_model.service_name}.{operation}", hook
        )
    del calls
    return order


def last_log(world: World) -> dict[str, Any]:
    decisions = [line for line in world.log_lines() if line["message"] == "decision"]
    assert decisions, world.logs
    return decisions[-1]  # type: ignore[no-any-return]


# --- idle alarm ---------------------------------------------------------------------------------------


def test_idle_alarm_routes_to_the_waker_then_scales_to_zero(lam: World) -> None:
    warm(lam)
    order = record_order(lam)
    result = call(alarm_event("ALARM"))
    assert result["handled"] == "alarm"
    assert result["decision"]["actions"] == ["ROUTE_TO_WAKER", "SCALE_TO_ZERO"]
    assert order == ["DeleteRule", "UpdateService(0)"]
    assert lam.desired() == 0
    assert lam.warm_rules() == []
    assert lam.parameter("wake-lock") is None  # cleared on sleep: the next request can wake
    assert lam.metric_sum("Sleeps") == 1
    line = last_log(lam)
    assert line["trigger"] == "idle-alarm"
    assert line["applied"] == ["warm route deleted", "scale to zero: desired 1 -> 0"]
    assert line["app"] == APP


def test_idle_alarm_does_not_sleep_with_an_active_lease(lam: World) -> None:
    warm(lam)
    lam.put_lease(datetime.now(UTC) + timedelta(minutes=10))
    result = call(alarm_event("ALARM"))
    assert result["decision"]["actions"] == []
    assert result["decision"]["blocked_by"] == ["lease_active"]
    assert lam.desired() == 1
    assert len(lam.warm_rules()) == 1


def test_idle_alarm_does_not_sleep_during_a_deployment(make_world: Callable[..., World]) -> None:
    # moto shows a service created with a desired count its tasks have not reached as a PRIMARY
    # deployment IN_PROGRESS, as ECS does during a rollout.
    deploying = make_world(initial_desired=1)
    deploying.put_lock(requested_ago=timedelta(minutes=30), healthy_ago=timedelta(minutes=29))
    deploying.task_healthy()
    deploying.create_warm_rule()
    result = deploying.engine().on_alarm(
        alarm_event("ALARM", ALARM_NAME + deploying.settings.env[7:])["detail"]
    )
    assert result is not None
    assert result.decision.blocked_by == ("deployment_in_progress",)
    assert result.snapshot.observation.deployment_in_progress
    assert deploying.desired() == 1


def test_idle_alarm_does_not_sleep_before_min_warm(lam: World) -> None:
    warm(lam, awake=timedelta(seconds=90))
    result = call(alarm_event("ALARM"))
    assert "min_warm" in result["decision"]["blocked_by"]
    assert lam.desired() == 1


def test_idle_alarm_does_not_sleep_when_requests_were_seen(lam: World) -> None:
    warm(lam)
    lam.requests_seen(minutes_ago=2)
    result = call(alarm_event("ALARM"))
    assert result["decision"]["blocked_by"] == ["not_idle"]
    assert lam.desired() == 1


def test_alarm_back_to_ok_does_not_sleep(lam: World) -> None:
    warm(lam)
    lam.requests_seen(minutes_ago=1)
    result = call(alarm_event("OK"))
    assert result["decision"]["actions"] == []
    assert last_log(lam)["trigger"] == "alarm-ok"
    assert lam.desired() == 1


def test_another_alarm_is_ignored(lam: World) -> None:
    warm(lam)
    result = call(alarm_event("ALARM", alarm_name="SomethingElse"))
    assert result == {"handled": "alarm", "decision": None}
    assert lam.desired() == 1


def test_a_request_after_the_sleep_wakes_again(lam: World) -> None:
    ip = warm(lam)
    call(alarm_event("ALARM"))
    lam.task_gone(ip)  # ECS stopped the task
    response = call(alb_event(lam, headers=BROWSER))
    assert response["statusCode"] == 503
    assert lam.desired() == 1
    assert lam.metric_sum("Wakes") == 1


# --- the scheduled reconcile repairs every drift ---------------------------------------------------------


def test_reconcile_routes_a_healthy_service_that_gets_no_traffic(lam: World) -> None:
    lam.set_desired(1)
    lam.put_lock(requested_ago=timedelta(minutes=1))
    lam.task_healthy()
    result = call(scheduled_event())
    assert result["handled"] == "reconcile"
    assert result["decision"]["actions"] == ["ROUTE_TO_SERVICE"]
    rules = lam.warm_rules()
    assert len(rules) == 1
    assert rules[0]["Conditions"][0]["PathPatternConfig"]["Values"] == ["/*"]
    assert rules[0]["Actions"][0]["TargetGroupArn"] == lam.service_target_group_arn
    tags = lam.clients.elbv2.describe_tags(ResourceArns=[rules[0]["RuleArn"]])["TagDescriptions"][0]["Tags"]
    assert {"Key": "warmkeeper:role", "Value": "warm-route"} in tags
    assert lam.metric_sum("ColdStartSeconds") > 0  # recorded at the first healthy observation


def test_reconcile_takes_traffic_away_from_a_service_without_healthy_target(lam: World) -> None:
    lam.set_desired(1)
    lam.put_lock(requested_ago=timedelta(minutes=1))
    lam.create_warm_rule()
    result = call(scheduled_event())
    assert result["decision"]["actions"] == ["ROUTE_TO_WAKER"]
    assert lam.warm_rules() == []
    assert lam.desired() == 1  # still waking


def test_reconcile_sleeps_a_service_idle_past_the_limit(lam: World) -> None:
    # The idle alarm's event was lost: the reconcile finds the service idle for 30 minutes.
    warm(lam)
    lam.requests_seen(minutes_ago=20)
    result = call(scheduled_event())
    assert result["decision"]["actions"] == ["ROUTE_TO_WAKER", "SCALE_TO_ZERO"]
    assert lam.desired() == 0
    assert lam.warm_rules() == []


def test_reconcile_flags_a_scale_up_that_never_became_healthy(lam: World) -> None:
    lam.set_desired(1)
    lam.put_lock(requested_ago=timedelta(minutes=4))
    first = call(scheduled_event())
    assert first["decision"]["wake_failed"] is True
    assert first["decision"]["actions"] == []  # no flapping: the task stays asked for
    call(scheduled_event())
    assert lam.metric_sum("WakeFailures") == 1  # reported once per wake, not once per minute
    assert json.loads(lam.parameter("wake-lock") or "{}")["failure_reported"] is True
    status = json.loads(call(alb_event(lam, path="/_warmkeeper/status"))["body"])
    assert status["problems"] and "wake not healthy after" in status["problems"][0]
    # Once idle long enough with nobody asking, it goes back to sleep.
    lam.put_lock(requested_ago=timedelta(minutes=6))
    last = call(scheduled_event())
    assert last["decision"]["actions"] == ["SCALE_TO_ZERO"]
    assert lam.desired() == 0


def test_reconcile_repairs_a_stale_wake_lock(lam: World) -> None:
    # A wake lock left with no task wanted (an invocation died between the lock and UpdateService).
    lam.put_lock(requested_ago=timedelta(seconds=STALE_LOCK_SECONDS + 5))
    report = lam.engine().status()  # read-only: reports it, changes nothing
    assert report.state == "COLD"
    assert report.problems == ["stale wake lock (no task wanted): the next reconcile removes it"]
    call(scheduled_event())
    assert lam.parameter("wake-lock") is None
    assert "repaired a stale wake lock" in last_log(lam)["applied"]
    call(alb_event(lam, headers=BROWSER))
    assert lam.desired() == 1


def test_a_young_lock_with_no_task_is_a_wake_in_flight_not_stale(lam: World) -> None:
    lam.put_lock(requested_ago=timedelta(seconds=5))
    updates = lam.count_calls(lam.clients.ecs, "UpdateService")
    call(alb_event(lam, headers=BROWSER))
    assert updates == []  # the other caller's UpdateService is on its way
    assert lam.parameter("wake-lock") is not None


def test_reconcile_adopts_a_service_scaled_up_by_hand(lam: World) -> None:
    lam.set_desired(1)
    lam.task_healthy()
    result = call(scheduled_event())
    assert result["decision"]["actions"] == ["ROUTE_TO_SERVICE"]  # not slept at once
    lock = WakeLock.from_json(lam.parameter("wake-lock") or "")
    assert lock.adopted
    assert lam.metric_sum("ColdStartSeconds") == 0  # not a cold start warmkeeper caused


def test_reconcile_wakes_for_an_active_lease(lam: World) -> None:
    lam.put_lease(datetime.now(UTC) + timedelta(minutes=10))
    result = call(scheduled_event())
    assert result["decision"]["actions"] == ["SCALE_UP"]
    assert lam.desired() == 1


def test_reconcile_of_a_cold_service_changes_nothing(lam: World) -> None:
    updates = lam.count_calls(lam.clients.ecs, "UpdateService")
    result = call(scheduled_event())
    assert result["decision"]["actions"] == []
    assert updates == []
    assert last_log(lam)["state"] == "COLD"


def test_concurrent_wakes_that_both_saw_no_lock_scale_up_once(world: World) -> None:
    # Two invocations observe at the same moment (no lock yet), then both apply: the
    # compare-and-set on the SSM parameter lets exactly one call UpdateService.
    updates = world.count_calls(world.clients.ecs, "UpdateService")
    first, second = world.engine(), world.engine()
    seen_first = first.observe(wake_pending=True)
    seen_second = second.observe(wake_pending=True)
    decision = decide(seen_first.observation, first.policy, seen_first.now)
    assert decision.actions == (Action.SCALE_UP,)
    assert first.apply(seen_first, decision) == ["scale-up: desired 0 -> 1"]
    assert second.apply(seen_second, decision) == ["wake already asked by a concurrent caller"]
    assert len(updates) == 1


def test_a_foreign_rule_at_the_warm_priority_is_never_deleted(lam: World) -> None:
    lam.clients.elbv2.create_rule(
        ListenerArn=lam.listener_arn,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/admin/*"]}}],
        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403"}}],
    )
    engine = lam.engine()
    with pytest.raises(RoutingConflictError, match="WK_WARM_RULE_PRIORITY"):
        engine.router.route_to_waker()
    assert len(lam.warm_rules()) == 1


def test_unknown_events_are_ignored(lam: World) -> None:
    assert call({"source": "aws.s3", "detail-type": "Object Created"}) == {"handled": None}
    assert lam.desired() == 0


def test_metrics_are_emf_lines_of_the_invocation(lam: World) -> None:
    """A wake is counted by one EMF document on the log channel, carrying the invocation's request
    id like every other line of it; no CloudWatch API call is made for it."""
    before = datetime.now(UTC)
    context = SimpleNamespace(aws_request_id="8f507cfc-xmpl-4697-b07a-ac58fc914c95")
    response = lambda_handler.handler(alb_event(lam, path="/api/places", headers=API), context)
    assert response["statusCode"] == 503  # no recorded wake fits in the hold: answered at once
    (wake,) = [d for d in lam.metric_documents() if "Wakes" in d]
    assert wake["Wakes"] == 1
    assert wake["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "Wakes", "Unit": "Count"}]
    assert wake["message"] == "metric"
    now_ms = datetime.now(UTC).timestamp() * 1000
    assert before.timestamp() * 1000 - 1 <= wake["_aws"]["Timestamp"] <= now_ms
    lines = lam.log_lines()
    assert {line["requestId"] for line in lines} == {context.aws_request_id}
    assert {line["message"] for line in lines} >= {"decision", "metric"}
    assert lam.metric_sum("HeldRequests") == 0
    assert lam.metric_calls == []


def test_without_custom_metrics_the_events_are_plain_log_lines(lam: World) -> None:
    """Where nobody watches (WK_CUSTOM_METRICS=false), a wake is the same JSON line without the EMF
    block: CloudWatch extracts nothing from it, so no custom metric is billed."""
    quiet = replace(lam.settings, custom_metrics=False)
    lambda_handler.use(build_engine(quiet, lam.clients, sleep=lambda seconds: None))
    response = lambda_handler.handler(alb_event(lam, path="/api/places", headers=API), None)
    assert response["statusCode"] == 503
    (wake,) = [line for line in lam.log_lines() if line.get("message") == "metric" and "Wakes" in line]
    assert wake["Wakes"] == 1 and wake["App"] == lam.settings.app
    assert "_aws" not in wake
    assert lam.metric_documents() == []


def test_custom_metrics_setting_round_trip(world: World) -> None:
    quiet = replace(world.settings, custom_metrics=False)
    assert environment(world)["WK_CUSTOM_METRICS"] == "true"
    assert Settings.from_env(quiet.to_env()) == quiet
    with pytest.raises(SettingsError, match="WK_CUSTOM_METRICS: 'off' is not 'true' or 'false'"):
        Settings.from_env(environment(world, WK_CUSTOM_METRICS="off"))


# --- settings from the environment -------------------------------------------------------------------------


def environment(world: World, **overrides: str) -> dict[str, str]:
    """The variables a deployed function of this world gets (the stack writes them with to_env)."""
    return {**world.settings.to_env(), **overrides}


def test_settings_from_the_contract_variables(world: World) -> None:
    variables = environment(world)
    # Every optional variable of a load balancer's front door is set in this world; the HTTP API's
    # are absent (tests/aws/test_http_api_routing.py has that front door's round trip).
    # The waiting page's title is unset here (the app's name is used: test_waiting_page_title.py), and
    # the app has no internal service (tests/aws/test_internal_services.py has them); it has the wake
    # secret of its tasks' activity beacon.
    unset = ("title", "internal_services", "wake_with")
    expected = {
        variable for name, variable in VARIABLES.items() if name not in HTTP_API_FIELDS and name not in unset
    }
    assert set(variables) == expected
    assert variables["WK_FRONT_DOOR"] == "load_balancer"
    assert Settings.from_env(variables) == world.settings


def test_settings_round_trip_with_the_optional_fields_unset(world: World) -> None:
    minimal = replace(
        world.settings,
        keepalive_secret_arn=None,
        load_balancer_dimension=None,
        target_group_dimension=None,
        idle_alarm_name=None,
        warm_rule_priority=20,
        policy=Policy(scale_to_zero=False, min_tasks=1, max_tasks=3),
    )
    variables = minimal.to_env()
    assert "WK_IDLE_ALARM_NAME" not in variables and "WK_KEEPALIVE_SECRET_ARN" not in variables
    assert Settings.from_env(variables) == minimal


def test_handler_builds_itself_from_the_environment(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in environment(world).items():
        monkeypatch.setenv(name, value)
    lambda_handler.use(None)
    try:
        event = alb_event(
            world,
            method="POST",
            path="/_warmkeeper/keepalive",
            headers={"authorization": [f"Bearer {TOKEN}"]},
        )
        response = lambda_handler.handler(event, None)
        assert response["statusCode"] == 202
        assert world.desired() == 1
    finally:
        lambda_handler.use(None)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"WK_CLUSTER": ""}, "WK_CLUSTER: required"),
        ({"WK_POLICY": "{not json"}, "WK_POLICY: not valid JSON"),
        ({"WK_POLICY": '{"idle_minutes": -1}'}, "WK_POLICY.idle_minutes"),
        ({"WK_WARM_RULE_PRIORITY": "ten"}, "WK_WARM_RULE_PRIORITY"),
        ({"WK_WARM_RULE_PRIORITY": "0"}, "WK_WARM_RULE_PRIORITY"),
        ({"WK_PARAMETER_PREFIX": "warmkeeper/x/"}, "WK_PARAMETER_PREFIX"),
        ({"WK_LISTENER_ARN": ""}, "WK_LISTENER_ARN: required when WK_FRONT_DOOR is load_balancer"),
        ({"WK_FRONT_DOOR": "nlb"}, "WK_FRONT_DOOR: 'nlb' is not one of"),
        ({"WK_FRONT_DOOR": "http_api"}, "WK_API_ID: required when WK_FRONT_DOOR is http_api"),
    ],
)
def test_settings_errors_name_the_variable(world: World, overrides: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(environment(world, **overrides))


def test_optional_settings_default(world: World) -> None:
    values = environment(world)
    for name in (
        "WK_WARM_RULE_PRIORITY",
        "WK_METRICS_NAMESPACE",
        "WK_KEEPALIVE_SECRET_ARN",
        "WK_IDLE_ALARM_NAME",
    ):
        values.pop(name)
    settings = Settings.from_env(values)
    assert settings.warm_rule_priority == 10
    assert settings.metrics_namespace == "Warmkeeper"
    assert settings.keepalive_secret_arn is None
    assert settings.policy == Policy.from_dict(POLICY.to_dict())


def test_without_a_secret_nobody_passes_the_keepalive(world: World) -> None:
    from dataclasses import replace

    engine = world.engine()
    engine.secret._arn = None  # as with WK_KEEPALIVE_SECRET_ARN unset
    lambda_handler.use(engine)
    try:
        event = alb_event(
            world, method="POST", path="/_warmkeeper/keepalive", headers={"authorization": ["Bearer "]}
        )
        assert call(event)["statusCode"] == 401
    finally:
        lambda_handler.use(None)
    assert world.desired() == 0
    del replace


# --- a stopping task (Fargate Spot interruption) ----------------------------------------------------------

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def spot_interruption_event(lam: World) -> dict[str, Any]:
    """AWS's example of an ECS Task State Change (shape from the ECS developer guide, "Amazon ECS
    task state change events", Fargate Spot interruption), pointed at this environment's service."""
    event: dict[str, Any] = json.loads(
        (FIXTURES / "ecs-task-state-change-spot-interruption.json").read_text()
    )
    event["detail"]["group"] = f"service:{lam.settings.service}"
    return event


def test_a_stopping_task_takes_the_warm_route_away_at_once(lam: World) -> None:
    lam.set_desired(1)
    lam.put_lock(requested_ago=timedelta(minutes=5), healthy_ago=timedelta(minutes=4))
    lam.task_healthy()  # still healthy in the target group: not yet deregistered
    lam.create_warm_rule()
    result = call(spot_interruption_event(lam))
    assert result["handled"] == "task-state"
    # ECS no longer wants the task (moto lists no live task): its target does not count.
    assert lam.warm_rules() == []
    assert lam.desired() == 1  # the replacement is ECS's to start; nothing sleeps
    lock = WakeLock.from_json(lam.parameter("wake-lock") or "")
    assert lock.healthy_at is None  # a new wake, timed from now: requests use its estimate
    assert datetime.now(UTC) - lock.requested_at < timedelta(minutes=1)


def test_a_task_state_change_with_a_live_healthy_task_changes_nothing(lam: World) -> None:
    lam.set_desired(1)
    lam.put_lock(requested_ago=timedelta(minutes=5), healthy_ago=timedelta(minutes=4))
    lam.task_healthy()
    lam.create_warm_rule()
    engine = lam.engine()
    lambda_handler.use(engine)
    engine.ecs.tasks = lambda healthy_ips=frozenset(): [  # type: ignore[method-assign]
        TaskStatus(task_id="t1", health="healthy")
    ]
    assert call(spot_interruption_event(lam))["handled"] == "task-state"
    assert len(lam.warm_rules()) == 1
