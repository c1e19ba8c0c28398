"""A real browser (headless Chromium) on a cold twin: the waiting page, then the places, no click."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.support import TwinProcess

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is absent: install Debian's chromium package"
)
def test_browser_sees_the_waiting_page_then_the_places(cold_twin: TwinProcess) -> None:
    from playwright.sync_api import sync_playwright

    started_before = cold_twin.details()["tasks_started"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            documents: list[int] = []
            page.on(
                "response",
                lambda r: documents.append(r.status) if r.request.resource_type == "document" else None,
            )
            first = page.goto(f"{cold_twin.base}/", wait_until="domcontentloaded")
            assert first is not None and first.status == 503
            assert "waking up" in page.title()
            assert page.locator("#wk-phase").is_visible()
            # No click, no navigation from the test: the page reloads itself once the app is warm.
            page.wait_for_selector("li.place", timeout=60_000)
            names = page.locator("li.place h2").all_inner_texts()
            assert "Eiffel Tower" in names and len(names) >= 5
            assert page.title() == "CityGuided"
            assert documents[0] == 503 and documents[-1] == 200
        finally:
            browser.close()
    assert cold_twin.details()["tasks_started"] == started_before + 1
