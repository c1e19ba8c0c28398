"""The commands as a person runs them: one clear line and exit 2 on bad input, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import typer.main
from moto import mock_aws
from typer.testing import CliRunner

from tests.conftest import EXAMPLE_CONFIG, ROOT, run_cli
from tests.deploy.conftest import IMAGES_STACK, REGISTRY, Cloud
from warmkeeper.cli import app
from warmkeeper.deploy.image_push import ZSTD_OUTPUT

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, [*args, "--config", str(EXAMPLE_CONFIG)])


def one_line_error(result: Any) -> str:
    assert "Traceback" not in result.output + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never reach for 169.254.169.254
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.chdir(ROOT)  # where node_modules/.bin/cdk is


def test_aws_deploy_needs_an_image_tag() -> None:
    result = invoke("deploy", "--env", "staging")
    assert result.exit_code == 2
    assert "--image-tag is required" in one_line_error(result)


@pytest.mark.skipif(not (ROOT / "node_modules/.bin/cdk").exists(), reason="make setup installs the CDK CLI")
def test_deploy_without_credentials_stops_at_the_first_check(no_credentials: None) -> None:
    result = invoke("deploy", "--env", "staging", "--image-tag", "v2")
    assert result.exit_code == 2
    assert "no AWS credentials" in one_line_error(result)
    assert "images" not in result.output and "synthesized" not in result.output


def test_local_deploy_hands_over_to_the_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    module = types.ModuleType("warmkeeper.commands.twin_deploy_commands")

    def deploy_local(cfg: Any, settings: Any, **kwargs: Any) -> int:
        calls.append((cfg.app.name, settings.edge_port, kwargs))
        return 1  # e.g. the new version never became healthy

    module.deploy_local = deploy_local  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "warmkeeper.commands.twin_deploy_commands", module)

    result = invoke("deploy", "--env", "local", "--timeout", "90", "--image-tag", "v7")

    assert result.exit_code == 1
    assert calls == [("cityguided", 8080, {"timeout_seconds": 90.0, "image_tag": "v7", "verify": True})]


def test_an_unbounded_timeout_is_refused_in_one_line() -> None:
    result = invoke("deploy", "--env", "local", "--timeout", "inf")
    assert result.exit_code == 2
    assert "--timeout" in result.output and "Traceback" not in result.output


def test_local_dry_run_is_refused() -> None:
    result = invoke("deploy", "--env", "local", "--dry-run")
    assert result.exit_code == 2
    assert "--dry-run" in one_line_error(result)


def test_smoke_without_credentials_is_skipped(no_credentials: None) -> None:
    result = invoke("smoke", "--env", "staging")
    assert result.exit_code == 0
    assert result.output.startswith("skipped: no AWS credentials")


@pytest.mark.parametrize("images_stack", [True, False], ids=["images stack deployed", "new environment"])
def test_images_print_shows_the_exact_commands(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, images_stack: bool
) -> None:
    monkeypatch.setattr("warmkeeper.deploy.image_push.platform.machine", lambda: "x86_64")
    monkeypatch.chdir(ROOT)  # where node_modules/.bin/cdk is
    with mock_aws():
        Cloud(desired=None, images_stack=images_stack)
        result = invoke("images", "--env", "staging", "--tag", "0123abc", "--print")
        stacks = Cloud.stack_names()
    assert result.exit_code == 0, result.output + result.stderr
    example = EXAMPLE_CONFIG.parent.resolve()
    expected = [
        f"node_modules/.bin/cdk deploy {IMAGES_STACK} --exclusively --app cdk.out/images-staging "
        "--require-approval never --progress events --ci --no-color --no-notices",
        "docker run --privileged --rm tonistiigi/binfmt:latest --install arm64",
        f"<ECR token> | docker login --username AWS --password-stdin {REGISTRY}",
    ]
    # The app's images for arm64 (emulated on this x86_64 host), the osrm service's for its x86_64.
    for name, platform in (("caddy", "arm64"), ("api", "arm64"), ("web", "arm64"), ("osrm", "amd64")):
        expected.append(
            f"docker buildx build --platform linux/{platform} --provenance=false "
            f"--file {example / name / 'Dockerfile'} --tag {REGISTRY}/cityguided-staging/{name}:0123abc "
            f"--label org.opencontainers.image.revision=0123abc --output {ZSTD_OUTPUT} {example / name}"
        )
    assert result.stdout.splitlines() == expected
    # Printing changes nothing: a new environment still has no stack.
    assert stacks == ([IMAGES_STACK] if images_stack else [])


def test_images_without_credentials_stop_at_the_first_check(no_credentials: None) -> None:
    result = invoke("images", "--env", "staging", "--tag", "0123abc")
    assert result.exit_code == 2
    assert "no AWS credentials" in one_line_error(result)


def test_starting_the_cli_loads_neither_boto3_nor_the_cdk() -> None:
    """Every command (`warmkeeper up`, `validate`...) pays for importing the CLI: the AWS SDK and jsii
    load inside the commands that use them, not when the command line starts."""
    check = (
        "import json, sys\n"
        "import warmkeeper.cli\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(result.stdout))
    assert "warmkeeper" in loaded and "typer" in loaded  # the check sees what the CLI imported
    assert loaded & {"boto3", "botocore", "aws_cdk", "jsii", "cdk_nag"} == set()


# Every command that reaches AWS, with the arguments it needs to get that far; the others never do.
AWS_COMMANDS: dict[str, list[str]] = {
    "status": ["status"],
    "wake": ["wake"],
    "sleep": ["sleep"],
    "keepalive": ["keepalive"],
    "keepalive --webhook": ["keepalive", "--webhook"],
    "images": ["images", "--tag", "0123abc"],
    "deploy": ["deploy", "--image-tag", "v2"],
    "rollback": ["rollback"],
    "destroy": ["destroy"],
}
LOCAL_COMMANDS = {"init", "validate", "synth", "schema", "cost", "up"}  # no AWS call: no credentials needed
SKIPPED_WITHOUT_CREDENTIALS = {"smoke"}  # documented: CI without an account stays green


def test_every_command_is_classified_by_its_need_for_aws() -> None:
    """A new command must be added to the no-credentials test below, or said to need no AWS."""
    registered = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    aws = {args[0] for args in AWS_COMMANDS.values()}
    assert registered == aws | LOCAL_COMMANDS | SKIPPED_WITHOUT_CREDENTIALS


@pytest.mark.skipif(not (ROOT / "node_modules/.bin/cdk").exists(), reason="make setup installs the CDK CLI")
@pytest.mark.parametrize("args", list(AWS_COMMANDS.values()), ids=list(AWS_COMMANDS))
def test_every_aws_command_without_credentials_says_so_in_one_line(
    no_credentials: None, args: list[str]
) -> None:
    # A real process: what a person without a profile sees (`rollback` printed botocore's traceback).
    result = run_cli([*args, "--env", "staging", "--config", str(EXAMPLE_CONFIG)], timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: no AWS credentials found: set AWS_PROFILE")


def test_smoke_without_credentials_is_a_skip_in_a_real_process(no_credentials: None) -> None:
    result = run_cli(["smoke", "--env", "staging", "--config", str(EXAMPLE_CONFIG)], timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("skipped: no AWS credentials") and result.stderr == ""
