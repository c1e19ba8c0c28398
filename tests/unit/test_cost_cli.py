"""`warmkeeper cost` through the real CLI: the table, --json, overrides and clear errors (exit 2)."""

from __future__ import annotations

import json
import shutil
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


def test_table_shows_every_line_and_the_three_scenarios() -> None:
    result = cost("--env", "staging")
    assert result.exit_code == 0, result.output
    text = result.stdout
    for label in (
        "Fargate vCPU (arm64, Spot)",
        "ALB hours",
        "ALB capacity units",
        "Public IPv4, ALB",
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
    assert "Staging target under 25 EUR" in text


def lines_of(data: dict[str, Any], scenario: str = "configured") -> dict[str, dict[str, Any]]:
    return {line["key"]: line for line in data["scenarios"][scenario]["lines"]}


def test_staging_is_modelled_behind_cloudfront() -> None:
    result = cost("--env", "staging")
    assert result.exit_code == 0, result.output
    assert "Front door: CloudFront -> internal ALB" in result.stdout
    for label in ("CloudFront requests (HTTPS)", "CloudFront data transfer out", "Public IPv4, ALB"):
        assert label in result.stdout, label
    data = cost_json("--env", "staging")
    assert data["environment"]["front_door"] == "cloudfront"
    lines = lines_of(data)
    assert lines["ipv4_alb"]["quantity"] == 0  # internal ALB: the line stays, at no address
    assert "transfer_out" not in lines
    # 300 requests x 6 h x 22 days = 39,600 HTTPS requests and 39,600 x 40 KB to viewers, Paris table.
    assert lines["cf_requests"]["usd"] == pytest.approx(39_600 / 10_000 * 0.012, abs=1e-6)
    assert lines["cf_transfer_out"]["usd"] == pytest.approx(39_600 * 40 / 1024**2 * 0.085, abs=1e-6)
    # The reconcile reads RequestCount only in the minutes a task is wanted.
    task_hours = data["scenarios"]["configured"]["task_hours"]
    assert lines["cw_api"]["quantity"] == pytest.approx(task_hours * 60, abs=1e-3)
    assert lines_of(data, "always_on")["cw_api"]["quantity"] == 0  # never sleeps: never reads
    assert "legacy" in data["scenarios"]["legacy_ec2"]["title"]
    assert "transfer_out" in lines_of(data, "legacy_ec2")


def test_cloudfront_free_tier_through_prices_override(tmp_path: Path) -> None:
    override = tmp_path / "free-tier.toml"
    override.write_text(
        '[prices.cloudfront_https_requests_10k]\nusd = 0.0\nnote = "always-free tier"\n\n'
        '[prices.cloudfront_transfer_out_gb]\nusd = 0.0\nnote = "always-free tier"\n',
        encoding="utf-8",
    )
    base = cost_json("--env", "staging")
    free = cost_json("--env", "staging", "--prices", str(override))
    cf_usd = sum(lines_of(base)[key]["usd"] for key in ("cf_requests", "cf_transfer_out"))
    assert cf_usd > 0  # not applied by default
    assert free["scenarios"]["configured"]["total_usd"] == pytest.approx(
        base["scenarios"]["configured"]["total_usd"] - cf_usd, abs=1e-5
    )
    assert free["price_table"]["prices"]["cloudfront_transfer_out_gb"]["source"] == f"override: {override}"


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
    override.write_text("[prices.alb_hour]\nusd = 0.05\n\n[fx]\nusd_per_eur = 1.0\n", encoding="utf-8")
    base = cost_json("--env", "staging")
    changed = cost_json("--env", "staging", "--prices", str(override))
    alb_base = next(line for line in base["scenarios"]["configured"]["lines"] if line["key"] == "alb_hours")
    alb_new = next(line for line in changed["scenarios"]["configured"]["lines"] if line["key"] == "alb_hours")
    assert alb_new["usd"] == pytest.approx(730 * 0.05)
    delta = changed["scenarios"]["configured"]["total_usd"] - base["scenarios"]["configured"]["total_usd"]
    assert delta == pytest.approx(alb_new["usd"] - alb_base["usd"], abs=1e-5)
    assert changed["scenarios"]["configured"]["total_eur"] == pytest.approx(
        changed["scenarios"]["configured"]["total_usd"]
    )
    assert changed["price_table"]["prices"]["alb_hour"]["source"] == f"override: {override}"


def test_production_is_priced_as_always_on(tmp_path: Path) -> None:
    data = cost_json("--env", "production", "--profile", str(REFERENCE_PROFILE))
    configured = data["scenarios"]["configured"]
    assert configured["task_hours"] == pytest.approx(730)  # min_tasks = 1 in the example
    assert configured["wakes"] == 0
    # Production keeps the internet-facing ALB: two addresses, the region's transfer out, no CloudFront.
    assert data["environment"]["front_door"] == "load_balancer"
    lines = lines_of(data)
    assert lines["ipv4_alb"]["quantity"] == pytest.approx(2 * 730)
    assert "transfer_out" in lines and "cf_requests" not in lines
    assert lines["cw_api"]["quantity"] == 0  # never sleeps: the reconcile never reads RequestCount
    assert (
        "Front door: internet-facing ALB"
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
    ],
    ids=["missing-key", "wrong-type", "unknown-key", "not-toml", "out-of-range"],
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


def test_no_default_profile_beside_another_config(tmp_path: Path) -> None:
    config = tmp_path / "warmkeeper.toml"
    shutil.copy(EXAMPLE_CONFIG, config)
    result = runner.invoke(app, ["cost", "--config", str(config), "--env", "staging"])
    assert result.exit_code == 2
    assert "traffic-staging.toml does not exist" in result.stderr


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
