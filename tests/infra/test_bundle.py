"""The Lambda bundle's file list, computed from the imports (infra/bundle.py), on a package made up here
and on the real handler; the synthesized asset itself is checked in tests/infra/test_waker_function.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from warmkeeper.infra.bundle import bundle_files, exclude_patterns, import_closure

SOURCES = {
    "pkg/__init__.py": "",
    "pkg/entry.py": (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import json\n"
        "from pkg.sub import helper\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n"
        "    from pkg import typing_only\n"
        "else:\n"
        "    import pkg.runtime_else\n"
        "def late() -> None:\n"
        "    from pkg.deep.leaf import VALUE\n"
    ),
    "pkg/sibling.py": "from .sub.helper import NAME\n",
    "pkg/sub/__init__.py": "",
    "pkg/sub/helper.py": "import boto3\nNAME = 1\n",
    "pkg/deep/__init__.py": "",
    "pkg/deep/leaf.py": "VALUE = 2\n",
    "pkg/typing_only.py": "import pkg.never\n",
    "pkg/never.py": "",
    "pkg/runtime_else.py": "",
    "pkg/unused.py": "",
}


def make_package(root: Path) -> None:
    for name, text in SOURCES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_closure_follows_runtime_imports_only(tmp_path: Path) -> None:
    make_package(tmp_path)
    closure = import_closure(tmp_path, "pkg.entry", package="pkg")
    assert sorted(closure) == [
        "pkg",
        "pkg.deep",
        "pkg.deep.leaf",  # imported inside a function: it may run in the Lambda
        "pkg.entry",
        "pkg.runtime_else",  # the else branch of `if TYPE_CHECKING:` runs
        "pkg.sibling",  # relative import
        "pkg.sub",
        "pkg.sub.helper",
    ]
    assert closure["pkg.sub"] == tmp_path / "pkg/sub/__init__.py"


def test_exclude_patterns_let_in_each_folder_then_each_file() -> None:
    patterns = exclude_patterns(["w/__init__.py", "w/a/x.py", "w/a/b/y.py"])
    assert patterns == [
        "*",
        "!w",
        "w/*",
        "!w/a",
        "w/a/*",
        "!w/a/b",
        "w/a/b/*",
        "!w/__init__.py",
        "!w/a/x.py",
        "!w/a/b/y.py",
    ]


def test_real_handler_bundle_is_what_importing_it_loads() -> None:
    import warmkeeper

    root = Path(warmkeeper.__file__).resolve().parent.parent
    files = bundle_files(root, "warmkeeper.aws.lambda_handler")
    check = (
        "import json, sys, warmkeeper.aws.lambda_handler\n"
        "print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items()"
        " if n.split('.')[0] == 'warmkeeper')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = {Path(name).resolve().relative_to(root).as_posix() for name in json.loads(proc.stdout)}
    assert loaded <= set(files)
    assert not [name for name in files if name.startswith(("warmkeeper/cost/", "warmkeeper/commands/"))]
    assert "warmkeeper/config.py" not in files and "warmkeeper/cli.py" not in files
