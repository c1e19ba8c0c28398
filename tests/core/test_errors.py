"""One error model: every exception class of warmkeeper derives from WarmkeeperError, whose exit
code the CLI uses, and the exit codes are the documented ones."""

from __future__ import annotations

import ast
import builtins
import re

from tests.conftest import ROOT
from warmkeeper.cli import describe_error
from warmkeeper.config import ConfigError
from warmkeeper.core.errors import ExitCode, UserError, WarmkeeperError

SRC = ROOT / "src" / "warmkeeper"


def _class_bases() -> dict[str, list[str]]:
    """Every class defined under src/warmkeeper, by name, with the names of its bases."""
    classes: dict[str, list[str]] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                names = [b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases]
                classes[f"{path.relative_to(SRC)}:{node.name}"] = names
    return classes


def _is_builtin_exception(name: str) -> bool:
    value = getattr(builtins, name, None)
    return isinstance(value, type) and issubclass(value, BaseException)


def test_every_exception_class_derives_from_the_one_base() -> None:
    classes = _class_bases()
    by_name: dict[str, list[str]] = {}
    for key, bases in classes.items():
        by_name.setdefault(key.split(":")[1], []).extend(bases)

    def ancestors(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        found = {name}
        for base in by_name.get(name, []):
            if base not in seen:
                found |= ancestors(base, seen | {name})
        return found

    exceptions = {
        key
        for key in classes
        if any(_is_builtin_exception(a) for a in ancestors(key.split(":")[1]))
        and not key.endswith(":WarmkeeperError")
    }
    assert len(exceptions) >= 17  # the walk finds them (ConfigError, ControlError, PreflightError...)
    outside = sorted(key for key in exceptions if "WarmkeeperError" not in ancestors(key.split(":")[1]))
    assert outside == []


def test_exit_codes_keep_their_numbers() -> None:
    # Scripts and CI read these: they must not change.
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "FAILED": 1,
        "USAGE": 2,
        "TIMED_OUT": 3,
        "INTERRUPTED": 130,
    }


def test_an_error_carries_its_exit_code_and_one_raise_may_override_it() -> None:
    assert describe_error(ConfigError("warmkeeper.toml", "app.name", "required key is missing")) == (
        "warmkeeper.toml: app.name: required key is missing",
        ExitCode.USAGE,
    )
    assert describe_error(UserError("--minutes: must be >= 1")) == ("--minutes: must be >= 1", ExitCode.USAGE)
    timed_out = WarmkeeperError("cdk deploy did not finish", exit_code=ExitCode.TIMED_OUT)
    assert describe_error(timed_out) == ("cdk deploy did not finish", ExitCode.TIMED_OUT)
    assert describe_error(RuntimeError("a bug")) is None  # a bug keeps its traceback


def test_botocore_credential_errors_are_mapped_in_the_one_place() -> None:
    from botocore.exceptions import NoCredentialsError, NoRegionError

    message, code = describe_error(NoCredentialsError()) or ("", None)
    assert code == ExitCode.USAGE and message.startswith("no AWS credentials found")
    assert describe_error(NoRegionError()) == (
        "no AWS region: set region in the config's environment",
        ExitCode.USAGE,
    )


def test_the_interfaces_doc_has_the_exit_code_table() -> None:
    text = (ROOT / "docs" / "technical" / "interfaces.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (\d+) \| `(\w+)` \|", text, flags=re.MULTILINE))
    assert rows == {str(int(code)): code.name for code in ExitCode}
