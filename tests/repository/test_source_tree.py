"""The shape of the source tree that keeps it navigable: read from the files, so a change that breaks
it fails here instead of in a reviewer's head.

- A module name means one thing: no two modules of the package share a file name, and no two
  classes share a name (``control.py`` in three packages, or two ``Observation`` classes, made every
  import and every stack trace ambiguous).
- The front doors are a table (:mod:`warmkeeper.core.front_doors`): only a few files may still
  branch on which front door is in use, and the number can only go down.
- Comments explain in their own words: the repository has no issue tracker to point to.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "warmkeeper"
SOURCES = ROOT / "src"

# A front-door name compared with something, or a test of the HTTP API variant by attribute.
_DOOR_NAMES = r"(?:load_balancer|cloudfront|http_api)"
_DOOR_CONSTANTS = r"(?:FRONT_DOOR_[A-Z_]+|LOAD_BALANCER|CLOUDFRONT|HTTP_API)"
FRONT_DOOR_BRANCH = re.compile(
    rf"""(?:==|!=|\bin\b)\s*\(?\s*["']{_DOOR_NAMES}["']"""
    rf"""|["']{_DOOR_NAMES}["']\s*(?:==|!=)"""
    rf"""|(?:==|!=|\bis\b)\s*{_DOOR_CONSTANTS}\b"""
    rf"""|\b{_DOOR_CONSTANTS}\s*(?:==|!=)"""
    r"""|\bfront_door\s*(?:==|!=)"""
    r"""|\bif\b[^\n#]*\.http_api\b"""
    r"""|_api_id is (?:not )?None"""
)
MAX_FILES_BRANCHING_ON_THE_FRONT_DOOR = 8


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_name_is_used_once() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in _modules():
        if path.name not in ("__init__.py", "__main__.py"):
            by_name[path.name].append(str(path.relative_to(PACKAGE)))
    assert {name: paths for name, paths in by_name.items() if len(paths) > 1} == {}


def test_every_class_name_is_used_once() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                by_name[node.name].append(str(path.relative_to(PACKAGE)))
    assert {name: paths for name, paths in by_name.items() if len(paths) > 1} == {}


def test_the_walk_sees_the_package() -> None:
    # The checks above must be looking at the real tree (a wrong root would find nothing to compare).
    names = {path.name for path in _modules()}
    assert {"engine.py", "twin.py", "config.py", "front_doors.py"} <= names


def files_branching_on_the_front_door() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(SOURCES.rglob("*.py")):
        hits = [
            line.strip()
            for line in path.read_text(encoding="utf-8").splitlines()
            if FRONT_DOOR_BRANCH.search(line.split("#", 1)[0])
        ]
        if hits:
            found[str(path.relative_to(SOURCES))] = hits
    return found


def test_the_branch_detector_sees_a_branch() -> None:
    for line in (
        'if settings.front_door == "http_api":',
        "if self.front_door != FRONT_DOOR_HTTP_API:",
        'return self.front_door in ("cloudfront", "http_api")',
        "if self._api_id is None:",
        "if self.settings.http_api else 3.0",
    ):
        assert FRONT_DOOR_BRANCH.search(line), line
    assert not FRONT_DOOR_BRANCH.search("door = front_door(settings.front_door)")


def test_few_files_branch_on_the_front_door() -> None:
    found = files_branching_on_the_front_door()
    assert len(found) <= MAX_FILES_BRANCHING_ON_THE_FRONT_DOOR, found


def test_no_comment_points_to_an_issue_tracker() -> None:
    pointer = re.compile(r"\bissues? #?\d+\b|\bdefect \d+\b", re.IGNORECASE)
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted([*SOURCES.rglob("*.py"), *(ROOT / "tests").rglob("*.py")])
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pointer.search(line)
    ]
    assert offenders == []
