"""Scenarios on the simulated AWS: the herd, a new account's concurrency, the waking moment,
throttling, the idle alarm, a Spot interruption and the stack changing under a warm service. Every
number here is simulated.

A scenario that fails today is marked ``xfail(strict=True)`` with a reason that says what is not
reachable and why: it flips (and must lose its mark) when the fix lands.
The figures measured before any fix are in docs/benchmarks.md (SIMULATED).
"""

from __future__ import annotations

from typing import Any

import pytest

from warmkeeper.aws.snapshots import STATUS_SNAPSHOT_SECONDS
from warmkeeper.aws_limits import METRIC_VISIBILITY_SECONDS
from warmkeeper_sim.figures import figure
from warmkeeper_sim.scenarios import (
    TARGET_RESERVED_CONCURRENCY,
    Run,
    SpotResult,
    herd,
    idle_sleep,
    run_world,
    spot_interruption,
    target_group_replaced,
    warm_world,
)
from warmkeeper_sim.world import SimConfig, World

RECONCILE_SECONDS = 60.0
HERD = 1000


@pytest.fixture(scope="module")
def herd_run() -> Run:
    """1000 cold visitors in 10 s: 70 % browsers, 1 % bots, the rest API clients."""
    return herd(HERD)


# --- the herd ------------------------------------------------------------------------------------------


def test_herd_wakes_the_service_with_exactly_one_update_service(herd_run: Run) -> None:
    assert herd_run.world.ecs.update_service_calls[0][1] == 1
    assert len(herd_run.world.ecs.update_service_calls) == 1


def test_herd_every_client_reaches_the_app_and_bots_do_not_wake_it(herd_run: Run) -> None:
    assert herd_run.traffic.gave_up == 0
    assert len(herd_run.traffic.client_done) == HERD - HERD // 100  # every browser and API client
    assert herd_run.traffic.answers["bot 503 waker retry-after"] == HERD // 100


def test_herd_has_no_failed_request(herd_run: Run) -> None:
    assert herd_run.traffic.failed == 0, dict(herd_run.traffic.failures)


def test_herd_stays_within_every_api_quota(herd_run: Run) -> None:
    assert dict(herd_run.world.ledger.throttled) == {}


def test_herd_peak_lambda_concurrency_fits_the_reserved_concurrency(herd_run: Run) -> None:
    assert herd_run.world.function.peak <= TARGET_RESERVED_CONCURRENCY


def test_herd_first_200_soon_after_a_healthy_target() -> None:
    """After the target turns healthy: an environment's snapshot is at most STATUS_SNAPSHOT_SECONDS
    old when it looks again, then the warm rule and its propagation (alb.rule_propagation, assumed).
    The bound was 2 s on seed 1 alone, which seeds 2-6 missed (2.3-3.6 s) before the wake got
    faster: over seeds, it is what the model allows (2.4-4.3 s on seeds 1-5)."""
    bound = STATUS_SNAPSHOT_SECONDS + figure("alb.rule_propagation").high + 0.5
    for seed in range(1, 6):
        seconds = herd(HERD, seed=seed).first_200_after_healthy()
        assert seconds is not None and seconds <= bound, (seed, seconds)


def test_waking_moment_writes_its_bookkeeping_once() -> None:
    """At the first healthy target every held request and polling page used to write the healthy-at
    bookkeeping (failed before its fix: 9 TooManyUpdates, 9 catch-all 503s)."""
    # Quotas raised a thousandfold so that the throttling of a herd's polling does not hide this one.
    run = herd(300, until=200.0, config=SimConfig(api_quota_multiplier=1000))
    assert run.error_count("TooManyUpdates") == 0
    assert run.catch_all_answers == 0
    assert run.cold_start_metrics == 1


