"""The waiting page's own script, run by Node.js (the project's Node 20) against stubs of the
browser: it polls after the status document's ``poll_after_seconds`` and, once routed, reloads after
a spread delay (a herd's pages must neither poll every 2 s through a long cold start nor
reload in the same instant)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from warmkeeper.core.machine import State
from warmkeeper.core.pages import RELOAD_AFTER_SECONDS, RELOAD_SPREAD_SECONDS, waiting_page

HARNESS = """
const timers = [];
globalThis.setTimeout = (fn, ms) => { timers.push([fn, ms]); };
globalThis.setInterval = () => 0;
const element = { textContent: "", setAttribute() {} };
globalThis.document = { getElementById: () => element };
let reloaded = false;
globalThis.window = { location: { reload() { reloaded = true; } } };
const statuses = STATUSES;
let next = 0;
globalThis.fetch = async () => ({ json: async () => statuses[next++] });
SCRIPT
(async () => {
  const delays = [];
  while (timers.length && delays.length < 20 && !reloaded) {
    const [fn, ms] = timers.shift();
    delays.push(ms);
    fn();
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  }
  console.log(JSON.stringify({ delays, reloaded }));
})();
"""


def run_page(statuses: list[dict[str, object]]) -> dict[str, object]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the README's set-up installs Node.js 20)")
    page = waiting_page("cityguided", State.WAKING, 3.0, 10).body
    match = re.search(r"<script>(.*?)</script>", page, re.S)
    assert match is not None
    program = HARNESS.replace("STATUSES", json.dumps(statuses)).replace("SCRIPT", match.group(1))
    done = subprocess.run([node, "-e", program], capture_output=True, text=True, timeout=30, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_page_polls_after_what_the_status_says_then_reloads_with_a_spread() -> None:
    waking = {"state": "WAKING", "routing": "waker", "healthy": 0, "problems": []}
    statuses = [
        {**waking, "poll_after_seconds": 8.0},
        {**waking, "poll_after_seconds": 2.5},
        {"state": "WARM", "routing": "service", "healthy": 1, "problems": [], "poll_after_seconds": 2.0},
    ]
    result = run_page(statuses)
    delays = result["delays"]
    assert isinstance(delays, list) and len(delays) == 4
    assert delays[:3] == [1000, 8000, 2500]  # first poll after 1 s, then as the status says
    low, high = RELOAD_AFTER_SECONDS * 1000, (RELOAD_AFTER_SECONDS + RELOAD_SPREAD_SECONDS) * 1000
    assert low <= delays[3] <= high
    assert result["reloaded"] is True


def test_a_status_without_the_field_keeps_the_two_second_poll() -> None:
    result = run_page([{"state": "WAKING", "routing": "waker", "healthy": 0, "problems": []}] * 2)
    assert result["delays"][:3] == [1000, 2000, 2000]  # type: ignore[index]
