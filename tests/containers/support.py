"""Podman from outside, as a person would look at it: images, pods and containers of an app."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from warmkeeper.images.container_cli import engine_environment
from warmkeeper.local.runtimes import LABEL_APP


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args],
        env=engine_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def app_containers(app: str = "cityguided") -> list[dict[str, Any]]:
    """Every container of `app`'s pods (running or not), the infra ones included."""
    listed = podman("ps", "--all", "--filter", f"label={LABEL_APP}={app}", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    found: list[dict[str, Any]] = json.loads(listed.stdout or "[]") or []
    return found


def app_pods(app: str = "cityguided") -> list[str]:
    listed = podman("pod", "ps", "--filter", f"label={LABEL_APP}={app}", "--format", "{{.Name}}")
    assert listed.returncode == 0, listed.stderr
    return [line for line in listed.stdout.splitlines() if line.strip()]


def build_containers() -> list[str]:
    """Working containers of image builds (buildah's), which a failed build must not leave behind."""
    listed = podman("ps", "--all", "--external", "--format", "{{.Names}} {{.Image}}")
    return [line for line in listed.stdout.splitlines() if "working-container" in line]