def test_new_account_concurrency_degrades_without_losing_a_client() -> None:
    """A new account's Lambda concurrency (10) and no reservation (the deploy pre-flight refuses the
    default reservation there; ``waker_reserved_concurrency = 0`` accepts this). What the waker can
    do it does: one wake, no Lambda timeout or error, every client reaches the app. What it cannot:
    a request that meets a throttled invoke is answered 502 by ALB itself (docs/technical/aws-model.md).
    Seed 1, before the waker was tuned for a small concurrency quota: 207 of 17,643 requests, 43 of
    them people's or API clients'; now most of what remains is the herd's first second, while the
    first ten execution environments start, and the pages' status polls, which the page's script
    retries."""
    run = herd(HERD, config=SimConfig(account_concurrency=10))
    assert len(run.world.ecs.update_service_calls) == 1
    assert run.traffic.gave_up == 0
    assert len(run.traffic.client_done) == HERD - HERD // 100
    assert run.world.function.timeouts == 0 and run.world.function.errors == 0
    assert run.catch_all_answers == 0
    # Every front-door answer is ALB's for a throttled invoke, and no quota of an AWS API is exceeded.
    assert {k for k in run.world.notes if k.startswith("alb_")} == {"alb_lambda_throttled"}
    assert set(run.traffic.failures) <= {"navigation 502 alb", "api 502 alb", "bot 502 alb", "status 502 alb"}
    assert dict(run.world.ledger.throttled) == {}
    seen_by_people = sum(v for k, v in run.traffic.failures.items() if not k.startswith("status"))
    assert seen_by_people <= HERD * 5 // 100
    assert run.traffic.failed <= run.traffic.requests * 2 // 100
    # The pages poll by the estimate (core/report.py waiting_poll_seconds): 16 invocations a client
    # when they polled every 2 s, under 8 now; each is a throttle risk here and a cost everywhere.
    assert run.world.function.invocations + run.world.function.throttled <= 8 * HERD


def test_throttling_bursts_on_every_api_give_no_5xx_without_retry_after() -> None:
    run = herd(30, throttle_bursts=[(5.0, 8.0, "*"), (55.0, 58.0, "*"), (70.0, 73.0, "*")])
    assert len(run.world.ecs.update_service_calls) == 1  # no cascade of wakes
    assert run.traffic.gave_up == 0
    bare_5xx = {k: v for k, v in run.traffic.answers.items() if " 5" in k and "retry-after" not in k}
    assert bare_5xx == {}


# --- idle alarm: lost, duplicated, during a deploy -------------------------------------------------------


@pytest.fixture(scope="module")
def normal_sleep() -> Run:
    return idle_sleep()


def sleep_time(run: Run) -> float:
    calls = run.world.ecs.update_service_calls
    # Two invocations deciding the same sleep together may both send UpdateService(0) (a duplicated
    # alarm event): the same desired count twice, not a flap.
    changes = [
        (when, desired) for i, (when, desired) in enumerate(calls) if i == 0 or desired != calls[i - 1][1]
    ]
    assert [desired for _, desired in changes] == [1, 0], "one wake, one sleep: no flap"
    return changes[1][0]


def test_idle_service_sleeps_once_after_idle_minutes(normal_sleep: Run) -> None:
    """The task's activity beacon reports its last request within seconds: the idle clock runs from
    it, or from the end of that request's minute in the metric (without the metric's delay)."""
    last = max(normal_sleep.traffic.served_times)
    idle = normal_sleep.world.config.policy.idle_minutes * 60
    assert idle <= sleep_time(normal_sleep) - last <= idle + 2 * RECONCILE_SECONDS


def test_without_the_beacon_the_idle_clock_waits_out_the_metrics_delay() -> None:
    """The idle clock runs from the end of the last busy minute plus the request metric's assumed
    visibility delay (METRIC_VISIBILITY_SECONDS): a request not yet visible cannot be slept over."""
    run = idle_sleep(config=SimConfig(activity_beacon=False))
    last = max(run.traffic.served_times)
    idle = run.world.config.policy.idle_minutes * 60 + METRIC_VISIBILITY_SECONDS
    assert idle <= sleep_time(run) - last <= idle + 2 * RECONCILE_SECONDS


def test_lost_alarm_event_is_repaired_within_one_reconcile(normal_sleep: Run) -> None:
    run = idle_sleep(lose_alarm=True)
    assert run.world.notes["event_lost:CloudWatch Alarm State Change"] >= 1
    assert sleep_time(run) - sleep_time(normal_sleep) <= RECONCILE_SECONDS


