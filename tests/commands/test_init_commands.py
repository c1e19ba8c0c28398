"""`warmkeeper init` from flags or a Dockerfile: the file it writes validates; it never overwrites
without --force; bad input is one line, exit 2, and no file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.conftest import run_cli
from warmkeeper.config import load_config


def test_from_a_dockerfile_here(tmp_path: Path) -> None:
    app = tmp_path / "Ping-Server"
    app.mkdir()
    (app / "Dockerfile").write_text("FROM python:3.12-slim\nEXPOSE 9000\nCMD python -m http.server 9000\n")
    result = run_cli(["init", "--health-path", "/ping", "--region", "eu-north-1"], cwd=app)
    assert result.returncode == 0, result.stderr
    config = load_config(app / "warmkeeper.toml")
    (web,) = config.containers
    assert (config.app.name, web.build, web.port, web.health.path) == ("ping-server", ".", 9000, "/ping")
    assert config.environment("staging").region == "eu-north-1"
    assert config.environment_names == ["local", "staging"]  # production is a comment, not invented
    assert "from --region" in (app / "warmkeeper.toml").read_text()


def test_an_existing_file_is_kept_unless_force(tmp_path: Path) -> None:
    (tmp_path / "warmkeeper.toml").write_text("# mine\n")
    args = ["init", "--name", "shop", "--image", "nginx:1.27", "--port", "80"]
    kept = run_cli(args, cwd=tmp_path)
    assert kept.returncode == 2 and "exists: pass --force" in kept.stderr
    assert (tmp_path / "warmkeeper.toml").read_text() == "# mine\n"
    forced = run_cli([*args, "--force"], cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert tomllib.loads((tmp_path / "warmkeeper.toml").read_text())["app"]["name"] == "shop"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--image", "nginx", "--build", "."], "--image and --build: give one"),
        (["--image", "nginx"], "--port: the port the container listens on is needed"),
        ([], "nothing to describe: pass --image IMAGE or --build DIR"),
        (["--name", "Shop_1", "--image", "nginx", "--port", "80"], "would not validate: app.name"),
        (["--image", "nginx", "--port", "80", "--health-path", "ping"], "--health-path: 'ping' must start"),
        (["--image", "nginx", "--port", "80", "--external", "db=x"], "--entry and --external go with --from"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli(["init", *args], cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []
