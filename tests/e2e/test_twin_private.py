"""A private twin (wake_allowed_from) keeps its warm app private too, over real HTTP from loopback.

The edge refuses a client outside the ranges before any route; behind it, the example's Caddy (the
entry container, as on ECS) gets the ranges and trusts the edge alone, so a local process that
bypasses the edge and talks to the entry port directly is judged by its own address, whatever
X-Forwarded-For it writes. 127.0.0.1 is the allowed client (and the edge's address), 127.0.0.2 an
outsider on the same machine.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from tests.e2e.support import BROWSER_HEADERS, TwinProcess, example_config

INSIDER = "127.0.0.1"
OUTSIDER = "127.0.0.2"


def _get(url: str, *, source: str, headers: Mapping[str, str] | None = None) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, trust_env=False, timeout=30) as client:
        return client.get(url, headers={**BROWSER_HEADERS, **(headers or {})})


@pytest.fixture
def private_twin(tmp_path: Path) -> Iterator[TwinProcess]:
    settings = cast(dict[str, Any], {"wake_allowed_from": [f"{INSIDER}/32"]})
    config = example_config(tmp_path, "1.0.0", local_settings=settings)
    twin = TwinProcess(config, idle=60, log_dir=tmp_path)
    try:
        yield twin
    finally:
        code = twin.stop()
        assert code == 0, twin.log()
        assert twin.leftovers() == [], twin.log()


def test_a_private_twin_is_private_warm_as_well_as_cold(private_twin: TwinProcess) -> None:
    twin = private_twin
    # Cold: the outsider is refused by the edge and wakes nothing, even claiming the insider's address.
    cold = _get(f"{twin.base}/", source=OUTSIDER, headers={"X-Forwarded-For": INSIDER})
    assert cold.status_code == 403
    assert twin.status().state == "COLD"
    # The insider wakes it and gets the app through the edge and the entry's check.
    _get(f"{twin.base}/", source=INSIDER)
    twin.wait_state("WARM", timeout=60)
    page = _get(f"{twin.base}/", source=INSIDER)
    assert page.status_code == 200 and 'id="places"' in page.text, page.text[:200]
    # Warm, through the edge: still refused.
    assert _get(f"{twin.base}/", source=OUTSIDER, headers={"X-Forwarded-For": INSIDER}).status_code == 403
    # Warm, around the edge, straight to the entry container's port.
    (task,) = twin.details()["tasks"]
    entry = f"http://127.0.0.1:{task['ports']['caddy']}/"
    bypass = _get(entry, source=OUTSIDER, headers={"X-Forwarded-For": INSIDER})
    assert bypass.status_code == 403 and "private" in bypass.text
    # From the trusted hop, the entry it appended last counts: an outsider the edge forwarded is refused
    # whatever the outsider wrote before it; the insider (as the edge forwards it) is let in.
    forwarded_outsider = _get(entry, source=INSIDER, headers={"X-Forwarded-For": f"{INSIDER}, {OUTSIDER}"})
    assert forwarded_outsider.status_code == 403
    assert _get(entry, source=INSIDER, headers={"X-Forwarded-For": INSIDER}).status_code == 200
    # The health check stays open to whoever asks (the load balancer's, the twin's).
    assert _get(f"{entry}healthz", source=OUTSIDER).status_code == 200
