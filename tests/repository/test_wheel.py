"""The product as a user installs it: a wheel built from the checkout, in a fresh virtual environment.

The wheel must hold the product only (the simulated AWS is a test instrument beside it) and every
module in it must import with the wheel's own dependencies (the CDK app and Caddy among them), with
none of the development group installed: a module that needs a dev-only package (greenlet, moto,
pytest...) would fail here while passing every other test of the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Every module of the installed package, imported one by one; the names that fail are printed.
IMPORT_EVERYTHING = """
import importlib, pkgutil, sys, traceback
import warmkeeper
failed = []
names = ["warmkeeper"]
for info in pkgutil.walk_packages(warmkeeper.__path__, "warmkeeper."):
    if not info.name.endswith(".__main__"):  # runs the command line when imported
        names.append(info.name)
for name in names:
    try:
        importlib.import_module(name)
    except BaseException:
        failed.append(name + ": " + traceback.format_exc().strip().splitlines()[-1])
print(len(names), "modules")
for line in failed:
    print("FAILED", line)
sys.exit(1 if failed else 0)
"""


def _uv() -> str:
    """The uv that `make setup` used: the one on PATH, else the private copy in .tools/."""
    found = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    assert Path(found).exists(), "uv not found: run `make setup`"
    return found


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = _run(_uv(), "build", "--wheel", "--out-dir", str(out), str(ROOT))
    assert built.returncode == 0, built.stderr
    (found,) = out.glob("warmkeeper-*.whl")
    return found


def test_the_wheel_holds_the_product_and_not_the_simulator(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[0] for name in names if not name.startswith("warmkeeper-")}
    assert packages == {"warmkeeper"}
    assert not [name for name in names if "warmkeeper_sim" in name or name.startswith("warmkeeper/sim/")]
    # Package data the commands read at run time travels with the code.
    assert "warmkeeper/cost/tables/eu-west-3.toml" in names
    assert "warmkeeper/images/containers.conf" in names


def test_every_module_imports_from_the_wheel_without_the_dev_group(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    created = _run(_uv(), "venv", "--quiet", "--python", sys.executable, str(venv))
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    installed = _run(_uv(), "pip", "install", "--quiet", "--python", str(python), str(wheel))
    assert installed.returncode == 0, installed.stderr
    # The environment really lacks the dev group (else this test would prove nothing).
    for dev_only in ("greenlet", "moto", "pytest"):
        probe = _run(str(python), "-c", f"import {dev_only}", cwd=tmp_path)
        assert probe.returncode != 0, f"{dev_only} is installed in the fresh environment"
    # Run from an empty directory, so that nothing of the checkout is importable.
    result = _run(str(python), "-c", IMPORT_EVERYTHING, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert int(result.stdout.split()[0]) >= 90  # the walk found the package's modules
