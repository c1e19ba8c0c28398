"""Bad input to `warmkeeper images --local`: one clear line naming the image and the step, a
non-zero exit, and nothing left running."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.containers.support import build_containers
from tests.e2e.support import EXAMPLE_CONFIG, ROOT

pytestmark = pytest.mark.containers


def _app(folder: Path, dockerfile: str) -> Path:
    """A one-container app whose image is built from `dockerfile`."""
    (folder / "svc").mkdir()
    (folder / "svc" / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    config = folder / "warmkeeper.toml"
    config.write_text(
        '[app]\nname = "brokenapp"\n\n[[containers]]\nname = "svc"\nbuild = "svc"\nport = 8080\n'
        'entry = true\n[containers.health]\npath = "/"\n[containers.local]\ncommand = ["true"]\n\n'
        '[defaults]\nregion = "eu-west-3"\n\n[environments.staging]\nfront_door = "cloudfront"\n',
        encoding="utf-8",
    )
    return config


def _images(config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "warmkeeper",
            "images",
            "--env",
            "staging",
            "--local",
            "--config",
            str(config),
        ],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )


def _error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    return lines


def test_a_dockerfile_that_fails_names_the_image_and_the_step(tmp_path: Path) -> None:
    config = _app(tmp_path, 'FROM scratch\nCOPY Dockerfile /Dockerfile\nRUN ["/no-such-tool", "--build"]\n')
    before = build_containers()
    result = _images(config)
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = _error_lines(result)
    assert "image svc: build failed at step 3/3" in line and "/no-such-tool" in line, line
    assert build_containers() == before


def test_a_base_that_cannot_be_found_names_the_image_and_the_base(tmp_path: Path) -> None:
    config = _app(tmp_path, 'ARG BASE=warmkeeper-test/no-such-base:1\nFROM ${BASE}\nCMD ["true"]\n')
    result = _images(config)
    assert result.returncode == 1
    (line,) = _error_lines(result)
    assert line.startswith("error: image svc: step base image: warmkeeper-test/no-such-base:1"), line
    assert "no local substitute" in line


def test_a_python_base_other_than_the_local_one_is_refused_not_swapped(tmp_path: Path) -> None:
    config = _app(tmp_path, "ARG PYTHON_BASE=python:3.12-slim-bookworm\nFROM ${PYTHON_BASE}\n")
    result = _images(config)
    assert result.returncode == 1
    (line,) = _error_lines(result)
    assert "image svc: step base image: python:3.12-slim-bookworm asks for Python 3.12" in line, line
    assert "refused" in line


def test_no_engine_says_so_in_one_line(tmp_path: Path) -> None:
    # A PATH with this Python only: neither docker nor podman can be found.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": str(bin_dir)}
    result = _images(EXAMPLE_CONFIG, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = _error_lines(result)
    assert "no container engine available" in line and "make podman" in line, line
    assert shutil.which("podman", path=str(bin_dir)) is None
    assert ROOT.exists()


def test_the_containers_runtime_without_images_says_so_in_one_line(tmp_path: Path) -> None:
    config = _app(tmp_path, "FROM scratch\n")
    text = config.read_text(encoding="utf-8").replace('path = "/"', 'path = "/"\ncommand = ["CMD", "true"]')
    config.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "warmkeeper", "up", "--runtime", "containers", "--config", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = _error_lines(result)
    assert "container svc: image localhost/warmkeeper/brokenapp-svc:local is not on this machine" in line, (
        line
    )
    assert "make images-local" in line
