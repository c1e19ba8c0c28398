"""The scale-to-zero state machine: one test per transition and per guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from warmkeeper.core import (
    Action,
    Guard,
    Observation,
    Policy,
    PolicyError,
    Routing,
    State,
    decide,
    derive_state,
    is_ready,
)

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
POLICY = Policy(idle_minutes=5, min_warm_minutes=2, wake_timeout_seconds=180)
ALWAYS_ON = Policy(scale_to_zero=False, min_tasks=1, max_tasks=3)


def ago(**kwargs: float) -> datetime:
    return NOW - timedelta(**kwargs)


def warm(**changes: object) -> Observation:
    """A service warm for 30 minutes, last request 10 minutes ago (so idle unless changed)."""
    base: dict[str, object] = {
        "desired": 1,
        "running": 1,
        "healthy": 1,
        "routing": Routing.SERVICE,
        "last_activity_at": ago(minutes=10),
        "wake_requested_at": ago(minutes=31),
        "warm_since": ago(minutes=30),
    }
    base.update(changes)
    return Observation(**base)  # type: ignore[arg-type]


COLD = Observation(desired=0, running=0, healthy=0, routing=Routing.WAKER)


# --- derived states -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observation", "policy", "state"),
    [
        (COLD, POLICY, State.COLD),
        (Observation(1, 0, 0, Routing.WAKER), POLICY, State.WAKING),
        (Observation(1, 1, 1, Routing.WAKER), POLICY, State.WAKING),  # healthy, not routed yet
        (Observation(1, 1, 1, Routing.SERVICE), POLICY, State.WARM),
        (Observation(0, 1, 0, Routing.WAKER), POLICY, State.DRAINING),
        (Observation(1, 1, 1, Routing.SERVICE), ALWAYS_ON, State.ALWAYS_ON),
    ],
)
def test_derived_state(observation: Observation, policy: Policy, state: State) -> None:
    assert derive_state(observation, policy) is state
    assert decide(observation, policy, NOW).state is state


def test_ready_needs_a_healthy_target_traffic_and_a_wanted_task() -> None:
    assert is_ready(Observation(1, 1, 1, Routing.SERVICE))
    assert not is_ready(Observation(1, 1, 1, Routing.WAKER))
    assert not is_ready(Observation(1, 1, 0, Routing.SERVICE))
    assert not is_ready(Observation(0, 1, 1, Routing.SERVICE))


# --- transitions ----------------------------------------------------------------------------------


def test_cold_without_demand_does_nothing() -> None:
    decision = decide(COLD, POLICY, NOW)
    assert decision.actions == ()
    assert decision.desired_count is None


def test_cold_to_waking_on_a_request() -> None:
    decision = decide(Observation(0, 0, 0, Routing.WAKER, wake_pending=True), POLICY, NOW)
    assert decision.actions == (Action.SCALE_UP,)
    assert decision.desired_count == 1
    assert decision.waking


def test_cold_to_waking_on_an_active_lease() -> None:
    observation = Observation(0, 0, 0, Routing.WAKER, lease_until=NOW + timedelta(minutes=5))
    decision = decide(observation, POLICY, NOW)
    assert decision.actions == (Action.SCALE_UP,)
    assert decision.lease_active
    assert "lease" in decision.reason


def test_expired_lease_does_not_wake() -> None:
    observation = Observation(0, 0, 0, Routing.WAKER, lease_until=NOW - timedelta(seconds=1))
    assert decide(observation, POLICY, NOW).actions == ()


def test_waking_without_healthy_target_waits() -> None:
    observation = Observation(1, 1, 0, Routing.WAKER, wake_requested_at=ago(seconds=20))
    decision = decide(observation, POLICY, NOW)
    assert decision.state is State.WAKING
    assert decision.actions == ()
    assert not decision.wake_failed


def test_waking_to_warm_when_a_target_is_healthy() -> None:
    observation = Observation(1, 1, 1, Routing.WAKER, wake_requested_at=ago(seconds=40), warm_since=NOW)
    decision = decide(observation, POLICY, NOW)
    assert decision.actions == (Action.ROUTE_TO_SERVICE,)


def test_warm_and_busy_does_nothing() -> None:
    decision = decide(warm(last_activity_at=ago(minutes=1)), POLICY, NOW)
    assert decision.state is State.WARM
    assert decision.actions == ()
    assert decision.blocked_by == (Guard.NOT_IDLE,)
    assert decision.seconds_until_sleep == pytest.approx(240)


def test_warm_to_draining_when_idle_routes_to_the_waker_first() -> None:
    decision = decide(warm(), POLICY, NOW)
    assert decision.actions == (Action.ROUTE_TO_WAKER, Action.SCALE_TO_ZERO)
    assert decision.desired_count == 0
    assert decision.sleeping


def test_draining_does_nothing_more() -> None:
    decision = decide(Observation(0, 1, 0, Routing.WAKER), POLICY, NOW)
    assert decision.state is State.DRAINING
    assert decision.actions == ()


def test_draining_back_to_waking_on_a_request() -> None:
    decision = decide(Observation(0, 1, 0, Routing.WAKER, wake_pending=True), POLICY, NOW)
    assert decision.actions == (Action.SCALE_UP,)


def test_draining_with_healthy_target_and_request_scales_up_then_routes() -> None:
    decision = decide(Observation(0, 1, 1, Routing.WAKER, wake_pending=True), POLICY, NOW)
    assert decision.actions == (Action.SCALE_UP, Action.ROUTE_TO_SERVICE)


# --- repairs of drift (what the scheduled reconcile fixes) ---------------------------------------------


def test_healthy_target_but_traffic_to_the_waker_is_routed() -> None:
    decision = decide(warm(routing=Routing.WAKER, last_activity_at=ago(minutes=1)), POLICY, NOW)
    assert decision.actions == (Action.ROUTE_TO_SERVICE,)


def test_traffic_routed_to_a_service_without_healthy_target_goes_back_to_the_waker() -> None:
    decision = decide(warm(healthy=0, last_activity_at=ago(minutes=1)), POLICY, NOW)
    assert decision.actions == (Action.ROUTE_TO_WAKER,)


def test_routed_to_the_service_with_nothing_wanted_goes_back_to_the_waker() -> None:
    decision = decide(Observation(0, 0, 0, Routing.SERVICE), POLICY, NOW)
    assert decision.actions == (Action.ROUTE_TO_WAKER,)


def test_routed_with_no_task_and_a_request_reroutes_then_wakes() -> None:
    decision = decide(Observation(0, 0, 0, Routing.SERVICE, wake_pending=True), POLICY, NOW)
    assert decision.actions == (Action.ROUTE_TO_WAKER, Action.SCALE_UP)


def test_interrupted_sleep_finishes_without_routing_back() -> None:
    # The routing step of a sleep happened, the count step was lost: finish the sleep.
    decision = decide(warm(routing=Routing.WAKER), POLICY, NOW)
    assert decision.actions == (Action.SCALE_TO_ZERO,)


def test_service_scaled_up_outside_warmkeeper_sleeps_when_idle() -> None:
    observation = Observation(1, 1, 1, Routing.SERVICE)  # no wake record, no traffic data
    decision = decide(observation, POLICY, NOW)
    assert decision.actions == (Action.ROUTE_TO_WAKER, Action.SCALE_TO_ZERO)
    assert decision.idle_seconds is None


# --- failed wakes -----------------------------------------------------------------------------------


def test_wake_not_healthy_after_the_timeout_is_flagged_and_kept() -> None:
    observation = Observation(1, 1, 0, Routing.WAKER, wake_requested_at=ago(seconds=181))
    decision = decide(observation, POLICY, NOW)
    assert decision.wake_failed
    assert decision.actions == ()  # no flapping: keep the task asked, the waker answers meanwhile
    assert "wake failed" in decision.reason


def test_wake_just_under_the_timeout_is_not_failed() -> None:
    observation = Observation(1, 1, 0, Routing.WAKER, wake_requested_at=ago(seconds=179))
    assert not decide(observation, POLICY, NOW).wake_failed


def test_failed_wake_sleeps_once_idle() -> None:
    observation = Observation(1, 1, 0, Routing.WAKER, wake_requested_at=ago(minutes=6))
    decision = decide(observation, POLICY, NOW)
    assert decision.wake_failed
    assert decision.actions == (Action.SCALE_TO_ZERO,)
    assert decision.reason.startswith("wake failed")


def test_target_lost_after_being_healthy_is_not_a_failed_wake() -> None:
    observation = Observation(
        1, 1, 0, Routing.WAKER, wake_requested_at=ago(minutes=4), warm_since=ago(minutes=3)
    )
    assert not decide(observation, POLICY, NOW).wake_failed


# --- guards of the sleep ------------------------------------------------------------------------------


def test_guard_not_idle() -> None:
    decision = decide(warm(last_activity_at=ago(minutes=4, seconds=59)), POLICY, NOW)
    assert Action.SCALE_TO_ZERO not in decision.actions
    assert Guard.NOT_IDLE in decision.blocked_by


def test_guard_idle_exactly_at_the_limit_sleeps() -> None:
    assert decide(warm(last_activity_at=ago(minutes=5)), POLICY, NOW).sleeping


def test_guard_missing_activity_counts_as_idle() -> None:
    assert decide(warm(last_activity_at=None), POLICY, NOW).sleeping


def test_guard_a_recent_wake_counts_as_activity() -> None:
    # The request that woke the service went to the waker, which RequestCount does not see.
    decision = decide(
        warm(last_activity_at=None, wake_requested_at=ago(minutes=3), warm_since=ago(minutes=2)), POLICY, NOW
    )
    assert not decision.sleeping
    assert Guard.NOT_IDLE in decision.blocked_by


def test_guard_active_lease() -> None:
    decision = decide(warm(lease_until=NOW + timedelta(minutes=20)), POLICY, NOW)
    assert not decision.sleeping
    assert decision.blocked_by == (Guard.LEASE_ACTIVE,)
    assert decision.seconds_until_sleep == pytest.approx(20 * 60)


def test_guard_deployment_in_progress() -> None:
    decision = decide(warm(deployment_in_progress=True), POLICY, NOW)
    assert not decision.sleeping
    assert decision.blocked_by == (Guard.DEPLOYMENT_IN_PROGRESS,)
    assert decision.seconds_until_sleep is None


def test_guard_min_warm() -> None:
    policy = Policy(idle_minutes=1, min_warm_minutes=10)
    observation = warm(last_activity_at=None, wake_requested_at=ago(minutes=6), warm_since=ago(minutes=5))
    decision = decide(observation, policy, NOW)
    assert not decision.sleeping
    assert decision.blocked_by == (Guard.MIN_WARM,)
    assert decision.seconds_until_sleep == pytest.approx(5 * 60)


def test_guard_wake_pending() -> None:
    decision = decide(warm(wake_pending=True), POLICY, NOW)
    assert not decision.sleeping
    assert decision.blocked_by == (Guard.WAKE_PENDING,)


def test_guard_still_waking() -> None:
    policy = Policy(idle_minutes=1, min_warm_minutes=0, wake_timeout_seconds=300)
    observation = Observation(1, 1, 0, Routing.WAKER, wake_requested_at=ago(minutes=2))
    decision = decide(observation, policy, NOW)
    assert not decision.sleeping
    assert decision.blocked_by == (Guard.STILL_WAKING,)


def test_all_guards_reported_together() -> None:
    observation = warm(
        last_activity_at=NOW,
        lease_until=NOW + timedelta(minutes=1),
        deployment_in_progress=True,
        warm_since=NOW,
        wake_pending=True,
    )
    blocked = set(decide(observation, POLICY, NOW).blocked_by)
    assert blocked == {
        Guard.NOT_IDLE,
        Guard.LEASE_ACTIVE,
        Guard.DEPLOYMENT_IN_PROGRESS,
        Guard.MIN_WARM,
        Guard.WAKE_PENDING,
    }


# --- scale-to-zero off (production) ----------------------------------------------------------------


def test_always_on_never_sleeps() -> None:
    decision = decide(warm(last_activity_at=None), ALWAYS_ON, NOW)
    assert decision.state is State.ALWAYS_ON
    assert decision.actions == ()


def test_always_on_keeps_min_tasks() -> None:
    decision = decide(
        Observation(0, 0, 0, Routing.WAKER), Policy(scale_to_zero=False, min_tasks=2, max_tasks=4), NOW
    )
    assert decision.actions == (Action.SCALE_UP,)
    assert decision.desired_count == 2


def test_always_on_routes_to_the_service_when_healthy() -> None:
    decision = decide(Observation(1, 1, 1, Routing.WAKER), ALWAYS_ON, NOW)
    assert decision.actions == (Action.ROUTE_TO_SERVICE,)


def test_always_on_never_routes_to_an_unhealthy_service() -> None:
    decision = decide(Observation(1, 1, 0, Routing.SERVICE), ALWAYS_ON, NOW)
    assert decision.actions == (Action.ROUTE_TO_WAKER,)


def test_always_on_does_not_scale_down_above_min() -> None:
    decision = decide(Observation(3, 3, 3, Routing.SERVICE), ALWAYS_ON, NOW)
    assert decision.actions == ()


# --- policy ------------------------------------------------------------------------------------------


def test_policy_from_the_contract_json_round_trips() -> None:
    data = {
        "scale_to_zero": True,
        "idle_minutes": 5,
        "min_warm_minutes": 2,
        "hold_seconds": 25,
        "wake_timeout_seconds": 180,
        "retry_after_seconds": 10,
        "default_lease_minutes": 30,
        "max_lease_minutes": 240,
        "ignore_user_agents": ["UptimeRobot", "bot"],
        "min_tasks": 0,
        "max_tasks": 1,
    }
    policy = Policy.from_dict(data)
    assert policy.ignore_user_agents == ("UptimeRobot", "bot")
    assert policy.idle_minutes == 5.0
    assert Policy.from_dict(policy.to_dict()) == policy


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"idle_minute": 5}, "unknown key"),
        ({"idle_minutes": "5"}, "WK_POLICY.idle_minutes: must be a number"),
        ({"idle_minutes": 0}, "WK_POLICY.idle_minutes: must be > 0"),
        ({"scale_to_zero": "yes"}, "WK_POLICY.scale_to_zero"),
        ({"max_tasks": 1.5}, "WK_POLICY.max_tasks: must be a whole number"),
        ({"ignore_user_agents": "bot"}, "WK_POLICY.ignore_user_agents"),
        ({"default_lease_minutes": 300, "max_lease_minutes": 240}, "must not exceed max_lease_minutes"),
        ({"scale_to_zero": False, "min_tasks": 0}, "WK_POLICY.min_tasks"),
        ({"hold_seconds": 61}, "WK_POLICY.hold_seconds"),
    ],
)
def test_policy_errors_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        Policy.from_dict(data)


def test_wake_count_respects_min_and_max_tasks() -> None:
    assert Policy().wake_count == 1
    assert Policy(scale_to_zero=False, min_tasks=2, max_tasks=3).wake_count == 2


def test_observation_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match="negative"):
        Observation(-1, 0, 0, Routing.WAKER)


def test_decision_log_dict_is_plain_json() -> None:
    import json

    line = json.dumps(decide(warm(), POLICY, NOW).to_log_dict())
    assert '"actions": ["ROUTE_TO_WAKER", "SCALE_TO_ZERO"]' in line


def test_wake_allowed_from_round_trips_and_refuses_what_is_not_a_range() -> None:
    policy = Policy.from_dict({"wake_allowed_from": ["203.0.113.0/24"]})
    assert policy.wake_allowed_from == ("203.0.113.0/24",)
    assert Policy.from_dict(policy.to_dict()) == policy
    with pytest.raises(PolicyError, match=r"WK_POLICY\.wake_allowed_from: 'nope' is not an address range"):
        Policy.from_dict({"wake_allowed_from": ["nope"]})