def test_duplicated_alarm_event_sleeps_once(normal_sleep: Run) -> None:
    run = idle_sleep(duplicate_alarm=True)
    delivered = [t for t, d in run.world.events.delivered if d == "CloudWatch Alarm State Change" and t > 120]
    changes = [t for t, _ in run.world.cloudwatch.alarm_changes if t > 120]
    assert changes and len(delivered) == 2 * len(changes)
    assert sleep_time(run) - sleep_time(normal_sleep) <= RECONCILE_SECONDS


def test_alarm_during_a_deploy_is_ignored_until_the_rollout_ends(normal_sleep: Run) -> None:
    # Seed 1 is idle enough to sleep at about 429 s; a deploy at 395 s replaces the task at about 430 s.
    run = idle_sleep(deploy_at=395.0)
    first_ip = run.world.task_events[0][1]
    replaced = next(
        when for when, ip, status in run.world.task_events if ip == first_ip and status == "RUNNING/STOPPED"
    )
    assert replaced > sleep_time(normal_sleep)
    assert run.world.ecs.scale_in_during_rollout == 0
    assert replaced < sleep_time(run) <= replaced + RECONCILE_SECONDS + 5.0
    assert run.traffic.failed == 0


# --- Fargate Spot interruption of the only task ------------------------------------------------------------
# The 2023 order behind an ALB (warmkeeper_sim/figures.py `spot.deregistration_after_notice`): at the
# notice ECS emits the task state change event and deregisters the task, whose target drains at
# once; SIGTERM follows after the deregistration delay, within the two-minute notice.


@pytest.fixture(scope="module")
def spot() -> SpotResult:
    return spot_interruption()


def test_spot_interruption_brings_a_replacement_and_traffic_back(spot: SpotResult) -> None:
    assert spot.run.wakes == 1 and spot.run.sleeps == 0
    assert spot.run.traffic.app_200_times[-1] > spot.interrupted_at + 60  # served again afterwards
    assert spot.run.traffic.gave_up == 0


def test_spot_notice_drains_the_target_at_once_and_sigterm_follows_the_deregistration_delay() -> None:
    world, _traffic, _output = warm_world(1, SimConfig(reconcile_schedule=False, idle_alarm=False))
    task = next(t for t in world.ecs.live() if t.last_status == "RUNNING")
    notice = world.kernel.now
    world.ecs.interrupt_spot(task)
    run_world(world, notice)
    assert world.alb.service_tg.targets[task.ip].state == "draining"  # no new request from the notice on
    assert task.serving and task.last_status == "DEACTIVATING"  # in-flight requests may finish
    delay = figure("alb.deregistration_delay").value
    run_world(world, notice + delay - 0.5)
    assert task.serving, "SIGTERM came before the deregistration delay had passed"
    run_world(world, notice + delay + 0.5)
    assert not task.serving and task.last_status == "STOPPING"
    run_world(world, notice + figure("spot.warning").value)
    assert task not in world.ecs.tasks  # STOPPED within the notice


def test_spot_interruption_takes_the_warm_route_away_within_seconds(spot: SpotResult) -> None:
    """The stack's task-state rule (infra/task_events.py) reconciles on the stopping task: 280
    requests answered by the load balancer and 32 s before this rule. With the 2023 order modelled
    only the listener rule's propagation window remains: seed 1 9 requests, the waker back after
    2.3 s (seeds 1-5: 9, 8, 2, 3, 5 requests; 1.9-3.3 s)."""
    assert spot.waker_back_after_seconds is not None and spot.waker_back_after_seconds <= 5.0
    assert spot.answered_by_front_door <= 10
    # What remains is ALB's 503 with only a draining target; no 502 (the task got no request after
    # its SIGTERM), no Lambda timeout, no error inside the waker after it.
    assert spot.run.traffic.failures.keys() <= {"api 503 alb"}
    assert spot.run.world.function.timeouts == 0 and spot.run.catch_all_answers == 0
    assert spot.stopped_after_seconds is not None
    sigterm_not_before = figure("alb.deregistration_delay").value
    assert sigterm_not_before < spot.stopped_after_seconds <= figure("spot.warning").value


