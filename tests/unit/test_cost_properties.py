"""Properties of the cost model on the shipped Paris table, and the reference staging profile."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLE_CONFIG, EXAMPLE_DIR
from warmkeeper.config import load_config
from warmkeeper.cost import (
    STAGING_TARGET_EUR,
    CostReport,
    EnvironmentShape,
    TrafficProfile,
    environment_shape,
    estimate,
    load_prices,
    load_profile,
    parse_profile,
)

PRICES = load_prices("eu-west-3")
CONFIG = load_config(EXAMPLE_CONFIG)
STAGING = environment_shape(CONFIG, "staging", CONFIG.environment("staging"))
REFERENCE = load_profile(EXAMPLE_DIR / "traffic-staging.toml")

# Lines that exist only because the service sleeps and wakes: the idle alarm, the Lambda runs that
# answer while cold (and their logs), the wake/sleep metrics, the reconcile's RequestCount reads
# (only a service that may sleep reads them).
WAKE_MECHANISM = {
    "cw_alarms",
    "cw_api",
    "lambda_requests",
    "lambda_duration",
    "wk_metrics",
    "logs_ingest",
    "logs_storage",
}
# Lines a front door changes (the ALB's public addresses, their rejected-traffic flow logs, the
# transfer out); every other line is the same for both front doors.
FRONT_DOOR_LINES = {
    "ipv4_alb",
    "logs_ingest",
    "logs_storage",
    "transfer_out",
    "cf_requests",
    "cf_transfer_out",
}

profiles = st.builds(
    TrafficProfile,
    active_hours_per_day=st.floats(0, 24),
    days_per_month=st.floats(0, 31),
    requests_per_active_hour=st.floats(0, 1_000_000),
    active_periods_per_day=st.integers(1, 24),
    avg_response_kb=st.floats(0, 2_000),
    log_mb_per_active_hour=st.floats(0, 100),
    image_size_mb=st.floats(0, 5_000),
    cold_requests_per_wake=st.floats(0, 100),
)
environments = st.builds(
    dataclasses.replace,
    st.just(STAGING),
    architecture=st.sampled_from(["arm64", "x86_64"]),
    spot=st.booleans(),
    idle_minutes=st.integers(1, 60),
    front_door=st.sampled_from(["load_balancer", "cloudfront"]),
)


def report(env: EnvironmentShape, profile: TrafficProfile) -> CostReport:
    return estimate(env, profile, PRICES)


@settings(max_examples=100, deadline=None)
@given(environments, profiles, st.floats(0, 1_000_000), st.floats(0, 1_000_000))
def test_cost_is_monotonic_in_requests_per_active_hour(
    env: EnvironmentShape, profile: TrafficProfile, a: float, b: float
) -> None:
    low, high = sorted((a, b))
    cheap = report(env, dataclasses.replace(profile, requests_per_active_hour=low))
    dear = report(env, dataclasses.replace(profile, requests_per_active_hour=high))
    for before, after in zip(cheap.scenarios, dear.scenarios, strict=True):
        assert before.total_usd <= after.total_usd + 1e-9


@settings(max_examples=100, deadline=None)
@given(environments, profiles, st.floats(0, 24), st.floats(0, 24))
def test_cost_is_monotonic_in_active_hours(
    env: EnvironmentShape, profile: TrafficProfile, a: float, b: float
) -> None:
    low, high = sorted((a, b))
    cheap = report(env, dataclasses.replace(profile, active_hours_per_day=low))
    dear = report(env, dataclasses.replace(profile, active_hours_per_day=high))
    for before, after in zip(cheap.scenarios, dear.scenarios, strict=True):
        assert before.total_usd <= after.total_usd + 1e-9


@settings(max_examples=100, deadline=None)
@given(environments, profiles)
def test_scale_to_zero_never_costs_more_than_always_on_outside_the_wake_mechanism(
    env: EnvironmentShape, profile: TrafficProfile
) -> None:
    result = report(env, profile)
    s2z, on = result.configured, result.always_on
    assert s2z.task_hours <= on.task_hours
    for line in s2z.lines:
        if line.key not in WAKE_MECHANISM:
            assert line.usd <= on.line(line.key).usd + 1e-9, line.key


@settings(max_examples=100, deadline=None)
@given(environments, profiles)
def test_scale_to_zero_total_is_below_always_on_when_it_sleeps(
    env: EnvironmentShape, profile: TrafficProfile
) -> None:
    result = report(env, profile)
    # Whenever the service sleeps at least a quarter of the month, the saving outweighs the idle alarm,
    # the Lambda runs while cold and the wake metrics, whatever the profile.
    if result.configured.task_hours <= 0.75 * PRICES.value("hours_per_month"):
        assert result.configured.total_usd < result.always_on.total_usd


@settings(max_examples=100, deadline=None)
@given(environments, profiles)
def test_front_door_changes_only_its_own_lines(env: EnvironmentShape, profile: TrafficProfile) -> None:
    behind_alb = report(dataclasses.replace(env, front_door="load_balancer"), profile)
    behind_cloudfront = report(dataclasses.replace(env, front_door="cloudfront"), profile)
    for lb, cf in zip(behind_alb.scenarios[:2], behind_cloudfront.scenarios[:2], strict=True):
        for line in cf.lines:
            if line.key not in FRONT_DOOR_LINES:
                assert line.usd == lb.line(line.key).usd, line.key
        assert cf.line("ipv4_alb").usd == 0.0
        # Fewer scanned public addresses: never more rejected-traffic logs behind CloudFront.
        assert cf.line("logs_ingest").usd <= lb.line("logs_ingest").usd
    assert behind_cloudfront.legacy_ec2 == behind_alb.legacy_ec2


def test_used_around_the_clock_scale_to_zero_costs_its_mechanism_more() -> None:
    # Honest edge: a service in use 24 h a day never sleeps, so scale to zero adds its own overhead.
    profile = parse_profile(
        {"active_hours_per_day": 24, "days_per_month": 31, "requests_per_active_hour": 100}, "p.toml"
    )
    result = report(STAGING, profile)
    assert result.configured.task_hours == result.always_on.task_hours
    overhead = sum(
        line.usd - result.always_on.line(line.key).usd
        for line in result.configured.lines
        if line.key in WAKE_MECHANISM
    )
    assert result.configured.total_usd == pytest.approx(result.always_on.total_usd + overhead)
    assert 0 < overhead < 1.0  # USD a month: the idle alarm, cold runs and wake metrics


def test_reference_profile_file_is_valid() -> None:
    data = tomllib.loads((EXAMPLE_DIR / "traffic-staging.toml").read_text(encoding="utf-8"))
    assert parse_profile(data, "traffic-staging.toml") == REFERENCE
    assert REFERENCE.days_per_month == 22


def test_reference_staging_profile_is_under_25_eur() -> None:
    # Kept with the CloudFront front door (about 24.6 EUR, modelled): the internal ALB has no public
    # IPv4 address. Behind an internet-facing ALB the same profile is about 31 EUR (next test).
    assert STAGING.front_door == "cloudfront"
    assert report(STAGING, REFERENCE).configured.total_eur < STAGING_TARGET_EUR


def test_reference_staging_profile_behind_an_internet_facing_alb_is_over_25_eur() -> None:
    # The front door is what keeps the target: the same profile with the ALB's two public addresses.
    legacy_front_door = dataclasses.replace(STAGING, front_door="load_balancer")
    assert report(legacy_front_door, REFERENCE).configured.total_eur > STAGING_TARGET_EUR


def test_reference_staging_scale_to_zero_beats_always_on_and_reports_its_floor() -> None:
    result = report(STAGING, REFERENCE)
    s2z = result.configured
    assert s2z.total_eur < result.always_on.total_eur
    # What dominates is fixed: the load balancer hour (the internal ALB has no address to pay), not the
    # tasks.
    top = [line.key for line, _share in s2z.dominant()]
    assert top[0] == "alb_hours"
    assert "ipv4_alb" not in top and s2z.line("ipv4_alb").usd == 0.0
    assert s2z.fixed_usd / s2z.total_usd > 0.8
