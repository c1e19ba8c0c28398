"""Shared fixtures: the example config and helpers to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

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
