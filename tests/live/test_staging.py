"""Against a real staging deployment; skipped without AWS credentials (no account builds this project).

Run by someone with an account: `make smoke ENV=staging` (the same check, from the CLI), or
`pytest -m aws_live tests/live/test_staging.py`.
"""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLE_CONFIG, run_cli
from warmkeeper.aws.clients import has_credentials

pytestmark = [
    pytest.mark.aws_live,
    pytest.mark.skipif(
        not has_credentials(), reason="no AWS credentials: the live smoke test needs an account"
    ),
]


def test_staging_smoke_passes_and_reports_a_measured_cold_start() -> None:
    result = run_cli(["smoke", "--config", str(EXAMPLE_CONFIG), "--env", "staging"], timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cold start" in result.stdout and "measured" in result.stdout
