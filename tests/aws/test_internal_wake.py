"""The internal wake and the independent sleep of internal services, on the engine's in-memory fakes:
what a call from the app's tasks gets, what it wakes, and which alarm sleeps what."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.aws.engine_fakes import WAKE_SECRET, FakeAws, FakeWakeSecret, internal_engine
from warmkeeper.aws import lambda_handler
from warmkeeper.aws.adapters import LastWake, WakeLock
from warmkeeper.aws.engine import Warmkeeper
from warmkeeper.aws.internal_services import is_function_url_event
from warmkeeper.core import IncomingRequest, Routing
from warmkeeper.core.hold import RETRY_SLACK_SECONDS
from warmkeeper.core.internal_wake import ALREADY_UP_RETRY_AFTER_SECONDS


def call(
    service: str = "osrm",
    secret: str | None = WAKE_SECRET,
    path: str = "/route/v1/driving/2.35,48.85;2.33,48.86",
) -> IncomingRequest:
    headers = {"x-warmkeeper-service": service, "user-agent": "Go-http-client/1.1"}
    if secret is not None:
        headers["x-warmkeeper-wake-secret"] = secret
    return IncomingRequest(method="GET", path=path, query="", headers=headers)


def body(response: Any) -> dict[str, Any]:
    return dict(json.loads(response.body))


def set_desired_calls(aws: FakeAws) -> list[str]:
    return [c for c in aws.calls if c.startswith("set_desired")]


def awake(aws: FakeAws, minutes_ago: float, healthy: bool = True) -> None:
    """A service woken ``minutes_ago`` by warmkeeper, healthy since."""
    requested = aws.now - timedelta(minutes=minutes_ago)
    aws.desired = 1
    if healthy:
        aws.healthy_ips = {"10.0.2.20"}
    aws.lock = WakeLock(
        requested_at=requested, healthy_at=requested + timedelta(seconds=90) if healthy else None
    )


def alarm(name: str) -> dict[str, Any]:
    return {"alarmName": name, "state": {"value": "ALARM"}}


@pytest.fixture
def worlds() -> tuple[FakeAws, FakeAws]:
    app = FakeAws(desired=1, healthy_ips={"10.0.1.10"}, routing=Routing.SERVICE)
    osrm = FakeAws()
    osrm.now = app.now
    return app, osrm


def test_a_wrong_or_missing_secret_wakes_nothing(worlds: tuple[FakeAws, FakeAws]) -> None:
    app, osrm = worlds
    engine = internal_engine(app, {"osrm": osrm})
    for secret in ("wrong", None, "", WAKE_SECRET + "x"):
        response = engine.internal_wake(call(secret=secret))
        assert response.status == 403
        assert body(response)["error"] == "forbidden"
    assert osrm.calls == [] and osrm.lock is None and osrm.desired == 0
    assert app.calls == []


def test_an_unreadable_secret_wakes_nothing_and_says_retry() -> None:
    app, osrm = FakeAws(), FakeAws()

    class Broken(FakeWakeSecret):
        def token(self) -> str | None:
            raise RuntimeError("AccessDenied")

    engine = internal_engine(app, {"osrm": osrm}, secret=Broken())
    response = engine.internal_wake(call())
    assert response.status == 503 and "Retry-After" in response.headers
    assert osrm.calls == []


def test_an_unknown_service_is_named(worlds: tuple[FakeAws, FakeAws]) -> None:
    app, osrm = worlds
    response = internal_engine(app, {"osrm": osrm}).internal_wake(call(service="geocoder"))
    assert response.status == 404
    assert "'geocoder'" in body(response)["message"]
    assert osrm.calls == []


def test_a_sleeping_service_is_woken_alone_and_the_caller_told_when(worlds: tuple[FakeAws, FakeAws]) -> None:
    app, osrm = worlds
    engine = internal_engine(app, {"osrm": osrm})
    response = engine.internal_wake(call())
    assert response.status == 503
    expected = 60 + RETRY_SLACK_SECONDS  # no wake recorded yet: the modelled first wake
    assert response.headers["Retry-After"] == str(expected)
    assert body(response) == {"service": "osrm", "state": "waking", "retry_after": expected}
    assert set_desired_calls(osrm) == ["set_desired(1)"] and osrm.lock is not None
    assert app.calls == []  # the app is not touched by its service's wake
    # Later calls while it starts: no second UpdateService, a Retry-After that counts down.
    app.now += timedelta(seconds=20)
    again = engine.internal_wake(call())
    assert again.status == 503 and int(again.headers["Retry-After"]) == expected - 20
    assert set_desired_calls(osrm) == ["set_desired(1)"]


def test_a_healthy_service_gets_a_short_retry_and_its_wake_is_recorded(
    worlds: tuple[FakeAws, FakeAws],
) -> None:
    app, osrm = worlds
    engine = internal_engine(app, {"osrm": osrm})
    engine.internal_wake(call())
    app.now += timedelta(seconds=130)
    osrm.healthy_ips = {"10.0.2.20"}  # ECS finds the task's container healthy
    response = engine.internal_wake(call())
    assert response.status == 503 and response.headers["Retry-After"] == str(ALREADY_UP_RETRY_AFTER_SECONDS)
    assert body(response)["state"] == "warm"
    assert osrm.last_wake is not None and osrm.last_wake.seconds == pytest.approx(130)
    assert set_desired_calls(osrm) == ["set_desired(1)"]


def test_the_next_wake_is_estimated_from_the_recorded_ones(worlds: tuple[FakeAws, FakeAws]) -> None:
    app, osrm = worlds
    osrm.last_wake = LastWake(
        requested_at=app.now - timedelta(hours=3),
        healthy_at=None,
        seconds=140.0,
        recent_seconds=(120.0, 140.0),
    )
    response = internal_engine(app, {"osrm": osrm}).internal_wake(call())
    assert response.headers["Retry-After"] == str(140 + RETRY_SLACK_SECONDS)


def test_the_apps_alarm_does_not_sleep_its_service(worlds: tuple[FakeAws, FakeAws]) -> None:
    app, osrm = worlds
    app.lock = WakeLock(requested_at=app.now - timedelta(hours=1), healthy_at=app.now - timedelta(hours=1))
    awake(osrm, minutes_ago=60)
    engine = internal_engine(app, {"osrm": osrm})
    result = engine.on_alarm(alarm("ignored-by-the-fake-settings"))  # the fake app has no alarm name
    assert result is not None and result.decision.sleeping
    assert set_desired_calls(app) == ["set_desired(0)"]
    assert set_desired_calls(osrm) == [] and osrm.desired == 1 and osrm.lock is not None


def test_the_services_alarm_sleeps_it_alone(worlds: tuple[FakeAws, FakeAws]) -> None:
    app, osrm = worlds
    app.lock = WakeLock(requested_at=app.now - timedelta(hours=1), healthy_at=app.now - timedelta(hours=1))
    awake(osrm, minutes_ago=30)
    engine = internal_engine(app, {"osrm": osrm})
    result = engine.on_alarm(alarm("cityguided-staging-osrm-idle"))
    assert result is not None and result.decision.sleeping
    assert set_desired_calls(osrm) == ["set_desired(0)"] and osrm.lock is None
    assert app.calls == [] and app.desired == 1  # idle as well, but not its alarm


@pytest.mark.parametrize(
    "why",
    ["min_warm", "busy", "waking"],
)
def test_the_services_sleep_keeps_the_apps_guards(worlds: tuple[FakeAws, FakeAws], why: str) -> None:
    app, osrm = worlds
    if why == "min_warm":
        awake(osrm, minutes_ago=1)
    elif why == "busy":
        awake(osrm, minutes_ago=30)
        osrm.activity = app.now - timedelta(minutes=3)  # its request metric counted a route
    else:
        awake(osrm, minutes_ago=1.5, healthy=False)  # still starting: within its wake timeout
    engine = internal_engine(app, {"osrm": osrm})
    result = engine.on_alarm(alarm("cityguided-staging-osrm-idle"))
    assert result is not None and not result.decision.sleeping
    assert set_desired_calls(osrm) == []


def test_wake_with_wakes_the_service_with_the_app_under_its_own_lock() -> None:
    app, osrm = FakeAws(), FakeAws()
    engine = internal_engine(app, {"osrm": osrm}, wake_with=("osrm",))
    result = engine.wake()
    assert result.decision.waking
    assert set_desired_calls(app) == ["set_desired(1)"]
    assert set_desired_calls(osrm) == ["set_desired(1)"] and osrm.lock is not None
    assert any("osrm: scale-up" in line for line in result.applied)
    engine.wake()  # the app's lock is held: nothing more for either
    assert set_desired_calls(osrm) == ["set_desired(1)"]


def test_without_wake_with_the_apps_wake_leaves_the_service_asleep() -> None:
    app, osrm = FakeAws(), FakeAws()
    internal_engine(app, {"osrm": osrm}).wake()
    assert set_desired_calls(app) == ["set_desired(1)"] and osrm.calls == []


def test_a_services_own_wake_with_follows_its_wake() -> None:
    app, osrm, tiles = FakeAws(), FakeAws(), FakeAws()
    engine = internal_engine(app, {"osrm": osrm, "tiles": tiles}, service_wake_with={"osrm": ("tiles",)})
    engine.internal_wake(call())
    assert set_desired_calls(osrm) == ["set_desired(1)"] and set_desired_calls(tiles) == ["set_desired(1)"]
    assert app.calls == []


def test_the_reconcile_decides_for_each_service(worlds: tuple[FakeAws, FakeAws]) -> None:
    app, osrm = worlds
    app.lock = WakeLock(
        requested_at=app.now - timedelta(minutes=1), healthy_at=app.now - timedelta(minutes=1)
    )
    tiles, stuck = FakeAws(), FakeAws()
    # osrm idle for long: sleeps; tiles: a lock left by an interrupted wake (no task wanted): repaired;
    # stuck: woken four minutes ago, never healthy, nobody asked since: its wake failed, it sleeps.
    awake(osrm, minutes_ago=40)
    tiles.lock = WakeLock(requested_at=app.now - timedelta(minutes=5))
    awake(stuck, minutes_ago=4 + 10, healthy=False)
    engine = internal_engine(app, {"osrm": osrm, "tiles": tiles, "stuck": stuck})
    engine.reconcile()
    assert set_desired_calls(osrm) == ["set_desired(0)"]
    assert tiles.lock is None and tiles.calls == []
    assert set_desired_calls(stuck) == ["set_desired(0)"]
    assert set_desired_calls(app) == []  # min_warm keeps the app


def test_a_service_scaled_up_by_hand_is_adopted_not_slept_at_once(worlds: tuple[FakeAws, FakeAws]) -> None:
    app, osrm = worlds
    osrm.desired = 1
    osrm.healthy_ips = {"10.0.2.20"}
    internal_engine(app, {"osrm": osrm}).reconcile()
    assert osrm.lock is not None and osrm.lock.adopted
    assert set_desired_calls(osrm) == []


# --- the handler: the function URL's event ---------------------------------------------------------


def function_url_event(
    headers: dict[str, str],
    domain: str = "abcdefghij.lambda-url.eu-west-3.on.aws",
    *,
    method: str = "GET",
    path: str = "/route/v1/driving/2.35,48.85;2.33,48.86",
    query: str = "overview=full",
) -> dict[str, Any]:
    """A Lambda function URL request (payload format 2.0, Lambda developer guide, "Invoking Lambda
    function URLs", request payload)."""
    url_id = domain.split(".", 1)[0]
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": domain, "x-forwarded-proto": "https", **headers},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": url_id,
            "domainName": domain,
            "domainPrefix": url_id,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "Go-http-client/1.1",
            },
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "12/Mar/2026:19:03:58 +0000",
            "timeEpoch": 1773342238000,
        },
        "isBase64Encoded": False,
    }


