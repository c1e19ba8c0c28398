"""Ctrl-C (SIGINT) on `warmkeeper up` with a warm task: every child stops, every port is released."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.e2e.support import API_HEADERS, EXAMPLE_CONFIG, TwinProcess

pytestmark = pytest.mark.e2e


def test_ctrl_c_leaves_no_process_and_no_bound_port(tmp_path: Path) -> None:
    twin = TwinProcess(EXAMPLE_CONFIG, idle=60, log_dir=tmp_path)
    try:
        response = twin.client.get("/api/places", headers=API_HEADERS, follow_redirects=True)
        assert response.status_code == 200
        details = twin.details()
        assert details["tasks"] and details["tasks"][0]["phase"] == "healthy"
        state_file = EXAMPLE_CONFIG.parent / ".warmkeeper" / f"twin-{twin.port}.json"
        assert state_file.exists() and state_file.stat().st_mode & 0o777 == 0o600
        # What Ctrl-C in the terminal does: SIGINT to the foreground process (the twin alone).
        twin.process.send_signal(signal.SIGINT)
        assert twin.process.wait(60) == 0
    finally:
        twin.stop()
    assert twin.leftovers() == [], twin.log()
    assert len(twin.seen_pids) >= 5  # the twin, Caddy, and the task's caddy, api and web
    assert not state_file.exists()
    assert "stopped; no process left running" in twin.log()


def test_twin_stops_cleanly_and_says_why_when_its_edge_dies(tmp_path: Path) -> None:
    twin = TwinProcess(EXAMPLE_CONFIG, idle=60, log_dir=tmp_path)
    try:
        assert twin.client.get("/api/health", headers=API_HEADERS, follow_redirects=True).status_code == 200
        edge_pid = twin.details()["edge"]["pid"]
        os.kill(edge_pid, signal.SIGKILL)  # the twin's own child, found by its exact pid
        assert twin.process.wait(60) == 1
    finally:
        twin.stop()
    assert "the edge (caddy) exited" in twin.log()
    assert twin.leftovers() == [], twin.log()
