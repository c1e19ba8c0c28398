"""checkov's skips: declared on the resources they are about, each with its reason, and every reason
in docs/technical/security.md. `make scan` runs checkov itself; these tests keep the declarations and
the documentation in step without it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.infra.support import SynthesizedEnv
from warmkeeper.infra.scan_skips import REASONS

pytestmark = pytest.mark.infra

SECURITY_DOC = ROOT / "docs" / "technical" / "security.md"
DOCKERFILES = sorted((ROOT / "examples" / "cityguided").glob("*/Dockerfile"))
# `# checkov:skip=ID: reason`, the reason going on over the comment lines that follow.
_DOCKER_SKIP = re.compile(r"^# checkov:skip=(CKV_[A-Z0-9_]+): (.*(?:\n# (?!checkov:).*)*)", re.MULTILINE)


def _flat(text: str) -> str:
    return " ".join(text.replace("\n# ", " ").split())


def _doc() -> str:
    return " ".join(SECURITY_DOC.read_text(encoding="utf-8").split())


def test_every_skip_in_the_templates_carries_its_documented_reason(any_stack: SynthesizedEnv) -> None:
    doc = _doc()
    for logical_id, resource in any_stack.raw["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["comment"] == REASONS[skip["id"]], logical_id
            assert skip["id"] in doc and _flat(skip["comment"]) in doc, f"{skip['id']} not in {SECURITY_DOC}"


def test_the_http_api_environment_declares_its_skips_too(http_api_staging: SynthesizedEnv) -> None:
    skipped = {
        skip["id"]
        for resource in http_api_staging.raw["Resources"].values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }
    assert {"CKV_AWS_158", "CKV_AWS_116", "CKV_AWS_117"} <= skipped


def test_no_reason_is_left_undocumented_or_unused() -> None:
    doc = _doc()
    for check, reason in REASONS.items():
        assert check in doc and _flat(reason) in doc, check


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_skips_have_reasons_in_the_security_doc(dockerfile: Path) -> None:
    skips = _DOCKER_SKIP.findall(dockerfile.read_text(encoding="utf-8"))
    assert skips, f"{dockerfile}: no checkov skip declared (the scan found HEALTHCHECK and FROM ARG)"
    doc = _doc()
    for check, _reason in skips:
        assert check in doc, f"{check} of {dockerfile} not in {SECURITY_DOC}"