@pytest.mark.xfail(
    strict=True,
    reason="a Spot interruption with no answer from the load balancer itself is not reachable by "
    "reacting to the notice: ECS deregisters a Fargate Spot task when its termination notice comes, "
    "before SIGTERM (AWS What's New 2023-02-13, 'Amazon ECS improves accuracy of service load "
    "balancing'), so the only target drains at once and ALB answers 503 itself; the warm rule's "
    "removal, triggered by the same notice, is live only after EventBridge, the Lambda and the "
    "listener rule's propagation (0.5-3 s, modelled): seeds 1-5 leave 3, 4, 6, 7 and 4 requests in "
    "that window",
)
def test_spot_interruption_no_request_is_answered_by_the_load_balancer(spot: SpotResult) -> None:
    assert spot.answered_by_front_door == 0


# --- the stack changes under a warm service ---------------------------------------------------------------


def test_target_group_replaced_while_warm_gives_no_permanent_503() -> None:
    """The waker re-points its tagged warm rule at the new target group (failed before this fix)."""
    run, replaced = target_group_replaced()
    late = [t for t in run.traffic.app_200_times if t > replaced + 3 * RECONCILE_SECONDS]
    assert late, "no app answer three reconciles after the replacement"


class _OutsideTheKernel:
    """The simulated load balancer's API called directly, with boto3's paginator shape."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def __getattr__(self, method: str) -> Any:
        return getattr(self._backend, method)

    def get_paginator(self, method: str) -> Any:
        backend = self._backend

        class Pages:
            def paginate(self, **kwargs: Any) -> Any:
                marker = None
                while True:
                    page = getattr(backend, method)(**kwargs, **({"Marker": marker} if marker else {}))
                    yield page
                    marker = page.get("NextMarker")
                    if not marker:
                        return

        return Pages()


def test_bare_cdk_destroy_of_a_warm_stack_cannot_delete_the_target_group() -> None:
    """Why a warm stack needs `warmkeeper destroy`: the run-time rule keeps the service's target
    group in use."""
    from warmkeeper_sim.scenarios import warm_world

    world, _traffic, _output = warm_world(1)
    assert world.alb.healthy_count() == 1
    assert any("ResourceInUse" in failure for failure in world.destroy_stack())


def test_stack_destroyed_while_warm_leaves_nothing_behind() -> None:
    """`warmkeeper destroy` removes the tagged warm route (with the waker throttled) before
    `cdk destroy` (failed before this fix)."""
    from warmkeeper.deploy.destroy import warm_route_rules
    from warmkeeper_sim.identifiers import LISTENER_ARN
    from warmkeeper_sim.scenarios import warm_world

    world, _traffic, _output = warm_world(1)
    assert world.alb.healthy_count() == 1
    elbv2 = _OutsideTheKernel(world.alb)  # a person's CLI: no simulated latency or quota
    for arn in warm_route_rules(elbv2, LISTENER_ARN):
        elbv2.delete_rule(RuleArn=arn)
    assert world.destroy_stack() == []


def test_one_cold_api_request_wakes_within_the_modelled_cold_start() -> None:
    """The model's Fargate cold start (30-80 s) and one API client's experience of it."""
    from warmkeeper_sim.scenarios import run_world
    from warmkeeper_sim.traffic import Traffic

    world = World()
    traffic = Traffic(world)
    world.kernel.spawn(traffic.api_client)
    run_world(world, 200.0)
    assert traffic.failed == 0 and traffic.answers["api 503 waker retry-after"] >= 1
    assert len(world.ecs.update_service_calls) == 1
    healthy = world.alb.healthy_since[0]
    assert 30.0 <= healthy <= 80.0
    # Held 25 s, told to come back in 10 s, held again: at most one retry period after the health.
    assert traffic.client_done and traffic.client_done[0] <= healthy + 25.0 + 10.0
