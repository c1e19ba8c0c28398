"""`warmkeeper synth`: bad arguments are refused before anything is synthesized or written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_CONFIG, run_cli

pytestmark = pytest.mark.infra


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--env", "local"], "--env local: the local environment has no AWS stack"),
        (
            ["--env", "staging", "--image-tag", "release 1"],
            "--image-tag: 'release 1' is not a valid image tag",
        ),
    ],
)
def test_synth_refuses_bad_arguments(arguments: list[str], message: str, tmp_path: Path) -> None:
    output = tmp_path / "cdk.out"
    result = run_cli(["synth", "--config", str(EXAMPLE_CONFIG), "--output", str(output), *arguments])
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not output.exists()
