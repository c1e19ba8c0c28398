"""The waiting page names the app by its `[app] title` when the config gives one: through the stack's
WK_TITLE on AWS, from the config in the twin."""

from __future__ import annotations

import dataclasses

from tests.aws.engine_fakes import SETTINGS, FakeAws, engine
from warmkeeper.aws.lambda_settings import Settings
from warmkeeper.core import IncomingRequest

BROWSER = IncomingRequest(
    method="GET",
    path="/",
    headers={"accept": "text/html,application/xhtml+xml", "user-agent": "Mozilla/5.0 (X11; Linux x86_64)"},
)


def test_the_title_travels_to_the_lambda_and_onto_the_waiting_page() -> None:
    titled = dataclasses.replace(SETTINGS, title="Shop & Co")
    environment = titled.to_env()
    assert environment["WK_TITLE"] == "Shop & Co"
    assert Settings.from_env(environment).title == "Shop & Co"
    assert "WK_TITLE" not in SETTINGS.to_env()  # unset: not written, the app's name is used

    keeper = engine(FakeAws())
    keeper.settings = Settings.from_env(environment)
    page = keeper.handle_request(BROWSER)
    assert page.status == 503
    assert "<title>Shop &amp; Co is waking up</title>" in page.body
    plain = engine(FakeAws()).handle_request(BROWSER)
    assert "<title>cityguided is waking up</title>" in plain.body
