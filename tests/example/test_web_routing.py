"""The page's routing form in a real browser (headless Chromium), behind the example's Caddy.

The API talks to a fake OSRM that answers the first call as a sleeping service's waker does (503,
Retry-After: 1) and then with a real route from the local OSRM stand-in: the page must say that
routing is warming up, ask again by itself after that second, and show the route.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.example.support import FakeOsrm, Running, start_api, start_caddy
from warmkeeper.local.loopback import free_port

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


@pytest.fixture
def site(osrm: Running, fake_osrm: FakeOsrm, web: Running) -> Iterator[Running]:
    # The page's first two places (its default choice) are the Eiffel Tower and the Louvre.
    real = httpx.get(
        f"http://127.0.0.1:{osrm.port}/route/v1/driving/2.294481,48.85837;2.337644,48.860611",
        params={"overview": "full", "geometries": "geojson"},
        trust_env=False,
    )
    assert real.status_code == 200
    fake_osrm.mode, fake_osrm.ok_body, fake_osrm.cold_answers, fake_osrm.retry_after = (
        "ok",
        real.content,
        1,
        "1",
    )
    api = start_api(free_port(), env={"OSRM_URL": f"http://127.0.0.1:{fake_osrm.server_address[1]}"})
    api.wait_ready("/api/health")
    caddy = start_caddy(free_port(), api.port, web.port)
    try:
        caddy.wait_ready("/healthz")
        yield caddy
    finally:
        caddy.stop()
        api.stop()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent: install Debian's chromium")
def test_the_page_says_warming_up_then_shows_the_route(site: Running, fake_osrm: FakeOsrm) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{site.port}/", wait_until="domcontentloaded")
            page.wait_for_selector("li.place", timeout=30_000)
            assert page.locator("#route-from option").count() == page.locator("li.place").count()
            page.click("#route-form button[type=submit]")
            result = page.locator("#route-result")
            expect(result).to_have_text("Routing is warming up, retry in 1 s…", timeout=10_000)
            # No click: the page asks again after the second it was told.
            expect(result).to_contain_text(" km, about ", timeout=10_000)
            assert "min by car" in result.inner_text()
        finally:
            browser.close()
    assert fake_osrm.requests == 2