@pytest.fixture
def handled(worlds: tuple[FakeAws, FakeAws]) -> Any:
    app, osrm = worlds
    engine: Warmkeeper = internal_engine(app, {"osrm": osrm})
    lambda_handler.use(engine)
    yield app, osrm
    lambda_handler.use(None)


def test_the_handler_answers_a_function_url_call(handled: tuple[FakeAws, FakeAws]) -> None:
    app, osrm = handled
    event = function_url_event({"x-warmkeeper-service": "osrm", "x-warmkeeper-wake-secret": WAKE_SECRET})
    assert is_function_url_event(event)
    answer = lambda_handler.handler(event, None)
    assert answer["statusCode"] == 503 and answer["headers"]["Retry-After"] == "65"
    assert json.loads(answer["body"])["state"] == "waking"
    assert osrm.desired == 1 and app.calls == []
    refused = lambda_handler.handler(function_url_event({"x-warmkeeper-service": "osrm"}), None)
    assert refused["statusCode"] == 403


def test_the_headers_through_the_public_front_door_wake_no_service(handled: tuple[FakeAws, FakeAws]) -> None:
    # The same headers on an HTTP API request (the public door, whatever the client sends): an ordinary
    # request of the app, never an internal wake.
    _, osrm = handled
    event = function_url_event(
        {"x-warmkeeper-service": "osrm", "x-warmkeeper-wake-secret": WAKE_SECRET},
        domain="a1b2c3d4e5.execute-api.eu-west-3.amazonaws.com",
    )
    assert not is_function_url_event(event)
    lambda_handler.handler(event, None)
    assert osrm.calls == []


def test_a_service_that_loses_its_task_in_use_is_a_new_wake(worlds: tuple[FakeAws, FakeAws]) -> None:
    # Healthy, in use, then its Spot task is gone: ECS starts another; the caller is told the new
    # wake's estimate, not a short "already warm".
    app, osrm = worlds
    awake(osrm, minutes_ago=5)
    osrm.activity = app.now - timedelta(minutes=1)
    osrm.healthy_ips = set()
    engine = internal_engine(app, {"osrm": osrm})
    response = engine.internal_wake(call())
    assert body(response)["state"] == "waking"
    # Timed from the new wake: the whole estimate (the modelled first wake: none recorded here).
    assert response.headers["Retry-After"] == str(60 + RETRY_SLACK_SECONDS)
    assert osrm.lock is not None and osrm.lock.requested_at == app.now and osrm.lock.healthy_at is None
    assert set_desired_calls(osrm) == []
