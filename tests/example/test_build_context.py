"""The example's build contexts are allowlists: a file added beside the code (a local .env, a key)
stays out of the image unless it is named, and what each Dockerfile copies is named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "cityguided"
CONTEXTS = sorted(path.parent for path in EXAMPLE.glob("*/Dockerfile"))


def rules(context: Path) -> list[str]:
    lines = (context / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.parametrize("context", CONTEXTS, ids=lambda p: p.name)
def test_dockerignore_excludes_everything_first(context: Path) -> None:
    assert rules(context)[0] == "*"


@pytest.mark.parametrize("context", CONTEXTS, ids=lambda p: p.name)
def test_every_file_the_dockerfile_names_is_allowed(context: Path) -> None:
    allowed = {rule[1:].rstrip("/") for rule in rules(context) if rule.startswith("!")}
    dockerfile = (context / "Dockerfile").read_text(encoding="utf-8")
    for sources in re.findall(r"^COPY (?!--from)(?:--\S+ )*(.+) \S+$", dockerfile, re.MULTILINE):
        for source in sources.split():
            if source != ".":
                assert source in allowed, f"{context.name}: {source} is copied but not in .dockerignore"
    # A secret-looking file dropped beside the code is not let in by any rule.
    for stray in (".env", "id_rsa", "notes.txt"):
        assert stray not in allowed
