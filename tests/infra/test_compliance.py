"""cfn-lint and cdk-nag (AwsSolutions) on every synthesized template: service and images stacks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.support import SynthesizedEnv

pytestmark = pytest.mark.infra

# A reason shorter than this cannot say what the finding is about, why it is acceptable and what
# compensates for it.
MIN_REASON_LENGTH = 120


def test_cfn_lint_finds_no_error(any_stack: SynthesizedEnv) -> None:
    from cfnlint.api import lint

    matches = lint(any_stack.template_path.read_text(encoding="utf-8"), regions=[any_stack.settings.region])
    errors = [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id.startswith("E")]
    assert errors == []
    # Warnings other than W3005 (a DependsOn that a reference already implies, CDK's doing) are news.
    warnings = {m.rule.id for m in matches if m.rule.id.startswith("W")}
    assert warnings <= {"W3005"}


def test_cdk_nag_reports_nothing_unsuppressed(any_stack: SynthesizedEnv) -> None:
    from aws_cdk.assertions import Annotations, Match

    annotations = Annotations.from_stack(any_stack.stack)
    findings = Match.string_like_regexp("AwsSolutions-.*")
    errors = [f"{m.id}: {m.entry.data}" for m in annotations.find_error("*", findings)]
    warnings = [f"{m.id}: {m.entry.data}" for m in annotations.find_warning("*", findings)]
    assert errors == []
    assert warnings == []


def _suppressions(synth: SynthesizedEnv) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for logical_id, resource in synth.raw["Resources"].items():
        for entry in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            found.append((logical_id, entry))
    return found


def test_every_suppression_explains_itself(any_stack: SynthesizedEnv) -> None:
    suppressions = _suppressions(any_stack)
    suppressed_rules = {entry["id"] for _, entry in suppressions}
    # The findings this app accepts, no more: a new one needs a reason and a look from a reviewer.
    assert suppressed_rules <= {
        "AwsSolutions-EC23",
        "AwsSolutions-ELB2",
        "AwsSolutions-ECS2",
        "AwsSolutions-IAM5",
        "AwsSolutions-SMG4",
        "AwsSolutions-L1",
        # The CloudFront front door: no geo restriction, no WAF, no access logs, the default certificate.
        "AwsSolutions-CFR1",
        "AwsSolutions-CFR2",
        "AwsSolutions-CFR3",
        "AwsSolutions-CFR4",
        # The HTTP API front door: the public site's routes have no API Gateway authorizer.
        "AwsSolutions-APIG4",
    }
    for logical_id, entry in suppressions:
        assert len(entry["reason"]) >= MIN_REASON_LENGTH, f"{logical_id} {entry['id']}: {entry['reason']}"
    # A wildcard is accepted finding by finding, never for a whole resource.
    for logical_id, entry in suppressions:
        if entry["id"] == "AwsSolutions-IAM5":
            assert entry.get("applies_to"), f"{logical_id}: IAM5 suppressed without applies_to"
