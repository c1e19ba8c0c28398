"""`warmkeeper status --port`: which twin to ask when several run; refused for an AWS environment."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import EXAMPLE_CONFIG, run_cli


def test_status_port_is_for_the_local_twin_only() -> None:
    result = run_cli(["status", "--config", str(EXAMPLE_CONFIG), "--env", "staging", "--port", "8090"])
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --port: only with --env local (the twin's public port)"


def test_status_port_looks_for_the_twin_on_that_port(tmp_path: Path) -> None:
    config = tmp_path / "warmkeeper.toml"
    config.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    result = run_cli(["status", "--config", str(config), "--env", "local", "--port", "45678"])
    assert result.returncode == 2
    assert "twin-45678.json: no local twin is running" in result.stderr
    assert "Traceback" not in result.stderr
