"""Property tests of the state machine's invariants, over every observation hypothesis can build."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from warmkeeper.core import Action, Decision, Observation, Policy, Routing, decide, lease_active

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)

# Times from two hours ago to one hour ahead, at one-second resolution, or unknown.
maybe_time = st.one_of(
    st.none(), st.integers(min_value=-7200, max_value=3600).map(lambda s: NOW + timedelta(seconds=s))
)
past_time = st.one_of(
    st.none(), st.integers(min_value=0, max_value=7200).map(lambda s: NOW - timedelta(seconds=s))
)


@st.composite
def observations(draw: st.DrawFn) -> Observation:
    desired = draw(st.integers(0, 3))
    running = draw(st.integers(0, 3))
    return Observation(
        desired=desired,
        running=running,
        healthy=draw(st.integers(0, running)),
        routing=draw(st.sampled_from(Routing)),
        last_activity_at=draw(past_time),
        lease_until=draw(maybe_time),
        deployment_in_progress=draw(st.booleans()),
        wake_requested_at=draw(past_time),
        warm_since=draw(past_time),
        wake_pending=draw(st.booleans()),
    )


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    scale_to_zero = draw(st.booleans())
    min_tasks = 0 if scale_to_zero else draw(st.integers(1, 2))
    return Policy(
        scale_to_zero=scale_to_zero,
        idle_minutes=draw(st.sampled_from([1, 5, 30])),
        min_warm_minutes=draw(st.sampled_from([0, 2, 10])),
        wake_timeout_seconds=draw(st.sampled_from([30, 180, 600])),
        min_tasks=min_tasks,
        max_tasks=draw(st.integers(max(1, min_tasks), 3)),
    )


def routing_after(observation: Observation, decision: Decision) -> Routing:
    routing = observation.routing
    for action in decision.actions:
        if action is Action.ROUTE_TO_SERVICE:
            routing = Routing.SERVICE
        elif action is Action.ROUTE_TO_WAKER:
            routing = Routing.WAKER
    return routing


def apply(observation: Observation, decision: Decision, now: datetime) -> Observation:
    """What an adapter does with a decision: the routing and count changes, and their records
    (the wake lock's time on a scale-up, cleared on a sleep; the first healthy time)."""
    result = replace(observation, routing=routing_after(observation, decision))
    if decision.desired_count is not None:
        result = replace(result, desired=decision.desired_count)
    if Action.SCALE_UP in decision.actions and result.wake_requested_at is None:
        result = replace(result, wake_requested_at=now)
    if Action.SCALE_TO_ZERO in decision.actions:
        result = replace(result, wake_requested_at=None, warm_since=None)
    if result.desired > 0 and result.healthy > 0 and result.warm_since is None:
        result = replace(result, warm_since=now)
    return result


@settings(max_examples=400, deadline=None)
@given(observations(), policies())
def test_never_routes_to_the_service_without_a_healthy_target(
    observation: Observation, policy: Policy
) -> None:
    decision = decide(observation, policy, NOW)
    if Action.ROUTE_TO_SERVICE in decision.actions:
        assert observation.healthy > 0
    if routing_after(observation, decision) is Routing.SERVICE:
        assert observation.healthy > 0
        desired_after = decision.desired_count if decision.desired_count is not None else observation.desired
        assert desired_after > 0


@settings(max_examples=400, deadline=None)
@given(observations(), policies())
def test_never_sleeps_with_a_lease_a_deployment_or_a_waiting_request(
    observation: Observation, policy: Policy
) -> None:
    decision = decide(observation, policy, NOW)
    if Action.SCALE_TO_ZERO in decision.actions:
        assert policy.scale_to_zero
        assert not lease_active(observation, NOW)
        assert not observation.deployment_in_progress
        assert not observation.wake_pending


@settings(max_examples=400, deadline=None)
@given(observations(), policies())
def test_sleep_respects_idle_and_min_warm(observation: Observation, policy: Policy) -> None:
    decision = decide(observation, policy, NOW)
    if Action.SCALE_TO_ZERO in decision.actions:
        assert decision.idle_seconds is None or decision.idle_seconds >= policy.idle_minutes * 60
        awake_since = observation.warm_since or observation.wake_requested_at
        if awake_since is not None:
            assert (NOW - awake_since).total_seconds() >= policy.min_warm_minutes * 60


@settings(max_examples=400, deadline=None)
@given(observations(), policies())
def test_sleeping_changes_routing_before_the_count(observation: Observation, policy: Policy) -> None:
    decision = decide(observation, policy, NOW)
    actions = list(decision.actions)
    if Action.SCALE_TO_ZERO in actions:
        assert actions[-1] is Action.SCALE_TO_ZERO
        if observation.routing is Routing.SERVICE:
            assert actions.index(Action.ROUTE_TO_WAKER) < actions.index(Action.SCALE_TO_ZERO)
        assert routing_after(observation, decision) is Routing.WAKER
        assert decision.desired_count == 0


@settings(max_examples=400, deadline=None)
@given(observations(), policies())
def test_actions_are_coherent(observation: Observation, policy: Policy) -> None:
    decision = decide(observation, policy, NOW)
    actions = decision.actions
    assert len(set(actions)) == len(actions)
    assert not (Action.ROUTE_TO_SERVICE in actions and Action.ROUTE_TO_WAKER in actions)
    assert not (Action.SCALE_UP in actions and Action.SCALE_TO_ZERO in actions)
    scales = Action.SCALE_UP in actions or Action.SCALE_TO_ZERO in actions
    assert (decision.desired_count is not None) == scales
    if Action.SCALE_UP in actions:
        assert decision.desired_count is not None
        assert decision.desired_count > observation.desired
        assert decision.desired_count <= policy.max_tasks
    assert decision.reason


@settings(max_examples=400, deadline=None)
@given(observations(), policies())
def test_applying_a_decision_converges(observation: Observation, policy: Policy) -> None:
    first = decide(observation, policy, NOW)
    after = apply(observation, first, NOW)
    second = decide(after, policy, NOW)
    assert second.actions == (), (first, second)


@settings(max_examples=200, deadline=None)
@given(observations(), policies(), st.lists(st.integers(1, 600), min_size=1, max_size=8))
def test_no_flapping_while_a_request_keeps_waiting(
    observation: Observation, policy: Policy, steps: list[int]
) -> None:
    # While someone keeps asking (a request at every step), the service is never put to sleep.
    now = NOW
    current = replace(observation, wake_pending=True)
    for seconds in steps:
        decision = decide(current, policy, now)
        assert Action.SCALE_TO_ZERO not in decision.actions
        current = apply(current, decision, now)
        now += timedelta(seconds=seconds)


@settings(max_examples=400, deadline=None)
@given(observations(), policies())
def test_a_decision_once_applied_is_not_asked_again(observation: Observation, policy: Policy) -> None:
    # The Lambda's invocations and the twin's controller run decide() again as soon as the world
    # changes: once what was decided is done, the same instant must not ask for it a second time
    # (a second scale-up or route change would be a duplicate AWS call for every concurrent caller).
    decision = decide(observation, policy, NOW)
    again = decide(apply(observation, decision, NOW), policy, NOW)
    assert set(decision.actions).isdisjoint(again.actions), (decision, again)
