"""`warmkeeper cost` pinned: the example's figures, text and --json, exactly as before the cost model moved.

The files under ``golden/`` were captured from the CLI as a process before `core/cost.py` became the
`warmkeeper.cost` package, with the commands in ``CASES`` run from the repository root:
``COLUMNS=<width> python -m warmkeeper cost -c examples/cityguided/warmkeeper.toml <args>``.
Every figure, label, note and exit code must stay the same; a price-table change that moves a figure on
purpose updates the golden files in the same commit (re-run the case and overwrite its three files).
The example's traffic profile took the measured image size (66 MB, `make images-local`) instead of the
assumed 300 MB after the capture: ECR storage 0.21 -> 0.05 EUR, every total 0.16 EUR lower.

Changed on purpose since: the example's staging moved to ``front_door = "http_api"`` (no load
balancer), so the staging files were re-captured (24.48 -> 8.51 EUR, modelled) and the override file
gained a price staging's bill uses (the hosted zone). Production's figures did not move: its text files
are byte for byte the old ones, and its ``--json`` gained only the new keys of the price table.

Changed on purpose since: the comparison column and the budget verdict come from the config's ``[cost]``
section (the example declares EUR, the EC2 instance and staging's 9 / 7 EUR budget), so staging's two
goal lines became one budget line (same figures; the looser 25 EUR line went); and a missing traffic
profile no longer stops the command: production, which has no profile file, is priced with the assumed
profile the report names (exit 0 instead of 2). Every figure of the tables is unchanged.
Changed on purpose again: the example's staging has no dashboard (2.55 EUR) and, without an alarm
e-mail, no alarm topic nor its KMS key (0.85 EUR), and it gained a warm schedule (a line of its own,
0.40 EUR): 8.51 -> 5.51 EUR, 4.85 -> 1.85 EUR without a request (modelled). ``--json`` gained the
top-level ``total_eur``, ``idle_month_eur`` and ``warm_schedule``; production's figures did not move.

Changed on purpose again: the example declares an internal service (``osrm``), which the model prices
with lines of its own, per-service subtotals and the lines the services share; the example's files were
re-captured (staging 4.78 -> 5.98 EUR). The files captured before, in ``golden/no-services/``, stay the
output of the same example WITHOUT its ``[[services]]`` (and the profile's ``[services.osrm]``): an app
without internal services gets the same bytes as before they existed.

Changed on purpose again: Container Insights is on only where the environment is watched (a dashboard
or an alarm e-mail); the example's staging is not, so its Container Insights lines are 0 (staging 5.98
-> 3.54 EUR, 1.88 -> 1.68 EUR without a request; without osrm 4.78 -> 2.58 EUR). Both sets of staging
files were re-captured; production (watched) did not move.

Changed on purpose again: the tasks' activity beacon reports to the waker (at most one report every
10 s of task time, priced as if every task-hour were busy). Each report is a Lambda request, a short run
of 0.2 s of Lambda duration (the new assumption ``lambda_beacon_report_seconds``, which every case's
``--json`` now lists, production's too) and a log line; a scale-to-zero environment without internal
services pays for the wake secret the beacon sends (with them, their shared line already had it), and
the SSM line counts a fourth parameter, the activity (free). Staging 3.54 -> 3.61 EUR, 1.68 -> 1.68 EUR
without a request (modelled); without osrm 2.58 -> 2.99 EUR, 1.14 -> 1.49 EUR without a request
(modelled; 0.34 EUR of it the wake secret). Every file of both sets was re-captured: production's
figures did not move, its text only in two bases (the SSM parameters, the shared wake secret).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

GOLDEN = Path(__file__).parent / "golden"
CONFIG = "examples/cityguided/warmkeeper.toml"
STAGING_PROFILE = "examples/cityguided/traffic-staging.toml"
OVERRIDE = "tests/cost/golden/prices-override.toml"

# name -> (terminal width, arguments after `cost -c CONFIG`). The width decides whether the basis
# column is shown (120 columns and more), so both layouts are pinned.
CASES: dict[str, tuple[int, list[str]]] = {
    "staging-wide": (160, ["--env", "staging"]),
    "staging-narrow": (80, ["--env", "staging"]),
    "staging-json": (80, ["--env", "staging", "--json"]),
    # The example ships no production traffic profile: one clear line, exit 2.
    "production-wide": (160, ["--env", "production"]),
    "production-json": (80, ["--env", "production", "--json"]),
    "production-profile-wide": (160, ["--env", "production", "--profile", STAGING_PROFILE]),
    "production-profile-json": (80, ["--env", "production", "--profile", STAGING_PROFILE, "--json"]),
    "staging-override-wide": (160, ["--env", "staging", "--prices", OVERRIDE]),
    "staging-override-json": (80, ["--env", "staging", "--prices", OVERRIDE, "--json"]),
}


def run_cost(width: int, args: list[str], config: str = CONFIG) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(width), "LINES": "50"}
    for variable in ("NO_COLOR", "FORCE_COLOR", "TERM", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(variable, None)
    return subprocess.run(
        [sys.executable, "-m", "warmkeeper", "cost", "-c", config, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def golden(name: str, stream: str, folder: Path = GOLDEN) -> str:
    return (folder / f"{name}.{stream}").read_text(encoding="utf-8")


def without_services(folder: Path) -> tuple[Path, Path]:
    """The example's config and staging profile with its internal services cut out, written to ``folder``
    (the build contexts are not read by `cost`, so the copy needs nothing else)."""
    config = (ROOT / CONFIG).read_text(encoding="utf-8")
    start, end = config.index("\n[[services]]"), config.index("\n[scale_to_zero]")
    profile = (ROOT / STAGING_PROFILE).read_text(encoding="utf-8")
    config_path, profile_path = folder / "warmkeeper.toml", folder / "traffic-staging.toml"
    # The app's task names the service's caller port ({port:osrm}); without the service, a number.
    config_path.write_text((config[:start] + config[end:]).replace("{port:osrm}", "5000"), encoding="utf-8")
    profile_path.write_text(profile[: profile.index("\n[services.")] + "\n", encoding="utf-8")
    assert "services" not in tomllib.loads(config_path.read_text(encoding="utf-8"))
    assert "services" not in tomllib.loads(profile_path.read_text(encoding="utf-8"))
    return config_path, profile_path


@pytest.mark.parametrize("name", sorted(CASES))
def test_cost_output_is_unchanged(name: str) -> None:
    width, args = CASES[name]
    proc = run_cost(width, args)
    assert proc.returncode == int(golden(name, "rc")), proc.stderr
    if name.endswith("-json") and proc.returncode == 0:
        # A readable diff of the figures first, then the exact bytes (key order, indentation).
        assert json.loads(proc.stdout) == json.loads(golden(name, "stdout"))
    assert proc.stdout == golden(name, "stdout")
    assert proc.stderr == golden(name, "stderr")


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_app_without_services_prints_the_same_bytes_as_before(name: str, tmp_path: Path) -> None:
    """The example without [[services]]: every case byte for byte as captured before services existed."""
    config, profile = without_services(tmp_path)
    width, args = CASES[name]
    args = [str(profile) if arg == STAGING_PROFILE else arg for arg in args]
    proc = run_cost(width, args, config=str(config))
    folder = GOLDEN / "no-services"
    assert proc.returncode == int(golden(name, "rc", folder)), proc.stderr
    assert proc.stdout == golden(name, "stdout", folder)
    assert proc.stderr == golden(name, "stderr", folder)


def test_pinned_totals_to_the_cent() -> None:
    """The headline figures spelled out, so that a golden file rewritten by mistake shows up here too."""
    expected = {
        # case: {scenario: (total EUR, of which fixed EUR)}
        # Behind an HTTP API now (it was 24.48 / 36.76 behind CloudFront and an internal ALB).
        "staging-json": {
            # 5.51 / 17.43 before the operational alarms and custom metrics became the watched
            # environments' only (the example's staging has no alarm e-mail and no dashboard).
            # 4.78 / 17.09 before the example declared osrm (its lines and the wake secret).
            # 5.98 / 35.70 before Container Insights followed the watch (staging is not watched).
            # 3.54 / 1.43 before the activity beacon's reports were priced (Lambda requests, 0.2 s of
            # duration each, log lines; the wake secret was already on the services' shared line).
            "configured": (3.61, 1.43),
            "always_on": (18.36, 1.26),
            "legacy_ec2": (15.52, 15.40),
        },
        # Behind CloudFront now, for HTTPS (it was 55.66 / 26.84 on an internet-facing ALB over HTTP).
        "production-profile-json": {
            # 49.26 / 49.26 before osrm (its lines, the wake secret and its private DNS namespace).
            "configured": (51.47, 21.59),
            "always_on": (85.79, 21.51),
            "legacy_ec2": (15.52, 15.40),
        },
    }
    for name, scenarios in expected.items():
        data = json.loads(golden(name, "stdout"))["scenarios"]
        figures = {
            key: (round(data[key]["total_eur"], 2), round(data[key]["fixed_eur"], 2)) for key in scenarios
        }
        assert figures == scenarios, name
    # A month without a single request, staging (the reference staging's goal: 7 EUR at most): 1.676 EUR
    # before the beacon, 1.682 with the warm windows' task-hours reporting to the waker.
    idle = json.loads(golden("staging-json", "stdout"))["idle_month"]
    assert (round(idle["total_eur"], 2), round(idle["fixed_eur"], 2)) == (1.68, 1.43)
    # The headline keys of --json, and the warm schedule's share (its own line).
    staging = json.loads(golden("staging-json", "stdout"))
    assert round(staging["total_eur"], 2) == 3.61
    assert round(staging["idle_month_eur"], 2) == 1.68
    # osrm alone: Spot in staging, on demand in production (checked by hand in docs/technical/cost.md);
    # asleep all month it keeps only its data (S3, its image in ECR) and its idle alarm.
    assert staging["services"]["osrm"] == {
        "total_eur": pytest.approx(0.62, abs=0.005),
        "idle_month_eur": pytest.approx(0.19, abs=0.005),
        "task_hours": 24.5,
        "wakes": 60.0,
    }
    production = json.loads(golden("production-profile-json", "stdout"))
    osrm = production["scenarios"]["configured"]["services"]["osrm"]
    assert round(osrm["total_usd"], 2) == 1.70
    assert staging["warm_schedule"]["windows"] == ["Mon-Fri 08:30-09:00 Europe/Paris"]
    # The schedule's task-hours report to the waker too: 0.12 EUR, as before the beacon, to the cent.
    assert round(staging["warm_schedule"]["eur"], 2) == 0.12
    # The example without osrm: the app's own `secrets` line carries the wake secret (2.58 / 1.14 before
    # the beacon; 0.34 EUR of the difference is that secret).
    alone = json.loads(golden("staging-json", "stdout", GOLDEN / "no-services"))
    assert (round(alone["total_eur"], 2), round(alone["idle_month_eur"], 2)) == (2.99, 1.49)
    secrets = {line["key"]: line for line in alone["scenarios"]["configured"]["lines"]}["secrets"]
    assert secrets["quantity"] == 2.0
    assert secrets["basis"] == "keep-alive token + the wake secret (activity beacon)"


def test_production_pins_did_not_move() -> None:
    """The HTTP API added price keys; production's bill is the same to the cent: its configured and always-on
    scenarios have no HTTP API line and no new figure, and it has no idle month (it never sleeps)."""
    data = json.loads(golden("production-profile-json", "stdout"))
    for scenario in data["scenarios"].values():
        keys = {line["key"] for line in scenario["lines"]}
        assert not keys & {"api_requests", "vpc_link", "route53_zone", "cloud_map_instances"}
    assert "idle_month" not in data
    assert data["environment"]["front_door"] == "cloudfront"
