"""Bad surroundings: a taken port for `warmkeeper up`, no running twin for the control commands."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.support import EXAMPLE_CONFIG, ROOT
from warmkeeper.config import load_config
from warmkeeper.local.twin_client import TwinControl, TwinNotRunningError

pytestmark = pytest.mark.e2e


def up(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warmkeeper", "up", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_port_already_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = up("--config", str(EXAMPLE_CONFIG), "--port", str(port))
    assert result.returncode == 2
    assert f"port {port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (EXAMPLE_CONFIG.parent / ".warmkeeper" / f"twin-{port}.json").exists()


def test_control_without_a_running_twin_says_how_to_start_one(tmp_path: Path) -> None:
    config = tmp_path / "warmkeeper.toml"
    config.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    cfg = load_config(config)
    control = TwinControl(cfg, cfg.environment("local"))
    with pytest.raises(TwinNotRunningError, match=r"no local twin is running .*`warmkeeper up --config"):
        control.status()
    # A state file left by a twin that was killed (its pid is gone) is recognised as stale.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    state = tmp_path / ".warmkeeper" / "twin-8080.json"
    state.parent.mkdir()
    state.write_text(
        json.dumps({"pid": int(dead.stdout), "url": "http://localhost:8080", "port": 8080, "token": "x"}),
        encoding="utf-8",
    )
    with pytest.raises(TwinNotRunningError, match="is not running"):
        control.wake()
