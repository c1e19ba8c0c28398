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
