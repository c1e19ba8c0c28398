"""`warmkeeper cost` through the real CLI: the table, --json, overrides and clear errors (exit 2)."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import EXAMPLE_CONFIG, EXAMPLE_DIR, run_cli
from warmkeeper.cli import app

REFERENCE_PROFILE = EXAMPLE_DIR / "traffic-staging.toml"
runner = CliRunner()


def cost(*args: str) -> Any:
    return runner.invoke(app, ["cost", "--config", str(EXAMPLE_CONFIG), *args])


def cost_json(*args: str) -> dict[str, Any]:
    result = cost("--json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def with_front_door(tmp_path: Path, front_door: str) -> Path:
    """The example's config with staging's front door changed (and its traffic profile beside it)."""
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    assert 'front_door = "http_api"' in text
    config = tmp_path / "warmkeeper.toml"
    config.write_text(
        text.replace('front_door = "http_api"', f'front_door = "{front_door}"'), encoding="utf-8"
    )
    shutil.copy(REFERENCE_PROFILE, tmp_path / REFERENCE_PROFILE.name)
    return config


def cost_with(config: Path, *args: str) -> Any:
    return runner.invoke(app, ["cost", "--config", str(config), *args])


def test_table_shows_every_line_and_the_three_scenarios() -> None:
    result = cost("--env", "staging")
    assert result.exit_code == 0, result.output
    text = result.stdout
    for label in (
        "Fargate vCPU (arm64, Spot)",
        "HTTP API requests",
        "HTTP API VPC link",
        "Cloud Map registered tasks",
        "Cloud Map DiscoverInstances",
        "Route 53 private hosted zone",
        "HTTP API access logs",
        "Lambda requests",
        "CloudWatch alarms",
        "CloudWatch API",
        "CloudWatch dashboard",
        "Container Insights",
        "ECR storage",
        "Secrets Manager",
        "KMS key",
        "EC2 instance (legacy)",
    ):
        assert label in text, label
    assert "scale to zero" in text and "always on" in text and "legacy EC2" in text
    assert "MODELLED" in text
    assert "Dominant lines" in text
    assert "A month without a single request" in text
    # The budget judges the environment's total, its internal service (osrm) included (modelled).
    assert (
        "Budget of staging (cost.budgets.staging): at most 5 EUR a month, 2.5 EUR without a request, "
        "below the legacy EC2: kept (modelled 3.61 / 1.68 / 15.52 EUR)"
    ) in text
    assert "  osrm subtotal" in text and "  app subtotal" in text
    # No load balancer behind an HTTP API: none of its lines, not even at zero.
    rows = [row.strip("│") for row in text.splitlines() if row.startswith("│")]
    for label in ("ALB hours", "ALB capacity units", "Public IPv4, ALB"):
        assert not any(row.startswith(label) for row in rows), label


def lines_of(data: dict[str, Any], scenario: str = "configured") -> dict[str, dict[str, Any]]:
    return {line["key"]: line for line in data["scenarios"][scenario]["lines"]}


def test_staging_is_modelled_behind_an_http_api() -> None:
    result = cost("--env", "staging")
    assert result.exit_code == 0, result.output
    assert "Front door: API Gateway HTTP API -> VPC link -> Cloud Map, no load balancer" in result.stdout
    data = cost_json("--env", "staging")
    assert data["environment"]["front_door"] == "http_api"
    lines = lines_of(data)
    assert not {"alb_hours", "alb_lcu", "ipv4_alb", "cf_requests", "cf_transfer_out"} & set(lines)
    # 300 requests x 6 h x 22 days = 39,600 visitor requests + one /_warmkeeper call per wake (66), each
    # under 512 KB, at USD 1.00 per million (the us-east-1 figure, assumed for Paris).
    assert lines["api_requests"]["quantity"] == pytest.approx(39_600 + 66)
    assert lines["api_requests"]["usd"] == pytest.approx((39_600 + 66) * 0.000001, abs=1e-6)
    assert lines["vpc_link"]["usd"] == 0 and lines["vpc_link"]["quantity"] == 730
    assert lines["route53_zone"]["usd"] == pytest.approx(0.5) and lines["route53_zone"]["fixed"]
    # The scenario's task-hours include the warm schedule's, priced in its own line: the other lines
    # count the traffic's hours.
    task_hours = data["scenarios"]["configured"]["task_hours"] - lines["warm_schedule"]["quantity"]
    assert lines["cloud_map_instances"]["quantity"] == pytest.approx(task_hours / 730, abs=1e-6)
    # The responses leave the region to the internet: the region's transfer out, no CloudFront.
    assert lines["transfer_out"]["usd"] == pytest.approx(39_600 * 40 / 1024**2 * 0.09, abs=1e-6)
    # Nobody watches the example's staging (no alarm e-mail, no dashboard): the idle alarm alone, and
    # no custom metric (behind an HTTP API a watched one has 4 operational alarm metrics + wake-failed).
    assert lines["cw_alarms"]["quantity"] == 1
    assert lines["wk_metrics"]["usd"] == 0.0
    # The reconcile reads the idle metric only in the minutes a task is wanted.
    assert lines["cw_api"]["quantity"] == pytest.approx(task_hours * 60, abs=1e-3)
    assert lines_of(data, "always_on")["cw_api"]["quantity"] == 0  # never sleeps: never reads
    assert "transfer_out" in lines_of(data, "legacy_ec2")
    # The reference staging's goal, modelled: at most 5 EUR, at most 2.50 EUR idle, below the legacy
    # instance, osrm and the wake secret included.
    scenario = data["scenarios"]["configured"]
    configured = scenario["total_eur"]
    assert scenario["app"]["total_eur"] <= 5.0
    assert configured == pytest.approx(
        scenario["app"]["total_eur"]
        + scenario["services"]["osrm"]["total_eur"]
        + scenario["services_shared"]["total_eur"],
        abs=1e-5,
    )
    assert scenario["services"]["osrm"]["total_eur"] > 0
    assert configured <= 5.0 < data["scenarios"]["legacy_ec2"]["total_eur"]
    assert data["idle_month"]["total_eur"] <= 2.5
    # Without a request a task runs only in the warm windows (their lead and idle tail included).
    idle_schedule = (
        lines_of(data, "idle_month")["warm_schedule"] if "idle_month" in data["scenarios"] else None
    )
    assert idle_schedule is None
    idle_lines = {line["key"]: line for line in data["idle_month"]["lines"]}
    assert data["idle_month"]["task_hours"] == pytest.approx(idle_lines["warm_schedule"]["quantity"])
    assert "a task runs only in the warm windows" in result.stdout


def test_staging_behind_cloudfront_still_priced(tmp_path: Path) -> None:
    config = with_front_door(tmp_path, "cloudfront")
    result = cost_with(config, "--env", "staging")
    assert result.exit_code == 0, result.output
    assert "Front door: CloudFront -> internal ALB" in result.stdout
    for label in ("CloudFront requests (HTTPS)", "CloudFront data transfer out", "Public IPv4, ALB"):
        assert label in result.stdout, label
    data = json.loads(cost_with(config, "--env", "staging", "--json").stdout)
    assert data["environment"]["front_door"] == "cloudfront"
    lines = lines_of(data)
    assert lines["ipv4_alb"]["quantity"] == 0  # internal ALB: the line stays, at no address
    assert "transfer_out" not in lines and "api_requests" not in lines
    assert lines["cf_requests"]["usd"] == pytest.approx(39_600 / 10_000 * 0.012, abs=1e-6)
    assert lines["cf_transfer_out"]["usd"] == pytest.approx(39_600 * 40 / 1024**2 * 0.085, abs=1e-6)


def test_cloudfront_free_tier_through_prices_override(tmp_path: Path) -> None:
    config = with_front_door(tmp_path, "cloudfront")
    override = tmp_path / "free-tier.toml"
    override.write_text(
        '[prices.cloudfront_https_requests_10k]\nusd = 0.0\nnote = "always-free tier"\n\n'
        '[prices.cloudfront_transfer_out_gb]\nusd = 0.0\nnote = "always-free tier"\n',
        encoding="utf-8",
    )
    base = json.loads(cost_with(config, "--env", "staging", "--json").stdout)
    free = json.loads(cost_with(config, "--env", "staging", "--json", "--prices", str(override)).stdout)
    cf_usd = sum(lines_of(base)[key]["usd"] for key in ("cf_requests", "cf_transfer_out"))
    assert cf_usd > 0  # not applied by default
    assert free["scenarios"]["configured"]["total_usd"] == pytest.approx(
        base["scenarios"]["configured"]["total_usd"] - cf_usd, abs=1e-5
    )
    assert free["price_table"]["prices"]["cloudfront_transfer_out_gb"]["source"] == f"override: {override}"


def test_front_doors_side_by_side(tmp_path: Path) -> None:
    result = cost("--env", "staging", "--compare-front-doors")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "Configured front door: API Gateway HTTP API" in text
    assert "MODELLED" in text
    for column in ("ALB", "CloudFront", "HTTP API *", "legacy EC2"):
        assert column in text, column
    assert 'HTTP API: front_door = "http_api", API Gateway HTTP API' in text and "(* configured)" in text
    assert "month without a request" in text
    data = cost_json("--env", "staging", "--compare-front-doors")
    assert data["modelled"] is True and data["environment"]["front_door"] == "http_api"
    doors = data["front_doors"]
    assert list(doors) == ["load_balancer", "cloudfront", "http_api"]
    assert [door for door, entry in doors.items() if entry["configured"]] == ["http_api"]
    # Each column is the plain command's configured scenario for that front door.
    plain = cost_json("--env", "staging")
    assert doors["http_api"]["scenario"] == plain["scenarios"]["configured"]
    assert doors["http_api"]["idle_month_eur"] == pytest.approx(plain["idle_month"]["total_eur"])
    behind_cloudfront = json.loads(
        cost_with(with_front_door(tmp_path, "cloudfront"), "--env", "staging", "--json").stdout
    )
    assert doors["cloudfront"]["scenario"] == behind_cloudfront["scenarios"]["configured"]
    assert data["legacy_ec2"] == plain["scenarios"]["legacy_ec2"]
    totals = {door: entry["scenario"]["total_eur"] for door, entry in doors.items()}
    assert (
        totals["http_api"] < data["legacy_ec2"]["total_eur"] < totals["cloudfront"] < totals["load_balancer"]
    )
    # Shown in the table too.
    for total in totals.values():
        assert f"{total:,.2f}" in text


def test_production_side_by_side_is_always_on() -> None:
    data = cost_json("--env", "production", "--profile", str(REFERENCE_PROFILE), "--compare-front-doors")
    assert data["environment"]["front_door"] == "cloudfront"
    assert all(entry["idle_month_eur"] is None for entry in data["front_doors"].values())
    assert data["front_doors"]["cloudfront"]["configured"]
    text = cost("--env", "production", "--profile", str(REFERENCE_PROFILE), "--compare-front-doors").stdout
    assert "month without a request" not in text


def test_default_profile_is_the_one_beside_the_config() -> None:
    implicit = cost_json("--env", "staging")
    explicit = cost_json("--env", "staging", "--profile", str(REFERENCE_PROFILE))
    assert implicit == explicit
    assert implicit["profile"]["days_per_month"] == 22


def test_json_totals_match_the_table() -> None:
    data = cost_json("--env", "staging")
    table = cost("--env", "staging").stdout
    for key in ("configured", "always_on", "legacy_ec2"):
        assert f"{data['scenarios'][key]['total_eur']:,.2f}" in table
    assert data["modelled"] is True
    assert data["price_table"]["region"] == "eu-west-3"


def test_prices_override_changes_the_result(tmp_path: Path) -> None:
    override = tmp_path / "prices.toml"
    override.write_text(
        "[prices.route53_hosted_zone_month]\nusd = 0.9\n\n[fx]\nusd_per_eur = 1.0\n", encoding="utf-8"
    )
    base = cost_json("--env", "staging")
    changed = cost_json("--env", "staging", "--prices", str(override))
    zone_base = lines_of(base)["route53_zone"]
    zone_new = lines_of(changed)["route53_zone"]
    assert zone_new["usd"] == pytest.approx(0.9)
    delta = changed["scenarios"]["configured"]["total_usd"] - base["scenarios"]["configured"]["total_usd"]
    assert delta == pytest.approx(zone_new["usd"] - zone_base["usd"], abs=1e-5)
    assert changed["scenarios"]["configured"]["total_eur"] == pytest.approx(
        changed["scenarios"]["configured"]["total_usd"]
    )
    assert changed["price_table"]["prices"]["route53_hosted_zone_month"]["source"] == f"override: {override}"


def test_production_is_priced_as_always_on(tmp_path: Path) -> None:
    data = cost_json("--env", "production", "--profile", str(REFERENCE_PROFILE))
    configured = data["scenarios"]["configured"]
    assert configured["task_hours"] == pytest.approx(730)  # min_tasks = 1 in the example
    assert configured["wakes"] == 0
    # Production serves HTTPS through CloudFront to an internal ALB: no public address on the ALB,
    # CloudFront's requests and transfer out instead of the region's.
    assert data["environment"]["front_door"] == "cloudfront"
    lines = lines_of(data)
    assert lines["ipv4_alb"]["quantity"] == 0
    assert "cf_requests" in lines and "transfer_out" not in lines
    assert lines["cw_api"]["quantity"] == 0  # never sleeps: the reconcile never reads RequestCount
    assert (
        "Front door: CloudFront -> internal ALB"
        in cost("--env", "production", "--profile", str(REFERENCE_PROFILE)).stdout
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "days_per_month = 22\nrequests_per_active_hour = 10\n",
            "active_hours_per_day: required key is missing",
        ),
        (
            'active_hours_per_day = "six"\ndays_per_month = 22\nrequests_per_active_hour = 10\n',
            "active_hours_per_day: must be a number",
        ),
        (
            "active_hours_per_day = 6\ndays_per_month = 22\nrequests_per_active_hour = 10\n"
            "request_size = 3\n",
            "request_size: unknown key",
        ),
        ("active_hours_per_day = 6\ndays_per_month = [22\n", "not valid TOML"),
        ("active_hours_per_day = 30\ndays_per_month = 22\nrequests_per_active_hour = 10\n", "at most 24"),
        (
            "active_hours_per_day = 6\ndays_per_month = 22\nrequests_per_active_hour = 10\n"
            "[services.osrm]\nwakes_per_month = -3\n",
            "services.osrm.wakes_per_month: must be at least 0, got -3",
        ),
        (
            "active_hours_per_day = 6\ndays_per_month = 22\nrequests_per_active_hour = 10\n"
            "[services.osrm]\ndata = 2\n",
            "services.osrm.data: unknown key; known keys: calls_while_waking, data_gb,",
        ),
        (
            "active_hours_per_day = 6\ndays_per_month = 22\nrequests_per_active_hour = 10\n"
            "[services.routing]\ndata_gb = 2\n",
            "services.routing: no internal service 'routing' in the config (services: osrm)",
        ),
    ],
    ids=[
        "missing-key",
        "wrong-type",
        "unknown-key",
        "not-toml",
        "out-of-range",
        "service-out-of-range",
        "service-unknown-key",
        "service-not-in-config",
    ],
)
def test_bad_profile_is_one_clear_line_and_exit_2(tmp_path: Path, content: str, expected: str) -> None:
    profile = tmp_path / "traffic.toml"
    profile.write_text(content, encoding="utf-8")
    result = cost("--env", "staging", "--profile", str(profile))
    assert result.exit_code == 2
    assert str(profile) in result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""  # nothing half-printed


def test_missing_profile_and_bad_prices_file(tmp_path: Path) -> None:
    result = cost("--env", "staging", "--profile", str(tmp_path / "nope.toml"))
    assert result.exit_code == 2 and "nope.toml: file not found" in result.stderr
    prices = tmp_path / "prices.toml"
    prices.write_text("[prices.alb_hours]\nusd = 1\n", encoding="utf-8")
    result = cost("--env", "staging", "--prices", str(prices))
    assert result.exit_code == 2
    assert f"{prices}: prices.alb_hours: unknown key" in result.stderr


def test_no_profile_file_takes_the_flags_and_says_what_it_assumed(tmp_path: Path) -> None:
    config = tmp_path / "warmkeeper.toml"
    shutil.copy(EXAMPLE_CONFIG, config)
    assumed = runner.invoke(app, ["cost", "--config", str(config), "--env", "staging", "--json"])
    assert assumed.exit_code == 0, assumed.output
    profile = json.loads(assumed.stdout)["profile"]
    assert profile["active_hours_per_day"] == 8 and profile["requests_per_active_hour"] == 200
    assert profile["description"].startswith("assumed active_hours_per_day = 8")
    flags = ["--active-hours", "2", "--days", "10", "--requests-per-hour", "50", "--periods", "1"]
    given = runner.invoke(app, ["cost", "--config", str(config), "--env", "staging", "--json", *flags])
    assert given.exit_code == 0, given.output
    profile = json.loads(given.stdout)["profile"]
    assert (profile["active_hours_per_day"], profile["days_per_month"]) == (2, 10)
    assert profile["description"] == "from the command's flags"
    # Fewer hours of use: a smaller bill than the assumed profile's.
    assert (
        json.loads(given.stdout)["scenarios"]["configured"]["total_usd"]
        < json.loads(assumed.stdout)["scenarios"]["configured"]["total_usd"]
    )
    both = runner.invoke(
        app,
        ["cost", "--config", str(config), "--env", "staging", "--profile", str(REFERENCE_PROFILE), *flags],
    )
    assert both.exit_code == 2 and "not both" in both.stderr


def test_without_a_cost_section_no_comparison_no_budget_and_usd(tmp_path: Path) -> None:
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    config = tmp_path / "warmkeeper.toml"
    config.write_text(text[: text.index("[cost]")], encoding="utf-8")
    shutil.copy(REFERENCE_PROFILE, tmp_path / REFERENCE_PROFILE.name)
    plain = runner.invoke(app, ["cost", "--config", str(config), "--env", "staging"])
    assert plain.exit_code == 0, plain.output
    for absent in ("legacy", "EC2", "Budget", "EUR"):
        assert absent not in plain.stdout, absent
    assert "line (USD/month)" in plain.stdout
    data = json.loads(
        runner.invoke(app, ["cost", "--config", str(config), "--env", "staging", "--json"]).stdout
    )
    assert sorted(data["scenarios"]) == ["always_on", "configured"]
    declared = runner.invoke(app, ["cost", "--config", str(EXAMPLE_CONFIG), "--env", "staging", "--json"])
    euro = json.loads(declared.stdout)["scenarios"]["configured"]
    # The same figure: USD shown without [cost], EUR with it, at the table's one rate.
    assert data["scenarios"]["configured"]["total_usd"] == pytest.approx(euro["total_usd"])
    usd_total = data["scenarios"]["configured"]["total_usd"]
    assert f"{usd_total:,.2f}" in plain.stdout


def test_local_environment_and_unknown_environment() -> None:
    result = cost("--env", "local")
    assert result.exit_code == 2 and "no AWS bill" in result.stderr
    result = cost("--env", "qa")
    assert result.exit_code == 2 and "unknown environment 'qa'" in result.stderr


def test_real_entry_point_as_a_process() -> None:
    proc = run_cli(["cost", "--config", str(EXAMPLE_CONFIG), "--env", "staging", "--json"])
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["scenarios"]["configured"]["total_eur"] > 0
    bad = run_cli(
        ["cost", "--config", str(EXAMPLE_CONFIG), "--env", "staging", "--profile", "/nonexistent.toml"]
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr


def test_goal_line_says_not_kept_when_a_line_breaks_it(tmp_path: Path) -> None:
    # The one assumption that can break the goal: Cloud Map billing each registered task a whole month
    # (66 wakes -> 66 tasks, 6.60 USD) instead of by the hour. The command says so rather than hiding it.
    override = tmp_path / "cloud-map.toml"
    override.write_text("[prices.cloud_map_instance_month]\nusd = 34.21875\n", encoding="utf-8")
    text = cost("--env", "staging", "--prices", str(override)).stdout
    assert (
        "Budget of staging (cost.budgets.staging): at most 5 EUR a month, 2.5 EUR without a request, "
        "below the legacy EC2: NOT kept"
    ) in text
    data = cost_json("--env", "staging", "--prices", str(override))
    assert lines_of(data)["cloud_map_instances"]["usd"] == pytest.approx(6.60, abs=0.01)
    assert 9.0 < data["scenarios"]["configured"]["total_eur"] < data["scenarios"]["legacy_ec2"]["total_eur"]


def test_cost_models_the_example_staging_behind_its_http_api() -> None:
    # The example's staging is behind an HTTP API: the command prices its lines, with no load balancer.
    assert (
        tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))["environments"]["staging"]["front_door"]
        == "http_api"
    )
    profile = EXAMPLE_CONFIG.parent / "traffic-staging.toml"
    result = run_cli(["cost", "--config", str(EXAMPLE_CONFIG), "--env", "staging", "--profile", str(profile)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Front door: API Gateway HTTP API -> VPC link -> Cloud Map, no load balancer" in result.stdout
    assert "Route 53 private hosted zone" in result.stdout


def test_another_region_is_priced_from_a_complete_table_passed_with_prices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from warmkeeper.cost import PRICE_TABLE_DIR

    text = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace(
        'region = "eu-west-3"', 'region = "ca-central-1"'
    )
    config = tmp_path / "warmkeeper.toml"
    config.write_text(text, encoding="utf-8")
    missing = runner.invoke(app, ["cost", "--config", str(config), "--env", "staging"])
    assert missing.exit_code == 2
    assert "no price table is shipped for region 'ca-central-1'" in missing.stderr
    assert "pass it as --prices FILE" in missing.stderr
    table = tmp_path / "ca-central-1.toml"
    table.write_text(
        (PRICE_TABLE_DIR / "us-east-1.toml")
        .read_text(encoding="utf-8")
        .replace('region = "us-east-1"', 'region = "ca-central-1"'),
        encoding="utf-8",
    )
    priced = runner.invoke(app, ["cost", "--config", str(config), "--env", "staging", "--prices", str(table)])
    assert priced.exit_code == 0, priced.output
    assert "Prices: ca-central-1 table" in priced.stdout
