"""The cost model, line by line, against arithmetic written out by hand on a small profile.

The price table here is made up with round numbers so that every expected figure can be worked out
on paper; the shipped tables are checked for shape and sources separately.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from typing import Any

import pytest

from warmkeeper.cost import (
    ASSUMPTION_KEYS,
    PRICE_KEYS,
    PRICE_TABLE_DIR,
    SHARED,
    CostInputError,
    EnvironmentShape,
    Scenario,
    ServiceShape,
    TrafficProfile,
    apply_price_override,
    compare_front_doors,
    comparison_to_dict,
    estimate,
    parse_price_table,
    parse_profile,
    report_to_dict,
)

PRICES_USD = {
    "fargate_x86_vcpu_hour": 0.05,
    "fargate_x86_gb_hour": 0.005,
    "fargate_arm_vcpu_hour": 0.04,
    "fargate_arm_gb_hour": 0.004,
    "alb_hour": 0.02,
    "alb_lcu_hour": 0.01,
    "public_ipv4_hour": 0.005,
    "data_transfer_out_gb": 0.1,
    "cloudfront_https_requests_10k": 0.01,
    "cloudfront_transfer_out_gb": 0.08,
    "http_api_request": 0.000001,
    "http_api_vpc_link_hour": 0.0,
    "cloud_map_instance_month": 0.1,
    "cloud_map_discovery_call": 0.000001,
    "route53_hosted_zone_month": 0.5,
    "lambda_arm_request": 0.0000002,
    "lambda_arm_gb_second": 0.00001,
    "cloudwatch_alarm_month": 0.1,
    "cloudwatch_dashboard_month": 3.0,
    "cloudwatch_metric_month": 0.3,
    "cloudwatch_logs_ingest_gb": 0.5,
    "cloudwatch_logs_storage_gb_month": 0.03,
    "cloudwatch_get_metric_data_metric": 0.00001,
    "ecr_storage_gb_month": 0.1,
    "secrets_manager_secret_month": 0.4,
    "kms_key_month": 1.0,
    "ssm_standard_parameter_month": 0.0,
    "legacy_instance_hour": 0.02,
    "legacy_ebs_gb_month": 0.1,
    "s3_standard_gb_month": 0.02,
    "s3_transfer_same_region_gb": 0.0,
}
ASSUMPTIONS = {
    "hours_per_month": 720,  # 30 days: easier to do by hand
    "fargate_spot_discount": 0.5,
    "alb_public_ipv4_addresses": 2,
    "operational_alarm_metrics": 5,
    "scale_to_zero_alarm_metrics": 2,
    "dashboards": 1,
    "sleep_lag_minutes": 2,
    "start_billed_minutes": 1,
    "lambda_memory_mb": 512,
    "lambda_reconcile_seconds": 0.5,
    "lambda_cold_request_seconds": 2.0,
    "lambda_beacon_report_seconds": 0.2,
    "lambda_log_kb_per_invocation": 1.0,
    "reconcile_metrics_per_run": 2,
    "request_kb": 0.0,
    "requests_per_connection": 1,
    "health_check_log_mb_per_task_hour": 0.1,
    "container_insights_metrics": 40,
    "container_insights_log_mb_per_task_hour": 0.5,
    "container_insights_log_retention_days": 1,
    "warmkeeper_metrics": 5,
    "warmkeeper_metric_hours_per_wake": 2,
    "ecr_versions_kept": 10,
    "ecr_version_changed_fraction": 0.5,
    "kms_keys": 1,
    "rejected_flow_log_mb_per_address_hour": 0.2,
    "http_api_operational_alarm_metrics": 3,
    "waker_calls_per_wake": 0,  # the /_warmkeeper calls have their own test below
    "discovery_calls_per_forwarded_request": 1,
    "discovery_calls_per_cold_request": 2,
    "reconcile_discovery_calls_per_run": 1,
    "api_access_log_kb_per_request": 0.5,
    "legacy_ebs_gb": 8,
    "container_insights_service_metrics": 20,
}


def small_table_data() -> dict[str, Any]:
    return {
        "table": {"region": "eu-west-3", "label": "test", "version": "test-1"},
        "fx": {"usd_per_eur": 1.25, "date": "2026-01-01", "source": "test"},
        "prices": {
            key: {"usd": usd, "unit": "unit", "source": "https://example.test/", "read": "2026-01-01"}
            for key, usd in PRICES_USD.items()
        },
        "assumptions": {key: {"value": value, "unit": "unit"} for key, value in ASSUMPTIONS.items()},
    }


SMALL_PROFILE = {
    "active_hours_per_day": 2,
    "days_per_month": 10,
    "requests_per_active_hour": 3600,
    "active_periods_per_day": 1,
    "avg_response_kb": 1024,  # 1 MB a response
    "log_mb_per_active_hour": 10,
    "image_size_mb": 512,
    "cold_requests_per_wake": 10,
}

STAGING = EnvironmentShape(
    name="staging",
    region="eu-west-3",
    cpu_units=512,  # 0.5 vCPU
    memory_mib=1024,  # 1 GB
    architecture="arm64",
    spot=True,
    min_tasks=0,
    scale_to_zero=True,
    idle_minutes=5,
    min_warm_minutes=2,
    log_retention_days=7,
    secrets=2,
)

# By hand: each day, 2 active hours plus one idle tail of 5 + 2 + 1 = 8 minutes; 10 days.
TASK_HOURS = 10 * (2 + 8 / 60)
WAKES = 10 * 1
ACTIVE_HOURS = 2 * 10
# The activity beacon: at most one report every 10 s of task time (an upper bound).
BEACON_REPORTS = TASK_HOURS * 3600 / 10
# Reconciles + cold requests + one alarm event per sleep, then the beacon's reports.
INVOCATIONS = 720 * 60 + WAKES * 10 + WAKES + BEACON_REPORTS
# Rejected-traffic flow logs: 0.2 MB per public address-hour, the ALB's 2 all month + the task's.
FLOW_GB = 0.2 * (2 * 720 + TASK_HOURS) / 1024
# The reconcile reads RequestCount (2 metrics a run here) only while a task is wanted: every minute of
# the task-hours, not every minute of the month.
RECONCILE_READS = TASK_HOURS * 60 * 2
# Responses: 3,600 an hour x 20 active hours x 1 MB = 70.3125 GB.
RESPONSES = 3600 * 20
RESPONSE_GB = RESPONSES * 1024 / 1024**2


@pytest.fixture(scope="module")
def small_report() -> Any:
    prices = parse_price_table(small_table_data(), "small.toml")
    return estimate(STAGING, parse_profile(SMALL_PROFILE, "profile.toml"), prices)


def usd(scenario: Scenario, key: str) -> float:
    return scenario.line(key).usd


def test_scale_to_zero_task_hours_and_wakes(small_report: Any) -> None:
    assert small_report.configured.task_hours == pytest.approx(TASK_HOURS)
    assert small_report.configured.wakes == pytest.approx(10)
    assert small_report.always_on.task_hours == pytest.approx(720)


def test_fargate_lines_arm64_spot(small_report: Any) -> None:
    s2z = small_report.configured
    # task-hours x 0.5 vCPU x 0.04 USD x (1 - 0.5 Spot discount)
    assert usd(s2z, "fargate_vcpu") == pytest.approx(TASK_HOURS * 0.5 * 0.04 * 0.5)
    # task-hours x 1 GB x 0.004 USD x 0.5
    assert usd(s2z, "fargate_memory") == pytest.approx(TASK_HOURS * 1 * 0.004 * 0.5)
    on = small_report.always_on
    assert usd(on, "fargate_vcpu") == pytest.approx(720 * 0.5 * 0.04 * 0.5)  # 7.2
    assert usd(on, "fargate_memory") == pytest.approx(720 * 1 * 0.004 * 0.5)  # 1.44


def test_fargate_x86_on_demand() -> None:
    prices = parse_price_table(small_table_data(), "small.toml")
    env = EnvironmentShape(**{**STAGING.__dict__, "architecture": "x86_64", "spot": False})
    report = estimate(env, parse_profile(SMALL_PROFILE, "p.toml"), prices)
    assert usd(report.configured, "fargate_vcpu") == pytest.approx(TASK_HOURS * 0.5 * 0.05)
    assert usd(report.configured, "fargate_memory") == pytest.approx(TASK_HOURS * 1 * 0.005)


def test_alb_hours_and_capacity_units(small_report: Any) -> None:
    s2z = small_report.configured
    assert usd(s2z, "alb_hours") == pytest.approx(720 * 0.02)  # 14.40, whatever the traffic
    # One active hour: 3,600 new connections = 1/s -> 1/25 = 0.04 LCU; 60 a minute -> 60/3000 = 0.02;
    # 3,600 x 1,024 KB = 3.515625 GB -> 3.515625 LCU: the largest dimension is billed.
    lcu_per_hour = 3600 * 1024 / 1024**2
    assert usd(s2z, "alb_lcu") == pytest.approx(lcu_per_hour * ACTIVE_HOURS * 0.01)  # 0.703125


def test_public_ipv4_addresses(small_report: Any) -> None:
    s2z = small_report.configured
    assert usd(s2z, "ipv4_alb") == pytest.approx(2 * 720 * 0.005)  # 7.20: one per AZ, all month
    assert usd(s2z, "ipv4_tasks") == pytest.approx(TASK_HOURS * 0.005)
    assert usd(small_report.always_on, "ipv4_tasks") == pytest.approx(720 * 0.005)  # 3.60


def test_lambda_requests_and_duration(small_report: Any) -> None:
    s2z = small_report.configured
    assert round(BEACON_REPORTS) == 7_680  # 21.33 task-h x 360 reports an hour at most
    assert round(INVOCATIONS) == 43_310 + 7_680
    assert usd(s2z, "lambda_requests") == pytest.approx(50_990 * 0.0000002)
    # A report is a short run of 0.2 s (lambda_beacon_report_seconds), not a cold request's 2 s:
    # 0.5 GB x (43,200 reconciles x 0.5 s + 110 cold/alarm runs x 2 s + 7,680 reports x 0.2 s)
    # = 0.5 x (21,600 + 220 + 1,536) = 11,678 GB-s
    gb_seconds = 0.5 * (43_200 * 0.5 + 110 * 2 + 7_680 * 0.2)
    assert gb_seconds == pytest.approx(11_678)
    assert usd(s2z, "lambda_duration") == pytest.approx(gb_seconds * 0.00001)
    assert s2z.line("lambda_duration").basis == (
        "0.5 GB x (43,200 x 0.5 s + 110 x 2 s + 7,680 beacon reports x 0.2 s)"
    )
    on = small_report.always_on
    assert usd(on, "lambda_requests") == pytest.approx(43_200 * 0.0000002)
    assert usd(on, "lambda_duration") == pytest.approx(0.5 * 43_200 * 0.5 * 0.00001)


def test_reconcile_reads_request_count_only_while_a_task_is_wanted(small_report: Any) -> None:
    # aws/engine.py observe(): GetMetricData only when desired > 0 and the environment scales to zero.
    s2z = small_report.configured.line("cw_api")
    assert s2z.quantity == pytest.approx(10 * (120 + 8) * 2)  # 10 days x 128 wanted minutes x 2 metrics
    assert s2z.usd == pytest.approx(RECONCILE_READS * 0.00001)  # 0.0256
    assert not s2z.fixed and "while a task is wanted" in s2z.basis
    # The same app always on: nothing can sleep, so the reconcile never reads (observe() skips it).
    assert usd(small_report.always_on, "cw_api") == 0.0


def test_reconcile_reads_nothing_without_scale_to_zero_or_without_requests() -> None:
    prices = parse_price_table(small_table_data(), "small.toml")
    production = dataclasses.replace(STAGING, scale_to_zero=False, min_tasks=1)
    report = estimate(production, parse_profile(SMALL_PROFILE, "p.toml"), prices)
    for scenario in (report.configured, report.always_on):
        assert scenario.line("cw_api").quantity == 0.0
        assert "without scale to zero" in scenario.line("cw_api").basis
    # The Lambda still reconciles every minute: only the metric read is skipped.
    assert report.configured.line("lambda_requests").quantity == 720 * 60
    idle = estimate(STAGING, parse_profile({**SMALL_PROFILE, "requests_per_active_hour": 0}, "p"), prices)
    assert idle.configured.line("cw_api").quantity == 0.0  # cold all month: desired 0, no read


def test_alarms_and_dashboard(small_report: Any) -> None:
    # 5 operational alarm metrics + the idle and wake-failed alarms
    assert usd(small_report.configured, "cw_alarms") == pytest.approx((5 + 2) * 0.1)
    assert usd(small_report.always_on, "cw_alarms") == pytest.approx(5 * 0.1)
    assert usd(small_report.configured, "cw_dashboard") == pytest.approx(3.0)


def test_logs_ingestion_and_storage(small_report: Any) -> None:
    s2z = small_report.configured
    app_mb = 10 * ACTIVE_HOURS + 0.1 * TASK_HOURS  # app logs + health checks while a task runs
    lambda_gb = INVOCATIONS * 1 / 1024**2  # 1 KB a run
    ingest_gb = app_mb / 1024 + lambda_gb + FLOW_GB
    assert usd(s2z, "logs_ingest") == pytest.approx(ingest_gb * 0.5)
    ci_gb = 0.5 * TASK_HOURS / 1024
    # Steady state with 7-day retention (30-day month), plus 1 day of performance logs.
    stored_gb = ingest_gb * 7 / 30 + ci_gb * 1 / 30
    assert usd(s2z, "logs_storage") == pytest.approx(stored_gb * 0.03)


def test_container_insights(small_report: Any) -> None:
    s2z = small_report.configured
    # 40 metrics, prorated: only the hours a task runs.
    assert usd(s2z, "ci_metrics") == pytest.approx(40 * TASK_HOURS / 720 * 0.3)
    assert usd(s2z, "ci_logs") == pytest.approx(0.5 * TASK_HOURS / 1024 * 0.5)
    assert usd(small_report.always_on, "ci_metrics") == pytest.approx(40 * 0.3)  # 12.00


def test_warmkeeper_metrics(small_report: Any) -> None:
    # 5 metrics, each in 2 hours per wake: 10 wakes -> 20 hours of 720.
    assert usd(small_report.configured, "wk_metrics") == pytest.approx(5 * 20 / 720 * 0.3)
    assert usd(small_report.always_on, "wk_metrics") == 0.0  # no wakes, no events


def test_ecr_secrets_ssm_transfer(small_report: Any) -> None:
    s2z = small_report.configured
    # The first version whole, 9 more adding half of it each: 512 MB x 5.5 = 2.75 GB
    assert usd(s2z, "ecr_storage") == pytest.approx(512 * (1 + 9 * 0.5) / 1024 * 0.1)
    # The env's 2 secrets (keep-alive token, 1 app secret) + the wake secret the tasks' activity beacon
    # sends: scale to zero without internal services, so the app's line carries it.
    assert s2z.line("secrets").quantity == 3
    assert usd(s2z, "secrets") == pytest.approx(3 * 0.4)
    assert s2z.line("secrets").basis == "keep-alive token + 1 app secrets + the wake secret (activity beacon)"
    assert usd(s2z, "kms") == pytest.approx(1.0)
    # Wake lock, lease, last wake, activity: standard tier, free.
    assert s2z.line("ssm_parameters").quantity == 4
    assert usd(s2z, "ssm_parameters") == 0.0
    # 3,600 x 20 active hours x 1 MB = 70.3125 GB
    assert usd(s2z, "transfer_out") == pytest.approx(RESPONSE_GB * 0.1)
    assert not s2z.has("cf_requests") and not s2z.has("cf_transfer_out")


def test_legacy_ec2(small_report: Any) -> None:
    legacy = small_report.legacy_ec2
    assert usd(legacy, "legacy_instance") == pytest.approx(720 * 0.02)  # 14.40
    assert usd(legacy, "legacy_ebs") == pytest.approx(8 * 0.1)
    assert usd(legacy, "ipv4_legacy") == pytest.approx(720 * 0.005)
    assert legacy.total_usd == pytest.approx(14.4 + 0.8 + 3.6 + 70.3125 * 0.1)


def test_totals_are_the_sum_of_the_lines_in_eur(small_report: Any) -> None:
    s2z = small_report.configured
    # Lambda logs, 1 KB a run: 43,310 reconciles and cold/alarm runs + 7,680 beacon reports.
    logs_gb = (10 * ACTIVE_HOURS + 0.1 * TASK_HOURS) / 1024 + (43_310 + 7_680) / 1024**2 + FLOW_GB
    by_hand = (
        TASK_HOURS * 0.5 * 0.04 * 0.5
        + TASK_HOURS * 1 * 0.004 * 0.5
        + 720 * 0.02
        + 3600 * 1024 / 1024**2 * ACTIVE_HOURS * 0.01
        + 2 * 720 * 0.005
        + TASK_HOURS * 0.005
        # Lambda requests: 43,310 reconciles, cold requests and alarm events + 7,680 beacon reports
        # (21.33 task-h x 3,600 s / 10 s, the upper bound).
        + (43_310 + 7_680) * 0.0000002
        # Lambda duration: 0.5 GB x (43,200 reconciles x 0.5 s + 110 cold/alarm runs x 2 s + 7,680 beacon
        # reports x 0.2 s).
        + 0.5 * (43_200 * 0.5 + 110 * 2 + 7_680 * 0.2) * 0.00001
        + RECONCILE_READS * 0.00001
        + 7 * 0.1
        + 3.0
        + logs_gb * 0.5
        + (logs_gb * 7 / 30 + 0.5 * TASK_HOURS / 1024 / 30) * 0.03
        + 40 * TASK_HOURS / 720 * 0.3
        + 0.5 * TASK_HOURS / 1024 * 0.5
        + 5 * 20 / 720 * 0.3
        + 512 * 5.5 / 1024 * 0.1
        + 3 * 0.4  # secrets: the keep-alive token, 1 app secret, the wake secret (activity beacon)
        + 1.0
        + 70.3125 * 0.1
    )
    assert s2z.total_usd == pytest.approx(by_hand)
    assert s2z.total_eur == pytest.approx(by_hand / 1.25)
    # ALB, its addresses, alarms, dashboard, ECR, 3 secrets, KMS key (the reconcile reads follow the tasks)
    assert s2z.fixed_usd == pytest.approx(720 * 0.02 + 2 * 720 * 0.005 + 0.7 + 3.0 + 0.275 + 1.2 + 1.0)


# --- front door: CloudFront -> internal ALB ----------------------------------------------------------

STAGING_CLOUDFRONT = dataclasses.replace(STAGING, front_door="cloudfront")
# Only the tasks' public addresses are scanned: the internal ALB has none.
FLOW_GB_CLOUDFRONT = 0.2 * TASK_HOURS / 1024
# The lines a front door changes; every other line must be the same to the cent.
FRONT_DOOR_LINES = {
    "ipv4_alb",
    "logs_ingest",
    "logs_storage",
    "transfer_out",
    "cf_requests",
    "cf_transfer_out",
}


@pytest.fixture(scope="module")
def cloudfront_report() -> Any:
    prices = parse_price_table(small_table_data(), "small.toml")
    return estimate(STAGING_CLOUDFRONT, parse_profile(SMALL_PROFILE, "profile.toml"), prices)


def test_cloudfront_internal_alb_has_no_public_address(cloudfront_report: Any) -> None:
    for scenario in (cloudfront_report.configured, cloudfront_report.always_on):
        line = scenario.line("ipv4_alb")  # the line stays, at 0 addresses, and says why
        assert (line.quantity, line.usd) == (0.0, 0.0)
        assert "internal ALB behind CloudFront" in line.basis
    # The tasks still run in public subnets with a public address while they run.
    assert usd(cloudfront_report.configured, "ipv4_tasks") == pytest.approx(TASK_HOURS * 0.005)


def test_cloudfront_requests_and_transfer_replace_the_region_transfer_line(cloudfront_report: Any) -> None:
    s2z = cloudfront_report.configured
    assert not s2z.has("transfer_out")  # origin -> CloudFront is free
    # 72,000 HTTPS requests = 7.2 x 10,000 x 0.01 USD
    assert s2z.line("cf_requests").quantity == pytest.approx(7.2)
    assert usd(s2z, "cf_requests") == pytest.approx(0.072)
    # 70.3125 GB to viewers x 0.08 USD
    assert usd(s2z, "cf_transfer_out") == pytest.approx(70.3125 * 0.08)  # 5.625
    assert "ALB -> CloudFront is free" in s2z.line("cf_transfer_out").basis
    assert not s2z.line("cf_requests").fixed and not s2z.line("cf_transfer_out").fixed
    # The legacy instance has no CloudFront: it keeps the region's transfer line.
    assert usd(cloudfront_report.legacy_ec2, "transfer_out") == pytest.approx(70.3125 * 0.1)


def test_cloudfront_flow_logs_count_only_the_tasks_addresses(cloudfront_report: Any) -> None:
    s2z = cloudfront_report.configured
    ingest_gb = (10 * ACTIVE_HOURS + 0.1 * TASK_HOURS) / 1024 + INVOCATIONS / 1024**2 + FLOW_GB_CLOUDFRONT
    assert usd(s2z, "logs_ingest") == pytest.approx(ingest_gb * 0.5)
    stored_gb = ingest_gb * 7 / 30 + 0.5 * TASK_HOURS / 1024 / 30
    assert usd(s2z, "logs_storage") == pytest.approx(stored_gb * 0.03)


def test_front_doors_differ_exactly_in_their_own_lines(small_report: Any, cloudfront_report: Any) -> None:
    for lb, cf in zip(small_report.scenarios, cloudfront_report.scenarios, strict=True):
        lb_lines = {line.key: line.usd for line in lb.lines}
        cf_lines = {line.key: line.usd for line in cf.lines}
        differing = {
            key
            for key in lb_lines.keys() | cf_lines.keys()
            if key not in lb_lines or key not in cf_lines or lb_lines[key] != cf_lines[key]
        }
        if lb.key == "legacy_ec2":
            assert differing == set()  # the old instance is the same whatever staging's front door
            continue
        assert differing == FRONT_DOOR_LINES, lb.key
        # By hand: - the ALB's 2 addresses, - 2 x 720 scanned address-hours of flow logs (ingested and
        # stored 7 days), - the region's transfer, + CloudFront requests and transfer.
        flow_gb = 0.2 * 2 * 720 / 1024
        expected = (
            -2 * 720 * 0.005
            - flow_gb * 0.5
            - flow_gb * 7 / 30 * 0.03
            - 70.3125 * 0.1
            + 0.072
            + 70.3125 * 0.08
        )
        assert cf.total_usd - lb.total_usd == pytest.approx(expected)


def test_cloudfront_total_by_hand(cloudfront_report: Any, small_report: Any) -> None:
    s2z = cloudfront_report.configured
    # Lambda logs, 1 KB a run: 43,310 reconciles and cold/alarm runs + 7,680 beacon reports.
    logs_gb = (10 * ACTIVE_HOURS + 0.1 * TASK_HOURS) / 1024 + (43_310 + 7_680) / 1024**2 + FLOW_GB_CLOUDFRONT
    by_hand = (
        TASK_HOURS * 0.5 * 0.04 * 0.5
        + TASK_HOURS * 1 * 0.004 * 0.5
        + 720 * 0.02
        + 3600 * 1024 / 1024**2 * ACTIVE_HOURS * 0.01
        + 0.0  # no public address on the internal ALB
        + TASK_HOURS * 0.005
        # Lambda requests: 43,310 reconciles, cold requests and alarm events + 7,680 beacon reports
        # (21.33 task-h x 3,600 s / 10 s, the upper bound).
        + (43_310 + 7_680) * 0.0000002
        # Lambda duration: 0.5 GB x (43,200 reconciles x 0.5 s + 110 cold/alarm runs x 2 s + 7,680 beacon
        # reports x 0.2 s).
        + 0.5 * (43_200 * 0.5 + 110 * 2 + 7_680 * 0.2) * 0.00001
        + RECONCILE_READS * 0.00001
        + 7 * 0.1
        + 3.0
        + logs_gb * 0.5
        + (logs_gb * 7 / 30 + 0.5 * TASK_HOURS / 1024 / 30) * 0.03
        + 40 * TASK_HOURS / 720 * 0.3
        + 0.5 * TASK_HOURS / 1024 * 0.5
        + 5 * 20 / 720 * 0.3
        + 512 * 5.5 / 1024 * 0.1
        + 3 * 0.4  # secrets: the keep-alive token, 1 app secret, the wake secret (activity beacon)
        + 1.0
        + 0.072
        + 70.3125 * 0.08
    )
    assert s2z.total_usd == pytest.approx(by_hand)
    assert s2z.fixed_usd == pytest.approx(small_report.configured.fixed_usd - 2 * 720 * 0.005)


def test_cloudfront_free_tier_only_through_an_override(cloudfront_report: Any) -> None:
    # Not applied by default (the lines above are priced); a --prices file may set them to 0.
    base = parse_price_table(small_table_data(), "small.toml")
    free = apply_price_override(
        base,
        {
            "prices": {
                "cloudfront_https_requests_10k": {"usd": 0, "note": "always-free tier: 10 M requests"},
                "cloudfront_transfer_out_gb": {"usd": 0, "note": "always-free tier: 1 TB"},
            }
        },
        "free.toml",
    )
    report = estimate(STAGING_CLOUDFRONT, parse_profile(SMALL_PROFILE, "p.toml"), free)
    assert usd(report.configured, "cf_requests") == 0.0
    assert usd(report.configured, "cf_transfer_out") == 0.0
    assert report.configured.total_usd == pytest.approx(
        cloudfront_report.configured.total_usd - 0.072 - 70.3125 * 0.08
    )
    assert free.prices["cloudfront_transfer_out_gb"].source == "override: free.toml"


# --- front door: HTTP API -> VPC link -> Cloud Map (no load balancer) -----------------------------------

STAGING_HTTP_API = dataclasses.replace(STAGING, front_door="http_api")
# Requests: 72,000 visitor requests (waker_calls_per_wake = 0 in the small table); 1 MB responses are
# metered as 2 increments of 512 KB.
API_REQUESTS = RESPONSES
API_BILLED = API_REQUESTS * 2
# Cloud Map: the task registered in its task-hours; DiscoverInstances for each request the tasks get
# (all but the 10 cold ones a wake), for each observation of a held cold request, and one per reconcile.
FORWARDED = RESPONSES - WAKES * 10
DISCOVERY_CALLS = FORWARDED + WAKES * 10 * 2 + 720 * 60  # held requests observe twice here
ACCESS_LOG_GB = API_REQUESTS * 0.5 / 1024**2
# No load balancer: its lines are gone, and only the tasks' addresses are scanned (as behind CloudFront).
HTTP_API_LINES = {
    "api_requests",
    "vpc_link",
    "cloud_map_instances",
    "cloud_map_discovery",
    "route53_zone",
    "api_access_logs",
}


@pytest.fixture(scope="module")
def http_api_report() -> Any:
    prices = parse_price_table(small_table_data(), "small.toml")
    return estimate(STAGING_HTTP_API, parse_profile(SMALL_PROFILE, "profile.toml"), prices)


def test_http_api_has_no_load_balancer_line(http_api_report: Any) -> None:
    for scenario in (http_api_report.configured, http_api_report.always_on):
        keys = {line.key for line in scenario.lines}
        assert not keys & {"alb_hours", "alb_lcu", "ipv4_alb"}, scenario.key
        assert keys >= HTTP_API_LINES
        assert not keys & {"cf_requests", "cf_transfer_out"}


def test_http_api_requests_metered_in_512_kb_increments(http_api_report: Any) -> None:
    line = http_api_report.configured.line("api_requests")
    assert line.quantity == pytest.approx(API_BILLED)  # 144,000: each 1 MB response counts twice
    assert line.usd == pytest.approx(144_000 * 0.000001)  # 0.144
    assert "512 KB increments" in line.basis and not line.fixed
    # 40 KB responses fit one increment.
    prices = parse_price_table(small_table_data(), "small.toml")
    small = estimate(STAGING_HTTP_API, parse_profile({**SMALL_PROFILE, "avg_response_kb": 40}, "p"), prices)
    assert small.configured.line("api_requests").quantity == pytest.approx(API_REQUESTS)
    # 513 KB: two increments, as AWS meters.
    big = estimate(STAGING_HTTP_API, parse_profile({**SMALL_PROFILE, "avg_response_kb": 513}, "p"), prices)
    assert big.configured.line("api_requests").quantity == pytest.approx(2 * API_REQUESTS)


def test_http_api_vpc_link_cloud_map_and_hosted_zone(http_api_report: Any) -> None:
    s2z = http_api_report.configured
    link = s2z.line("vpc_link")
    assert (link.quantity, link.usd, link.fixed) == (720, 0.0, True)
    assert "no hourly charge" in link.basis
    # The task registered only while it runs: 20 h 80 min of 720 h, at 0.10 USD a month.
    assert usd(s2z, "cloud_map_instances") == pytest.approx(TASK_HOURS / 720 * 0.1)
    assert usd(http_api_report.always_on, "cloud_map_instances") == pytest.approx(0.1)
    assert s2z.line("cloud_map_discovery").quantity == pytest.approx(DISCOVERY_CALLS)  # 71,900 + 200 + 43,200
    assert usd(s2z, "cloud_map_discovery") == pytest.approx(DISCOVERY_CALLS * 0.000001)
    zone = s2z.line("route53_zone")
    assert (zone.quantity, zone.usd, zone.fixed) == (1.0, 0.5, True)


def test_http_api_access_logs_and_alarms(http_api_report: Any) -> None:
    s2z = http_api_report.configured
    assert usd(s2z, "api_access_logs") == pytest.approx(ACCESS_LOG_GB * 0.5)
    # Stored with the environment's retention beside the other logs (flow logs: the task's address only).
    ingest_gb = (10 * ACTIVE_HOURS + 0.1 * TASK_HOURS) / 1024 + INVOCATIONS / 1024**2 + FLOW_GB_CLOUDFRONT
    assert usd(s2z, "logs_ingest") == pytest.approx(ingest_gb * 0.5)
    stored_gb = (ingest_gb + ACCESS_LOG_GB) * 7 / 30 + 0.5 * TASK_HOURS / 1024 / 30
    assert usd(s2z, "logs_storage") == pytest.approx(stored_gb * 0.03)
    # 3 operational alarm metrics behind an HTTP API (no target group) + idle and wake-failed.
    assert usd(s2z, "cw_alarms") == pytest.approx((3 + 2) * 0.1)
    assert usd(http_api_report.always_on, "cw_alarms") == pytest.approx(3 * 0.1)
    # The responses go to the internet from the region.
    assert usd(s2z, "transfer_out") == pytest.approx(RESPONSE_GB * 0.1)


def test_http_api_total_by_hand(http_api_report: Any, small_report: Any) -> None:
    s2z = http_api_report.configured
    # Lambda logs, 1 KB a run: 43,310 reconciles and cold/alarm runs + 7,680 beacon reports.
    logs_gb = (10 * ACTIVE_HOURS + 0.1 * TASK_HOURS) / 1024 + (43_310 + 7_680) / 1024**2 + FLOW_GB_CLOUDFRONT
    by_hand = (
        TASK_HOURS * 0.5 * 0.04 * 0.5
        + TASK_HOURS * 1 * 0.004 * 0.5
        + API_BILLED * 0.000001
        + 0.0  # VPC link
        + TASK_HOURS / 720 * 0.1
        + DISCOVERY_CALLS * 0.000001
        + 0.5  # hosted zone
        + ACCESS_LOG_GB * 0.5
        + TASK_HOURS * 0.005
        # Lambda requests: 43,310 reconciles, cold requests and alarm events + 7,680 beacon reports
        # (21.33 task-h x 3,600 s / 10 s, the upper bound).
        + (43_310 + 7_680) * 0.0000002
        # Lambda duration: 0.5 GB x (43,200 reconciles x 0.5 s + 110 cold/alarm runs x 2 s + 7,680 beacon
        # reports x 0.2 s).
        + 0.5 * (43_200 * 0.5 + 110 * 2 + 7_680 * 0.2) * 0.00001
        + RECONCILE_READS * 0.00001
        + 5 * 0.1
        + 3.0
        + logs_gb * 0.5
        + ((logs_gb + ACCESS_LOG_GB) * 7 / 30 + 0.5 * TASK_HOURS / 1024 / 30) * 0.03
        + 40 * TASK_HOURS / 720 * 0.3
        + 0.5 * TASK_HOURS / 1024 * 0.5
        + 5 * 20 / 720 * 0.3
        + 512 * 5.5 / 1024 * 0.1
        + 3 * 0.4  # secrets: the keep-alive token, 1 app secret, the wake secret (activity beacon)
        + 1.0
        + 70.3125 * 0.1
    )
    assert s2z.total_usd == pytest.approx(by_hand)
    # The floor without the ALB's hours and addresses, 2 fewer alarm metrics, plus the hosted zone.
    assert s2z.fixed_usd == pytest.approx(
        small_report.configured.fixed_usd - 720 * 0.02 - 2 * 720 * 0.005 - 2 * 0.1 + 0.5
    )


def test_waker_calls_are_lambda_runs_and_api_requests() -> None:
    # One /_warmkeeper call per wake: a Lambda run behind every front door, an API request behind an
    # HTTP API (and one access-log line).
    table = parse_price_table(small_table_data(), "small.toml")
    calls = apply_price_override(table, {"assumptions": {"waker_calls_per_wake": {"value": 3}}}, "o.toml")
    profile = parse_profile(SMALL_PROFILE, "p.toml")
    for env in (STAGING, STAGING_CLOUDFRONT, STAGING_HTTP_API):
        before, after = estimate(env, profile, table), estimate(env, profile, calls)
        lambda_line = after.configured.line("lambda_requests")
        assert lambda_line.quantity == before.configured.line("lambda_requests").quantity + 30
        assert "30 /_warmkeeper calls" in lambda_line.basis
        assert after.always_on.line("lambda_requests").quantity == 720 * 60  # no wake, no call
    after = estimate(STAGING_HTTP_API, profile, calls)
    assert after.configured.line("api_requests").quantity == pytest.approx((API_REQUESTS + 30) * 2)


def test_idle_month_is_the_floor_of_a_sleeping_environment(http_api_report: Any) -> None:
    idle = http_api_report.idle_month
    assert idle is not None and idle.task_hours == 0 and idle.wakes == 0
    assert usd(idle, "api_requests") == 0.0 and usd(idle, "transfer_out") == 0.0
    assert usd(idle, "cloud_map_instances") == 0.0
    # The reconcile still runs every minute and still asks Cloud Map; no app log without an active hour.
    assert idle.line("cloud_map_discovery").quantity == 720 * 60
    assert idle.line("lambda_requests").quantity == 720 * 60
    assert idle.total_usd == pytest.approx(
        idle.fixed_usd
        + 720 * 60 * 0.000001
        + 43_200 * 0.0000002
        + 0.5 * 43_200 * 0.5 * 0.00001
        + 43_200 / 1024**2 * 0.5 * (1 + 7 / 30 * 0.03 / 0.5)
    )
    # An always-on environment has no such month.
    prices = parse_price_table(small_table_data(), "small.toml")
    production = dataclasses.replace(STAGING_HTTP_API, scale_to_zero=False, min_tasks=1)
    assert estimate(production, parse_profile(SMALL_PROFILE, "p"), prices).idle_month is None


def test_front_doors_compared_side_by_side(
    small_report: Any, cloudfront_report: Any, http_api_report: Any
) -> None:
    prices = parse_price_table(small_table_data(), "small.toml")
    comparison = compare_front_doors(STAGING_HTTP_API, parse_profile(SMALL_PROFILE, "p"), prices)
    assert comparison.configured_front_door == "http_api"
    assert list(comparison.front_doors) == ["load_balancer", "cloudfront", "http_api"]
    assert comparison.front_doors["load_balancer"].configured == small_report.configured
    assert comparison.front_doors["cloudfront"].configured == cloudfront_report.configured
    assert comparison.front_doors["http_api"].configured == http_api_report.configured
    assert comparison.legacy_ec2 == small_report.legacy_ec2
    assert comparison.legacy_ec2_idle.total_usd == pytest.approx(720 * 0.02 + 8 * 0.1 + 720 * 0.005)
    data = comparison_to_dict(comparison)
    assert data["modelled"] is True
    assert data["front_doors"]["http_api"]["configured"] is True
    assert data["front_doors"]["http_api"]["scenario"]["total_usd"] == pytest.approx(
        http_api_report.configured.total_usd, abs=1e-6
    )


def test_unknown_front_door_is_refused() -> None:
    with pytest.raises(ValueError, match="front_door 'cdn'"):
        dataclasses.replace(STAGING, front_door="cdn")  # type: ignore[arg-type]


def test_always_on_environment_runs_min_tasks_all_month() -> None:
    prices = parse_price_table(small_table_data(), "small.toml")
    env = EnvironmentShape(**{**STAGING.__dict__, "scale_to_zero": False, "min_tasks": 2})
    report = estimate(env, parse_profile(SMALL_PROFILE, "p.toml"), prices)
    assert report.configured.task_hours == pytest.approx(2 * 720)
    assert report.configured.wakes == 0
    assert usd(report.configured, "cw_alarms") == pytest.approx(5 * 0.1)  # no idle or wake-failed alarm


def test_no_requests_means_no_wake_and_no_task_hours() -> None:
    prices = parse_price_table(small_table_data(), "small.toml")
    report = estimate(
        STAGING, parse_profile({**SMALL_PROFILE, "requests_per_active_hour": 0}, "p.toml"), prices
    )
    assert report.configured.task_hours == 0
    assert report.configured.wakes == 0
    # What is left is the floor: ALB, its addresses, alarms, dashboard, ECR, secrets, reconciles.
    assert usd(report.configured, "alb_hours") == pytest.approx(14.4)


def test_min_warm_minutes_extends_short_periods() -> None:
    prices = parse_price_table(small_table_data(), "small.toml")
    env = EnvironmentShape(**{**STAGING.__dict__, "min_warm_minutes": 60})
    profile = parse_profile({**SMALL_PROFILE, "active_hours_per_day": 0.25}, "p.toml")
    # A 15-minute period still runs 60 minutes, then the 8-minute tail, on each of the 10 days.
    assert estimate(env, profile, prices).configured.task_hours == pytest.approx(10 * (1 + 8 / 60))


def test_day_and_month_caps() -> None:
    prices = parse_price_table(small_table_data(), "small.toml")
    profile = parse_profile({**SMALL_PROFILE, "active_hours_per_day": 24, "days_per_month": 31}, "p.toml")
    # 24 h plus a tail cannot exceed 24 h a day, and 31 days cannot exceed the 720-hour month.
    assert estimate(STAGING, profile, prices).configured.task_hours == pytest.approx(720)


# --- price overrides ---------------------------------------------------------------------------------


def test_price_override_changes_the_result_and_the_source() -> None:
    base = parse_price_table(small_table_data(), "small.toml")
    profile = parse_profile(SMALL_PROFILE, "p.toml")
    before = estimate(STAGING, profile, base)
    override = apply_price_override(
        base, {"prices": {"alb_hour": {"usd": 0.03}}, "fx": {"usd_per_eur": 1.0}}, "mine.toml"
    )
    after = estimate(STAGING, profile, override)
    assert usd(after.configured, "alb_hours") == pytest.approx(720 * 0.03)
    assert after.configured.total_usd == pytest.approx(before.configured.total_usd + 720 * 0.01)
    assert after.configured.total_eur == pytest.approx(after.configured.total_usd)  # 1 EUR = 1 USD now
    assert override.prices["alb_hour"].source == "override: mine.toml"
    assert override.prices["alb_lcu_hour"].source == "https://example.test/"  # untouched
    assert override.files == ("small.toml", "mine.toml")


def test_assumption_override_changes_the_result() -> None:
    base = parse_price_table(small_table_data(), "small.toml")
    profile = parse_profile(SMALL_PROFILE, "p.toml")
    no_insights = apply_price_override(
        base, {"assumptions": {"container_insights_metrics": {"value": 0}}}, "lean.toml"
    )
    assert usd(estimate(STAGING, profile, no_insights).configured, "ci_metrics") == 0.0


@pytest.mark.parametrize(
    ("override", "key", "problem"),
    [
        ({"prices": {"alb_hours": {"usd": 1}}}, "prices.alb_hours", "unknown key"),
        ({"prices": {"alb_hour": {"usd": "cheap"}}}, "prices.alb_hour.usd", "must be a number"),
        ({"prices": {"alb_hour": {"usd": -1}}}, "prices.alb_hour.usd", "at least 0"),
        ({"prices": {"alb_hour": {"cost": 1}}}, "prices.alb_hour.cost", "unknown key"),
        ({"fx": {"usd_per_eur": 0}}, "fx.usd_per_eur", "greater than 0"),
        (
            {"assumptions": {"fargate_spot_discount": {"value": 1.5}}},
            "assumptions.fargate_spot_discount.value",
            "at most 1",
        ),
        ({"table": {"region": "us-east-1"}}, "table.region", "overrides the eu-west-3 table"),
        ({"extra": {}}, "extra", "unknown key"),
    ],
)
def test_bad_override_names_the_key(override: dict[str, Any], key: str, problem: str) -> None:
    base = parse_price_table(small_table_data(), "small.toml")
    with pytest.raises(CostInputError) as caught:
        apply_price_override(base, override, "bad.toml")
    assert caught.value.file == "bad.toml"
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_incomplete_table_is_refused() -> None:
    data = small_table_data()
    del data["prices"]["alb_hour"]
    with pytest.raises(CostInputError, match=r"prices\.alb_hour: required key is missing"):
        parse_price_table(data, "t.toml")
    data = small_table_data()
    del data["prices"]["alb_lcu_hour"]["source"]
    with pytest.raises(CostInputError, match=r"prices\.alb_lcu_hour\.source: required key is missing"):
        parse_price_table(data, "t.toml")


# --- profiles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        ({"active_hours_per_day": None}, "active_hours_per_day", "required key is missing"),
        ({"days_per_month": "twenty"}, "days_per_month", "must be a number"),
        ({"requests_per_active_hour": True}, "requests_per_active_hour", "must be a number"),
        ({"active_hours_per_day": 25}, "active_hours_per_day", "at most 24"),
        ({"days_per_month": -1}, "days_per_month", "at least 0"),
        ({"active_periods_per_day": 1.5}, "active_periods_per_day", "whole number"),
        ({"requests_per_hour": 10}, "requests_per_hour", "unknown key"),
    ],
)
def test_bad_profile_names_the_key(change: dict[str, Any], key: str, problem: str) -> None:
    data = {k: v for k, v in {**SMALL_PROFILE, **change}.items() if v is not None}
    with pytest.raises(CostInputError) as caught:
        parse_profile(data, "traffic.toml")
    assert (caught.value.file, caught.value.key) == ("traffic.toml", key)
    assert problem in caught.value.problem


def test_profile_defaults() -> None:
    profile = parse_profile(
        {"active_hours_per_day": 1, "days_per_month": 1, "requests_per_active_hour": 1}, "p"
    )
    assert profile == TrafficProfile(1.0, 1.0, 1.0)


# --- shipped tables ----------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["eu-west-3", "us-east-1"])
def test_shipped_tables_are_complete_and_sourced(region: str) -> None:
    path = PRICE_TABLE_DIR / f"{region}.toml"
    table = parse_price_table(tomllib.loads(path.read_text(encoding="utf-8")), path.name)
    assert table.region == region
    assert set(table.prices) == set(PRICE_KEYS)
    assert set(table.assumptions) == set(ASSUMPTION_KEYS)
    # The HTTP API's prices were read a day after the rest of the table.
    http_api_keys = {
        "http_api_request",
        "http_api_vpc_link_hour",
        "cloud_map_instance_month",
        "cloud_map_discovery_call",
        "route53_hosted_zone_month",
    }
    # S3, for the data of internal services, a week later.
    s3_keys = {"s3_standard_gb_month", "s3_transfer_same_region_gb"}
    for key, price in table.prices.items():
        assert price.source.startswith("https://aws.amazon.com/"), key
        expected_read = (
            "2026-12-06" if key in s3_keys else "2026-11-28" if key in http_api_keys else "2026-11-27"
        )
        assert price.read == expected_read, key
        assert price.note, key
    # An HTTP API's VPC link has no hourly charge; the rest of its lines are priced.
    assert table.prices["http_api_vpc_link_hour"].usd == 0.0
    assert "no hourly" in table.prices["http_api_vpc_link_hour"].note
    assert table.prices["http_api_request"].usd == 0.000001  # USD 1.00 per million, first 300 million
    assert "512 KB" in table.prices["http_api_request"].note
    assert table.prices["route53_hosted_zone_month"].usd == 0.5
    # Figures no stored source confirms for Paris say so, and say what is assumed.
    if region == "eu-west-3":
        for key in ("http_api_request", "cloud_map_instance_month", "cloud_map_discovery_call"):
            assert "NOT CONFIRMED for Paris" in table.prices[key].note, key
    assert table.fx.source.startswith("https://www.ecb.europa.eu/")
    assert table.prices["public_ipv4_hour"].usd == 0.005
    # CloudFront, priced for the viewers of the table's geography (Europe / United States).
    assert table.prices["cloudfront_transfer_out_gb"].usd == 0.085
    assert (
        table.prices["cloudfront_https_requests_10k"].usd == {"eu-west-3": 0.012, "us-east-1": 0.01}[region]
    )
    assert (
        table.prices["cloudfront_https_requests_10k"].source == "https://aws.amazon.com/cloudfront/pricing/"
    )


def test_json_has_the_same_figures(small_report: Any) -> None:
    data = report_to_dict(small_report)
    assert data["modelled"] is True
    s2z = data["scenarios"]["configured"]
    assert s2z["total_eur"] == pytest.approx(small_report.configured.total_eur, abs=1e-6)
    assert sum(line["usd"] for line in s2z["lines"]) == pytest.approx(s2z["total_usd"], abs=1e-5)
    assert {line["key"] for line in s2z["lines"]} == {line.key for line in small_report.configured.lines}
    assert data["price_table"]["prices"]["alb_hour"]["source"] == "https://example.test/"
    assert data["dominant"][0]["key"] == "alb_hours"
    assert data["environment"]["front_door"] == "load_balancer"
    assert json.loads(json.dumps(data)) == data  # plain data only


# ---------------------------------------------------------------------------------------------------
# Internal services ([[services]]): each one's lines by hand, on the small table
# ---------------------------------------------------------------------------------------------------

ROUTER = ServiceShape(
    name="router",
    cpu_units=512,  # 0.5 vCPU
    memory_mib=2048,  # 2 GB
    architecture="x86_64",
    spot=False,
    min_tasks=0,
    scale_to_zero=True,
    idle_minutes=10,
)
ROUTER_USE = {
    "wakes_per_month": 30,
    "use_minutes_per_wake": 20,
    "start_minutes": 4,
    "calls_while_waking": 6,
    "log_mb_per_task_hour": 2,
    "image_size_mb": 64,
    "data_gb": 5,
}
# By hand: each wake runs 4 min start + 20 min use + 10 idle min + 2 min to decide the sleep = 36 min.
ROUTER_HOURS = 30 * 36 / 60  # 18 task-hours


def with_router(env: EnvironmentShape = STAGING, use: dict[str, Any] | None = None, **changes: Any) -> Any:
    prices = parse_price_table(small_table_data(), "small.toml")
    services = {"router": ROUTER_USE if use is None else use}
    profile = parse_profile({**SMALL_PROFILE, "services": services}, "profile.toml")
    shape = dataclasses.replace(env, services=(dataclasses.replace(ROUTER, **changes),))
    return estimate(shape, profile, prices)


def router_usd(scenario: Scenario) -> dict[str, float]:
    return {line.key.split(".", 1)[1]: line.usd for line in scenario.lines if line.service == "router"}


def test_an_internal_service_is_priced_line_by_line() -> None:
    report = with_router()
    lines = router_usd(report.configured)
    run = report.configured.services[0]
    assert (run.name, run.task_hours, run.wakes) == ("router", pytest.approx(18), 30)
    assert lines["fargate_vcpu"] == pytest.approx(18 * 0.5 * 0.05)  # 0.45, on demand
    assert lines["fargate_memory"] == pytest.approx(18 * 2 * 0.005)  # 0.18
    assert lines["ipv4"] == pytest.approx(18 * 0.005)  # a public address while it runs, like the app's
    # Its own logs (2 MB x 18 h), its address's rejected flows (0.2 MB x 18 h), Container Insights
    # performance logs (0.5 MB x 18 h): 48.6 MB ingested; 7 days of the first two kept, 1 of the last.
    assert lines["logs_ingest"] == pytest.approx((36 + 3.6 + 9) / 1024 * 0.5)
    assert lines["logs_storage"] == pytest.approx(((36 + 3.6) / 1024 * 7 / 30 + 9 / 1024 * 1 / 30) * 0.03)
    assert lines["ci_metrics"] == pytest.approx(20 * 18 / 720 * 0.3)  # 20 metrics in its 18 hours
    # The activity metric has data only in the hours with calls: 20 minutes fall in at most 2 clock
    # hours, 30 wakes -> 60 metric-hours; the idle alarm is there all month.
    assert lines["activity_metric"] == pytest.approx(60 / 720 * 0.3)
    assert lines["idle_alarm"] == pytest.approx(0.1)
    assert lines["cloud_map_instances"] == pytest.approx(18 / 720 * 0.1)
    assert lines["cw_api"] == pytest.approx(18 * 60 * 2 * 0.00001)  # 2 reads a run while wanted
    # 30 x 6 calls answered with a retry + 30 sleep events, each a request and 0.5 s at 0.5 GB.
    assert lines["waker_runs"] == pytest.approx(210 * (0.0000002 + 0.5 * 0.5 * 0.00001))
    # Its image in ECR kept like the app's: 64 MB + 9 more versions x 50 % changed = 352 MB.
    assert lines["ecr_storage"] == pytest.approx(64 * 5.5 / 1024 * 0.1)
    assert lines["s3_storage"] == pytest.approx(5 * 0.02)
    assert lines["s3_transfer"] == 0.0  # 150 GB copied from S3, free in the same region
    transfer = report.configured.line("router.s3_transfer")
    assert transfer.quantity == pytest.approx(150) and "free" in transfer.basis
    fixed = {line.key for line in report.configured.lines if line.service == "router" and line.fixed}
    assert fixed == {"router.s3_storage", "router.ecr_storage", "router.idle_alarm"}
    # What the services share: the internal wake's secret, and (behind an ALB, which has no Cloud Map
    # namespace of its own) the private hosted zone of their names.
    shared = {line.key: line.usd for line in report.configured.lines if line.service == SHARED}
    assert shared == {"services.wake_secret": pytest.approx(0.4), "services.route53_zone": pytest.approx(0.5)}


def test_service_lines_add_up_and_leave_the_app_lines_alone() -> None:
    prices = parse_price_table(small_table_data(), "small.toml")
    alone = estimate(STAGING, parse_profile(SMALL_PROFILE, "p.toml"), prices)
    report = with_router()
    for key in ("configured", "always_on"):
        scenario, before = getattr(report, key), getattr(alone, key)
        app_lines = tuple(line for line in scenario.lines if not line.service)
        # The app's own lines, figure for figure, but one: alone, the app's `secrets` line carries the
        # wake secret its activity beacon sends; with internal services the shared line has it, once.
        assert [line for line in app_lines if line.key != "secrets"] == [
            line for line in before.lines if line.key != "secrets"
        ]
        assert before.line("secrets").quantity == 3  # keep-alive token, 1 app secret, the wake secret
        assert scenario.line("secrets").quantity == 2
        assert scenario.line("services.wake_secret").quantity == 1
        assert scenario.total_usd == pytest.approx(sum(line.usd for line in scenario.lines))
        assert scenario.total_usd == pytest.approx(
            scenario.group_usd("") + scenario.group_usd("router") + scenario.group_usd(SHARED)
        )
        assert scenario.group_usd("router") == pytest.approx(sum(router_usd(scenario).values()))
    assert report.legacy_ec2 == alone.legacy_ec2  # the old instance never ran the service


def test_a_service_that_never_sleeps_costs_a_full_month() -> None:
    report = with_router(scale_to_zero=False, min_tasks=1)
    lines = router_usd(report.configured)
    assert report.configured.services[0].task_hours == 720
    assert lines["fargate_vcpu"] == pytest.approx(720 * 0.5 * 0.05)  # 18.00
    assert lines["fargate_memory"] == pytest.approx(720 * 2 * 0.005)  # 7.20
    # No sleep: no idle alarm, no activity metric, no reads of it, no wakes.
    assert not {"activity_metric", "idle_alarm", "cw_api", "waker_runs"} & set(lines)
    assert report.configured.services[0].wakes == 0
    # Its month without a request to the app is the same full month of compute.
    assert report.idle_month is not None
    assert router_usd(report.idle_month)["fargate_vcpu"] == lines["fargate_vcpu"]


def test_spot_lowers_a_service_compute_only() -> None:
    on_demand = router_usd(with_router().configured)
    spot = router_usd(with_router(spot=True).configured)
    for key in ("fargate_vcpu", "fargate_memory"):
        assert spot[key] == pytest.approx(on_demand[key] * 0.5)  # the small table's 50 % discount
    assert {k: v for k, v in spot.items() if not k.startswith("fargate_")} == {
        k: v for k, v in on_demand.items() if not k.startswith("fargate_")
    }
    arm = router_usd(with_router(architecture="arm64").configured)
    assert arm["fargate_vcpu"] == pytest.approx(18 * 0.5 * 0.04)


def test_an_idle_month_keeps_only_a_sleeping_service_storage_and_alarm() -> None:
    report = with_router()
    assert report.idle_month is not None
    run = report.idle_month.services[0]
    assert (run.task_hours, run.wakes) == (0.0, 0.0)
    lines = router_usd(report.idle_month)
    assert {key for key, value in lines.items() if value} == {"s3_storage", "ecr_storage", "idle_alarm"}
    floor = 5 * 0.02 + 64 * 5.5 / 1024 * 0.1 + 0.1  # its data, its image, its idle alarm
    assert report.idle_month.group_usd("router") == pytest.approx(floor)
    # A month with the app used but nobody routing: the same floor.
    quiet = with_router(use={**ROUTER_USE, "wakes_per_month": 0})
    assert quiet.configured.group_usd("router") == pytest.approx(floor)


def test_always_on_column_runs_every_service_all_month() -> None:
    report = with_router()
    lines = router_usd(report.always_on)
    assert report.always_on.services[0].task_hours == 720
    assert lines["fargate_vcpu"] == pytest.approx(720 * 0.5 * 0.05)
    assert "idle_alarm" not in lines


def test_a_service_woken_with_the_app_adds_a_start_and_an_idle_tail_per_app_wake() -> None:
    report = with_router(wakes_with_app=True)
    run = report.configured.services[0]
    # The app wakes 10 times a month (one period a day, 10 days): each also wakes the service for
    # 4 min start + 10 idle min + 2 min, on top of its own 30 routing wakes.
    assert run.task_hours == pytest.approx(18 + 10 * 16 / 60)
    assert run.wakes == pytest.approx(40)
    # In a month without a request the app does not wake, so neither does the service.
    assert report.idle_month is not None and report.idle_month.services[0].task_hours == 0


def test_a_service_without_a_profile_section_is_assumed_and_said_so() -> None:
    prices = parse_price_table(small_table_data(), "small.toml")
    shape = dataclasses.replace(STAGING, services=(ROUTER,))
    report = estimate(shape, parse_profile(SMALL_PROFILE, "p.toml"), prices)
    run = report.configured.services[0]
    # 60 wakes x (2.5 + 10 + 10 + 2) min: the routing profile osrm.md models, said to be assumed.
    assert run.task_hours == pytest.approx(60 * 24.5 / 60)
    assert any("ASSUMED: the traffic profile has no [services.router]" in note for note in report.notes)
    assert report.configured.line("router.s3_storage").usd == 0.0  # no data size given: none priced


def test_behind_an_http_api_the_services_share_its_namespace() -> None:
    report = with_router(env=dataclasses.replace(STAGING, front_door="http_api"))
    keys = {line.key for line in report.configured.lines if line.service == SHARED}
    assert keys == {"services.wake_secret"}


def test_json_has_per_service_totals() -> None:
    report = with_router()
    data = json.loads(json.dumps(report_to_dict(report)))
    configured = data["scenarios"]["configured"]
    router = configured["services"]["router"]
    assert router["task_hours"] == pytest.approx(18) and router["wakes"] == 30
    assert router["total_usd"] == pytest.approx(report.configured.group_usd("router"), abs=1e-6)
    assert configured["total_usd"] == pytest.approx(
        configured["app"]["total_usd"] + router["total_usd"] + configured["services_shared"]["total_usd"],
        abs=1e-5,
    )
    assert {line["service"] for line in configured["lines"]} == {"", "router", "*"}
    floor = 5 * 0.02 + 64 * 5.5 / 1024 * 0.1 + 0.1
    assert data["services"]["router"]["idle_month_eur"] == pytest.approx(floor / 1.25)
    assert data["profile"]["services"]["router"]["data_gb"] == 5
    assert data["profile"]["services"]["router"]["assumed"] is False
    assert data["environment"]["services"][0]["name"] == "router"
    assert "s3_standard_gb_month" in data["price_table"]["prices"]


def test_json_of_an_app_without_services_has_no_service_keys() -> None:
    prices = parse_price_table(small_table_data(), "small.toml")
    data = report_to_dict(estimate(STAGING, parse_profile(SMALL_PROFILE, "p.toml"), prices))
    assert "services" not in data and "services" not in data["environment"]
    assert "services" not in data["scenarios"]["configured"]
    assert all("service" not in line for line in data["scenarios"]["configured"]["lines"])
    assert not {"s3_standard_gb_month", "s3_transfer_same_region_gb"} & set(data["price_table"]["prices"])
    assert "container_insights_service_metrics" not in data["price_table"]["assumptions"]
