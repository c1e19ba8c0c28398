#!/usr/bin/env python3
"""Fail when a lock file is out of date with its manifest (a pre-commit hook; also run by the tests).

- uv.lock vs pyproject.toml: `uv lock --check --offline` (uv decides; offline, so the hook works
  without a network: a change it cannot confirm from the local cache also fails).
- package-lock.json vs package.json: the root package's dependency lists in the lock
  (`packages[""]`) must equal the manifest's, and each must be locked (`node_modules/<name>`).
  This is what `npm ci` refuses at install time, caught before the commit instead.

Usage: scripts/check_lockfiles.py [--root DIR]. Exit 0 when both are current, 1 otherwise (one line
per problem, naming the file and the fix).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

DEPENDENCY_FIELDS = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies")


def find_uv(root: Path) -> str | None:
    """uv on PATH, else the private copy the Makefile installs into .tools/."""
    for candidate in (shutil.which("uv"), root / ".tools" / "bin" / "uv", root / ".venv" / "bin" / "uv"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return None


def check_uv_lock(root: Path) -> list[str]:
    if not (root / "pyproject.toml").is_file():
        return []
    if not (root / "uv.lock").is_file():
        return ["uv.lock is missing: run `uv lock` and commit it"]
    uv = find_uv(root)
    if uv is None:
        return ["uv not found (on PATH or .tools/bin/uv): run `make setup` first"]
    result = subprocess.run(
        [uv, "lock", "--check", "--offline"], cwd=root, capture_output=True, text=True, check=False
    )
    if result.returncode == 0:
        return []
    lines = result.stderr.strip().splitlines()
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error:")]
    detail = errors[0] if errors else (lines[-1] if lines else f"exit code {result.returncode}")
    return [f"uv.lock is out of date with pyproject.toml ({detail}): run `uv lock` and commit uv.lock"]


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def check_package_lock(root: Path) -> list[str]:
    manifest_file, lock_file = root / "package.json", root / "package-lock.json"
    if not manifest_file.is_file():
        return []
    if not lock_file.is_file():
        return ["package-lock.json is missing: run `npm install` and commit it"]
    try:
        manifest, lock = _load(manifest_file), _load(lock_file)
    except json.JSONDecodeError as exc:
        return [f"package.json or package-lock.json is not valid JSON: {exc}"]
    packages = lock.get("packages")
    if not isinstance(packages, dict) or "" not in packages:
        return ['package-lock.json has no packages[""] (lockfileVersion >= 2): regenerate it with npm >= 7']
    locked_root = packages[""]
    problems: list[str] = []
    for field in DEPENDENCY_FIELDS:
        wanted: dict[str, str] = manifest.get(field, {})
        locked: dict[str, str] = locked_root.get(field, {})
        for name in sorted(wanted.keys() | locked.keys()):
            if name not in locked:
                problems.append(
                    f"{field}.{name} {wanted[name]} is in package.json but not in package-lock.json"
                )
            elif name not in wanted:
                problems.append(f"{field}.{name} is in package-lock.json but no longer in package.json")
            elif wanted[name] != locked[name]:
                problems.append(
                    f"{field}.{name} is {wanted[name]} in package.json "
                    f"but {locked[name]} in package-lock.json"
                )
            elif f"node_modules/{name}" not in packages:
                problems.append(f"{field}.{name} has no locked version (node_modules/{name})")
    return [f"package-lock.json is out of date: {p}: run `npm install` and commit it" for p in problems]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args(argv)
    problems = check_uv_lock(args.root) + check_package_lock(args.root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("lock files are up to date (uv.lock, package-lock.json)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
