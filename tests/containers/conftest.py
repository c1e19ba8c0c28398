"""The three CityGuided images, built once per session by the real `warmkeeper images --local`.

These tests need Podman (`make podman`, which `make test` runs, installs it on Debian); without it
they fail and say so, rather than being skipped and hiding that the images were never built.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.support import EXAMPLE_CONFIG, run_cli

BUILD_TIMEOUT_SECONDS = 1500


@pytest.fixture(scope="session")
def built_images() -> str:
    """`warmkeeper images --env local --local`'s output (it also records cdk.out/images-local)."""
    if shutil.which("podman") is None and shutil.which("docker") is None:
        pytest.fail("no container engine: run `make podman` (make test does) to install Podman")
    result = run_cli(
        "images", "--env", "local", "--local", "--config", str(EXAMPLE_CONFIG), timeout=BUILD_TIMEOUT_SECONDS
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="session")
def example_dir() -> Path:
    return EXAMPLE_CONFIG.parent
