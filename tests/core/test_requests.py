"""The answer to a request while cold: classification, the reply plan and the rendered pages."""

from __future__ import annotations

import json
import random
import re
import time
from datetime import UTC, datetime

import pytest

from warmkeeper.core import (
    HttpResponse,
    IncomingRequest,
    Observation,
    Policy,
    RequestKind,
    Routing,
    State,
    answer_while_cold,
    classify_request,
    decide,
    status_report,
    waiting_page,
)
from warmkeeper.core.hold import ColdView, not_ready

POLICY = Policy(hold_seconds=25, retry_after_seconds=10, ignore_user_agents=("UptimeRobot", "bot"))
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def request(method: str = "GET", path: str = "/", query: str = "", **headers: str) -> IncomingRequest:
    """A request with a browser's User-Agent unless one is given (a request with none never wakes)."""
    named = {k.replace("_", "-").lower(): v for k, v in headers.items()}
    named.setdefault("user-agent", FIREFOX)
    return IncomingRequest(method, path, query, named)


@pytest.mark.parametrize(
    ("req", "kind"),
    [
        (request(accept=BROWSER_ACCEPT, user_agent=FIREFOX), RequestKind.NAVIGATION),
        (request(Accept=BROWSER_ACCEPT), RequestKind.NAVIGATION),  # header names are case-insensitive
        (request("HEAD", accept="text/html"), RequestKind.NAVIGATION),
        (request(accept=BROWSER_ACCEPT, sec_fetch_mode="navigate"), RequestKind.NAVIGATION),
        (request(accept="*/*", sec_fetch_mode="cors"), RequestKind.API),  # fetch() from a page
        (request(accept=BROWSER_ACCEPT, sec_fetch_mode="cors"), RequestKind.API),
        (request(accept="application/json"), RequestKind.API),
        (request(accept=BROWSER_ACCEPT, x_requested_with="XMLHttpRequest"), RequestKind.API),
        (request(accept=BROWSER_ACCEPT, content_type="application/json"), RequestKind.API),
        (request("POST", accept=BROWSER_ACCEPT), RequestKind.API),  # a form post is held, then 307
        (request("GET", "/api/places"), RequestKind.API),  # curl: no Accept html
        (
            request(accept=BROWSER_ACCEPT, user_agent="Mozilla/5.0 (compatible; UptimeRobot/2.0)"),
            RequestKind.IGNORED,
        ),
        (
            request(user_agent="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            RequestKind.IGNORED,
        ),  # "bot" is a word of its URL
        (request(path="/_warmkeeper/status", user_agent="UptimeRobot"), RequestKind.STATUS),
        (request("POST", "/_warmkeeper/keepalive"), RequestKind.KEEPALIVE),
        (request(path="/_warmkeeper/other"), RequestKind.UNKNOWN_ENDPOINT),
        (request(path="/_warmkeeper"), RequestKind.UNKNOWN_ENDPOINT),
    ],
)
def test_classify(req: IncomingRequest, kind: RequestKind) -> None:
    assert classify_request(req, POLICY) is kind


def plan(  # type: ignore[no-untyped-def]
    req: IncomingRequest,
    *,
    ready: bool = False,
    failed: bool = False,
    settling: float = 0.0,
):
    return answer_while_cold(
        req,
        classify_request(req, POLICY),
        POLICY,
        app_name="cityguided",
        state=State.WAKING,
        ready=ready,
        wake_elapsed_seconds=12.4,
        wake_failed=failed,
        route_settling_seconds=settling,
    )


def test_navigation_wakes_and_gets_the_waiting_page() -> None:
    answer = plan(request(accept=BROWSER_ACCEPT))
    assert answer.wake and not answer.hold
    assert answer.response is not None
    assert answer.response.status == 503
    assert answer.response.header("retry-after") == "10"
    assert answer.response.header("content-type") == "text/html; charset=utf-8"
    assert answer.response.header("cache-control") == "no-store"
    assert '<span id="wk-elapsed">12</span>' in answer.response.body


def test_navigation_when_ready_reloads_instead_of_redirecting() -> None:
    answer = plan(request(accept=BROWSER_ACCEPT), ready=True)
    assert not answer.wake
    assert answer.response is not None
    assert '"ready": true' in answer.response.body


def test_api_call_is_held_while_not_ready() -> None:
    answer = plan(request("POST", "/api/visits"))
    assert answer.wake and answer.hold and answer.response is None


def test_api_call_gets_307_to_the_same_url_once_ready() -> None:
    answer = plan(request("POST", "/api/visits", "city=lyon&x=1"), ready=True)
    assert answer.response is not None
    assert answer.response.status == 307
    assert answer.response.header("location") == "/api/visits?city=lyon&x=1"
    assert not answer.wake


def test_api_call_is_told_when_while_a_new_warm_route_settles() -> None:
    """A 307 while the front door has not applied the new route yet comes straight back to the
    waker: a client following redirects would loop until it gives up (simulated: ~50 a client)."""
    answer = plan(request("GET", "/api/places", accept="application/json"), ready=True, settling=2.2)
    assert answer.response is not None and not answer.wake and not answer.hold
    assert answer.response.status == 503
    assert answer.response.header("retry-after") == "3"
    assert json.loads(answer.response.body)["error"] == "routing"


def test_api_call_gets_503_json_with_retry_after_after_the_hold() -> None:
    # A hold that ended without a healthy target, the wake already past its estimate: the policy's
    # retry delay, in the JSON every API client gets while the service wakes.
    view = ColdView(
        state=State.WAKING,
        ready=False,
        wake_elapsed_seconds=40.0,
        wake_failed=False,
        ready_in_seconds=0.0,
        route_settling_seconds=0.0,
    )
    response = not_ready(POLICY, view, ready_in=0.0, held_seconds=25.0)
    assert response.status == 503
    assert response.header("retry-after") == "10"
    document = json.loads(response.body)
    assert document["error"] == "waking"
    assert document["state"] == "WAKING"
    assert document["retry_after_seconds"] == 10
    assert "not ready within 25 s" in document["message"]


def test_api_call_is_not_held_when_the_wake_failed() -> None:
    answer = plan(request("GET", "/api/places"), failed=True)
    assert not answer.hold
    assert answer.response is not None
    assert answer.response.status == 503


def test_bot_gets_503_and_never_wakes() -> None:
    answer = plan(request(user_agent="UptimeRobot/2.0"))
    assert not answer.wake
    assert answer.response is not None
    assert answer.response.status == 503
    assert json.loads(answer.response.body)["error"] == "asleep"


def test_bot_is_redirected_when_ready() -> None:
    answer = plan(request(path="/x", user_agent="UptimeRobot/2.0"), ready=True)
    assert answer.response is not None
    assert answer.response.status == 307


def test_endpoints_are_not_cold_requests() -> None:
    with pytest.raises(ValueError, match="endpoints"):
        plan(request(path="/_warmkeeper/status"))


# --- the waiting page -------------------------------------------------------------------------------


def page(**kwargs: object) -> HttpResponse:
    arguments: dict[str, object] = {
        "app_name": "cityguided",
        "state": State.COLD,
        "elapsed_seconds": 3.9,
        "retry_after_seconds": 7,
    }
    arguments.update(kwargs)
    return waiting_page(**arguments)  # type: ignore[arg-type]


def test_waiting_page_is_self_contained() -> None:
    body = page().body
    # No other asset: nothing but this answer can be served while cold.
    assert not re.search(r"\b(src|href)\s*=", body)
    assert "@import" not in body
    assert "<script>" in body and "</script>" in body
    assert "fetch(cfg.statusPath" in body
    assert '"statusPath": "/_warmkeeper/status"' in body
    assert "window.location.reload()" in body
    assert '<meta http-equiv="refresh" content="7">' in body  # without JavaScript


def test_waiting_page_shows_phase_and_elapsed_seconds() -> None:
    body = page(state=State.WAKING, elapsed_seconds=42.7).body
    assert "waiting for its health checks" in body
    assert '<span id="wk-elapsed">42</span>' in body
    assert 'data-state="WAKING"' in body


def test_waiting_page_says_when_the_wake_is_slow() -> None:
    assert "taking longer than usual" in page(state=State.WAKING, wake_failed=True).body


def test_waiting_page_escapes_the_app_name() -> None:
    body = page(app_name='<script>alert("x")</script>').body
    assert "<script>alert" not in body
    assert "&lt;script&gt;" in body


def test_waiting_page_depends_on_its_inputs_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # The Lambda and the twin render it in different processes at different times: nothing but the
    # arguments may change its bytes (no clock, no random token), or the two would serve different pages.
    first = page().body
    monkeypatch.setattr(time, "time", lambda: 4_000_000_000.0)
    monkeypatch.setattr(random, "random", lambda: 0.123)
    assert page().body == first
    assert page(elapsed_seconds=12.0).body != first  # ...and the arguments do change it


def test_status_report_of_a_waking_service() -> None:
    now = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
    observation = Observation(
        1, 1, 0, Routing.WAKER, wake_requested_at=datetime(2025, 6, 2, 11, 56, tzinfo=UTC)
    )
    policy = Policy()
    report = status_report(
        app="cityguided",
        env="staging",
        observation=observation,
        decision=decide(observation, policy, now),
        policy=policy,
        now=now,
    )
    document = report.to_json_dict()
    assert document["state"] == "WAKING"
    assert document["routing"] == "waker"
    assert document["last_wake_at"] == "2025-06-02T11:56:00+00:00"
    assert document["problems"] == ["wake not healthy after 240 s (wake_timeout_seconds 180)"]


# Real User-Agents of agents that fetch a page without a person behind it: uptime checks, health probes
# and link previews. Each must be answered without waking the service under the default list.
AGENTS_THAT_MUST_NOT_WAKE = {
    "facebook link preview": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "WhatsApp link preview": "WhatsApp/2.23.20.0 A",
    "Slack link expander": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Route 53 health check": "Amazon-Route53-Health-Check-Service (ref 9a1b2c3d-1234; report http://amzn.to/1vsZADi)",
    "Google Cloud uptime check": "GoogleStackdriverMonitoring-UptimeChecks(https://cloud.google.com/monitoring)",
    "Uptime Kuma": "Uptime-Kuma/1.23.11",
    "Datadog Synthetics": "Datadog/Synthetics",
    "CloudWatch Synthetics": "CloudWatchSynthetics/arn:aws:synthetics:eu-west-3:123456789012:canary:home",
    "kube-probe": "kube-probe/1.29",
    "ALB health check": "ELB-HealthChecker/2.0",
    "UptimeRobot": "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "Googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "bingbot": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Twitter card": "Twitterbot/1.0",
    "empty User-Agent": "",
    "blank User-Agent": "   ",
}
DEFAULT_POLICY = Policy()
# A real phone whose model name holds the letters "bot" inside a word.
CUBOT_PHONE = (
    "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36"
)


@pytest.mark.parametrize("agent", AGENTS_THAT_MUST_NOT_WAKE.values(), ids=AGENTS_THAT_MUST_NOT_WAKE.keys())
def test_agents_that_are_not_visitors_never_wake(agent: str) -> None:
    req = IncomingRequest("GET", "/", "", {"user-agent": agent, "accept": BROWSER_ACCEPT})
    kind = classify_request(req, DEFAULT_POLICY)
    answer = answer_while_cold(
        req, kind, DEFAULT_POLICY, app_name="cityguided", state=State.COLD, ready=False
    )
    assert kind is RequestKind.IGNORED
    assert answer.wake is False
    assert answer.response is not None and answer.response.status == 503


def test_no_user_agent_header_at_all_never_wakes() -> None:
    req = IncomingRequest("GET", "/", "", {"accept": BROWSER_ACCEPT})
    assert classify_request(req, DEFAULT_POLICY) is RequestKind.IGNORED


def test_a_phone_whose_model_contains_bot_wakes_the_service() -> None:
    req = IncomingRequest("GET", "/", "", {"user-agent": CUBOT_PHONE, "accept": BROWSER_ACCEPT})
    kind = classify_request(req, DEFAULT_POLICY)
    answer = answer_while_cold(
        req, kind, DEFAULT_POLICY, app_name="cityguided", state=State.COLD, ready=False
    )
    assert kind is RequestKind.NAVIGATION
    assert answer.wake is True


@pytest.mark.parametrize(
    ("names", "agent", "ignored"),
    [
        (("Uptime-Kuma",), "Uptime-Kuma/1.23", True),  # a name of several words matches them in a row
        (("Uptime-Kuma",), "Kuma Uptime", False),  # not in another order
        (("bot",), "Mozilla/5.0 (Linux; Android 10; CUBOT X30)", False),  # not inside a word
        (("bot",), "my-bot/1.0", True),
        (("MyCompanyMonitor",), "mycompanymonitor/3", True),  # case-insensitive
        ((), "Slackbot-LinkExpanding 1.0", False),  # an empty list ignores only an empty User-Agent
        ((), "", True),
    ],
)
def test_names_match_whole_words_in_a_row(names: tuple[str, ...], agent: str, ignored: bool) -> None:
    policy = Policy(ignore_user_agents=names)
    req = IncomingRequest("GET", "/", "", {"user-agent": agent})
    assert (classify_request(req, policy) is RequestKind.IGNORED) is ignored


# --- a private environment (wake_allowed_from) ------------------------------------------------------

PRIVATE = Policy(wake_allowed_from=("203.0.113.0/24", "2001:db8::/32"))


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("203.0.113.7", True),
        ("2001:db8::1", True),
        ("198.51.100.7", False),
        ("", False),  # unknown: outside
        ("not-an-address", False),
    ],
)
def test_only_clients_inside_a_private_environment_wake_it(address: str, inside: bool) -> None:
    req = IncomingRequest(
        "GET", "/", "", {"user-agent": FIREFOX, "accept": BROWSER_ACCEPT}, client_address=address
    )
    kind = classify_request(req, PRIVATE)
    answer = answer_while_cold(req, kind, PRIVATE, app_name="cityguided", state=State.COLD, ready=False)
    assert answer.wake is inside
    assert answer.response is not None
    assert (answer.response.status == 403) is not inside
    if not inside:
        assert kind is RequestKind.IGNORED and "cityguided is private" in answer.response.body
        # Not even sent back to the app once it is warm.
        ready = answer_while_cold(req, kind, PRIVATE, app_name="cityguided", state=State.WARM, ready=True)
        assert ready.response is not None and ready.response.status == 403


def test_a_public_environment_ignores_the_address() -> None:
    req = IncomingRequest("GET", "/", "", {"user-agent": FIREFOX, "accept": BROWSER_ACCEPT})
    assert classify_request(req, Policy()) is RequestKind.NAVIGATION


def test_the_status_endpoint_answers_outsiders_of_a_private_environment() -> None:
    req = IncomingRequest("GET", "/_warmkeeper/status", "", {}, client_address="198.51.100.7")
    assert classify_request(req, PRIVATE) is RequestKind.STATUS
