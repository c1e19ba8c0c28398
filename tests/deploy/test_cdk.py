"""The real boundary: the CLI runs as a child process whose lines are read while it runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from warmkeeper.deploy.cdk import (
    CDK_CLI_VERSION,
    CDK_RELATIVE,
    CdkProcess,
    SubprocessCdkRunner,
    deploy_args,
    find_cdk,
)
from warmkeeper.deploy.preflight import PreflightError


def fake_cdk(folder: Path, body: str) -> Path:
    executable = folder / "node_modules" / ".bin" / "cdk"
    executable.parent.mkdir(parents=True)
    executable.write_text(f"#!/bin/sh\n{body}\n")
    executable.chmod(0o755)
    return executable


def wait_for_exit(process: CdkProcess, bound: float = 10) -> int:
    deadline = time.monotonic() + bound
    while (code := process.poll()) is None:
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.02)
    return code


def test_lines_and_exit_code_of_the_child(tmp_path: Path) -> None:
    cdk = fake_cdk(tmp_path, 'echo "args: $*"; echo "region $AWS_REGION" >&2; exit 3')
    runner = SubprocessCdkRunner(find_cdk(tmp_path / "sub" / "dir"), cwd=tmp_path, region="eu-west-3")
    assert runner.executable == cdk.resolve()

    process = runner.start(deploy_args(Path("cdk.out/deploy-staging"), "Cityguided-staging"))

    assert wait_for_exit(process) == 3
    lines = process.read_lines()
    assert lines[0].startswith(
        "args: deploy Cityguided-staging --exclusively --app cdk.out/deploy-staging --require-approval never"
    )
    assert "region eu-west-3" in lines  # stderr is read too, with the deploy's region
    assert process.read_lines() == []


def test_terminate_stops_the_child_and_its_children(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    fake_cdk(tmp_path, f"sleep 60 & echo $! > {marker}; echo started; wait")
    process = SubprocessCdkRunner(find_cdk(tmp_path), cwd=tmp_path, region="eu-west-3").start(["deploy"])
    deadline = time.monotonic() + 10
    while not marker.exists() or not marker.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.02)

    process.terminate()

    assert process.poll() is not None
    grandchild = int(marker.read_text())
    assert (
        not Path(f"/proc/{grandchild}").exists() or "zombie" in Path(f"/proc/{grandchild}/status").read_text()
    )


def test_missing_cli_is_a_clear_error_with_the_command_that_installs_it(tmp_path: Path) -> None:
    with pytest.raises(PreflightError) as missing:
        find_cdk(tmp_path, environ={}, which=lambda name: None)
    assert f"`npm install -g aws-cdk@{CDK_CLI_VERSION}`" in str(missing.value)
    assert "run `make setup`" in str(missing.value)


def test_the_cli_is_found_by_variable_then_project_then_path(tmp_path: Path) -> None:
    on_path = tmp_path / "global" / "cdk"
    on_path.parent.mkdir()
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)
    assert find_cdk(tmp_path, environ={}, which=lambda name: str(on_path)) == on_path
    project = tmp_path / "app" / CDK_RELATIVE
    project.parent.mkdir(parents=True)
    project.write_text("#!/bin/sh\n")
    project.chmod(0o755)
    assert find_cdk(tmp_path / "app", environ={}, which=lambda name: str(on_path)) == project
    chosen = {"WARMKEEPER_CDK": str(on_path)}
    assert find_cdk(tmp_path / "app", environ=chosen, which=lambda name: None) == on_path
    with pytest.raises(PreflightError, match="WARMKEEPER_CDK=/nowhere/cdk: not an executable file"):
        find_cdk(tmp_path, environ={"WARMKEEPER_CDK": "/nowhere/cdk"})


def test_the_install_command_names_the_version_package_json_pins() -> None:
    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    assert package["devDependencies"]["aws-cdk"] == CDK_CLI_VERSION
