"""A new user's first minutes, as a process: `uv tool install` of the checkout, then in an empty folder
`init`, `validate`, `synth --env staging` and `cost --env staging`, with no virtual environment, no
checkout on the path and no AWS configuration. None of it may mention the reference example.

Slow (an install and one CDK synthesis, about a minute): marked `infra` like the other synthesis tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.infra


def _uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    assert Path(found).exists(), "uv not found: run `make setup`"
    return found


def _fresh_shell(tmp_path: Path) -> dict[str, str]:
    """The environment of a new shell: no venv, no checkout tools on PATH, no AWS configuration."""
    hidden = {str(ROOT / ".venv" / "bin"), str(ROOT / "node_modules" / ".bin"), str(ROOT / ".tools" / "bin")}
    path = [part for part in os.environ.get("PATH", "").split(os.pathsep) if part not in hidden]
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "VIRTUAL_ENV", "PYTHON", "JSII_", "WARMKEEPER_", "UV_"))
    }
    env["UV_TOOL_DIR"] = str(tmp_path / "tools")
    env["UV_TOOL_BIN_DIR"] = str(tmp_path / "bin")
    env["PATH"] = os.pathsep.join([str(tmp_path / "bin"), *path])
    env["AWS_CONFIG_FILE"] = str(tmp_path / "no-aws-config")
    env["COLUMNS"] = "160"
    return env


def _run(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_install_then_init_validate_synth_and_cost_from_an_empty_folder(tmp_path: Path) -> None:
    env = _fresh_shell(tmp_path)
    # The package cache `make setup` filled serves the install; the network only if the cache lacks one.
    installed = _run([_uv(), "tool", "install", "--offline", str(ROOT)], cwd=tmp_path, env=env)
    if installed.returncode != 0:
        installed = _run([_uv(), "tool", "install", str(ROOT)], cwd=tmp_path, env=env)
    assert installed.returncode == 0, installed.stderr
    command = tmp_path / "bin" / "warmkeeper"
    assert command.is_file()
    version = _run([str(command), "--version"], cwd=tmp_path, env=env)
    assert version.returncode == 0 and version.stdout.startswith("warmkeeper 0."), version.stderr

    shop = tmp_path / "shop"
    shop.mkdir()
    outputs = []
    for args in (
        ["init", "--name", "shop", "--image", "nginx:1.27", "--port", "80", "--health-path", "/"],
        ["validate"],
        ["synth", "--env", "staging"],
        ["cost", "--env", "staging"],
    ):
        result = _run([str(command), *args], cwd=shop, env=env)
        assert result.returncode == 0, f"warmkeeper {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        outputs.append(result.stdout + result.stderr)
    text = "\n".join(outputs)
    for foreign in ("cityguided", "legacy", "ec2 instance"):
        assert foreign not in text.lower(), f"{foreign!r} in the output:\n{text}"
    # No bytes printed as Python bytes (b'...'); an apostrophe after a b ("ALB's") is fine.
    assert not re.search(r"(?<![A-Za-z])b'", text), text
    # The region was nowhere: init says which it wrote, and validate shows it.
    assert "region us-east-1: no --region and no AWS configuration region" in outputs[0]
    assert "staging    us-east-1  front door cloudfront" in outputs[1]
    # The template runs the image asked for, and the waker's bundle (package data) is beside it.
    template = json.loads((shop / "cdk.out" / "Shop-staging.template.json").read_text())
    images = [
        container["Image"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ECS::TaskDefinition"
        for container in resource["Properties"]["ContainerDefinitions"]
    ]
    assert images == ["nginx:1.27"]
    bundles = list((shop / "cdk.out").glob("asset.*/warmkeeper/aws/lambda_handler.py"))
    assert len(bundles) == 1
    assert "line (USD/month)" in outputs[3] and "scale to zero" in outputs[3]
    # Nothing outside the empty folder was needed: it holds what the commands wrote, no more.
    assert sorted(path.name for path in shop.iterdir()) == ["cdk.out", "warmkeeper.toml"]
