"""Shared fixtures: the example config and helpers to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DIR = ROOT / "examples" / "cityguided"
EXAMPLE_CONFIG = EXAMPLE_DIR / "warmkeeper.toml"

# jsii prints a Node end-of-life banner on every CDK import without this.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def example_config_path() -> Path:
    return EXAMPLE_CONFIG


def run_cli(
    args: Sequence[str], cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `warmkeeper ARGS` as a real process, as a person or CI would."""
    return subprocess.run(
        [sys.executable, "-m", "warmkeeper", *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# Hypothesis' default 200 ms deadline measures the machine, not the code: on two loaded cores a
# correct example can take longer. Properties are checked; speed is for bench/.
settings.register_profile("warmkeeper", deadline=None, print_blob=True)
settings.load_profile("warmkeeper")

# In CI a test skipped because a tool is missing (Chromium, actionlint, the CDK CLI, uv) would hide a
# broken install step behind a green run: there, only the tests that need a real AWS account may skip.
_UNEXPECTED_SKIPS: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # An expected failure (xfail) is reported as skipped too: it ran, so it is not a missing tool.
    if report.skipped and "aws_live" not in report.keywords and not hasattr(report, "wasxfail"):
        _UNEXPECTED_SKIPS.append(f"{report.nodeid}: {report.longrepr}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") and _UNEXPECTED_SKIPS and exitstatus == 0:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("CI: skipped tests that CI must run (is a tool missing?):", red=True)
            for line in _UNEXPECTED_SKIPS:
                reporter.write_line(f"  {line}", red=True)
        session.exitstatus = 1


# A config without a region takes the AWS configuration's. The tests see one machine-independent AWS
# configuration: this region, and no ~/.aws/config (a test of the missing region deletes the variable).
TEST_AWS_REGION = "eu-west-3"


@pytest.fixture(autouse=True)
def _aws_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    if "AWS_REGION" not in os.environ and "AWS_DEFAULT_REGION" not in os.environ:
        monkeypatch.setenv("AWS_REGION", TEST_AWS_REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path_factory.getbasetemp() / "no-aws-config"))
