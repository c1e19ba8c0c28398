"""The warmkeeper Lambda answering ALB requests, against moto (ECS, ELBv2, SSM, Secrets Manager,
CloudWatch), with events in both of ALB's header modes."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.aws.conftest import API, BROWSER, PREFIX, TOKEN, World, alb_event, call
from warmkeeper.aws import lambda_handler
from warmkeeper.aws.adapters import LastWake
from warmkeeper.aws.alb import ALB_MAX_RESPONSE_BYTES, request_from_event, response_to_alb
from warmkeeper.core import HttpResponse


def header(response: dict[str, Any], name: str) -> str | None:
    if "multiValueHeaders" in response:
        values = {k.lower(): v for k, v in response["multiValueHeaders"].items()}.get(name.lower())
        return values[0] if values else None
    return {k.lower(): v for k, v in response["headers"].items()}.get(name.lower())


# --- browser navigation while cold ------------------------------------------------------------------


@pytest.mark.parametrize("multi_value", [False, True])
def test_browser_gets_the_waiting_page_and_wakes_the_service(lam: World, multi_value: bool) -> None:
    response = call(alb_event(lam, path="/city/lyon", headers=BROWSER, multi_value=multi_value))
    assert response["statusCode"] == 503
    assert response["statusDescription"] == "503 Service Unavailable"
    assert response["isBase64Encoded"] is False
    # The response uses the request's header shape, and only that one.
    assert ("multiValueHeaders" in response) is multi_value
    assert ("headers" in response) is not multi_value
    assert header(response, "Content-Type") == "text/html; charset=utf-8"
    assert header(response, "Retry-After") == "10"
    assert "cityguided is waking up" in response["body"]
    assert lam.desired() == 1
    assert lam.parameter("wake-lock") is not None
    assert lam.metric_sum("Wakes") == 1


def test_a_second_request_does_not_scale_up_again(lam: World) -> None:
    updates = lam.count_calls(lam.clients.ecs, "UpdateService")
    call(alb_event(lam, headers=BROWSER))
    call(alb_event(lam, headers=BROWSER, multi_value=True))
    assert len(updates) == 1
    assert lam.metric_sum("Wakes") == 1


def test_waiting_page_shows_seconds_since_the_wake(lam: World) -> None:
    from datetime import timedelta

    lam.set_desired(1)
    lam.put_lock(requested_ago=timedelta(seconds=42))
    response = call(alb_event(lam, headers=BROWSER))
    assert '<span id="wk-elapsed">4' in response["body"]  # 42 or 43 s, whatever the clock did
    assert 'data-state="WAKING"' in response["body"]


# --- API calls: held, then 307 or 503 ---------------------------------------------------------------


@pytest.mark.parametrize("multi_value", [False, True])
def test_api_call_is_held_then_redirected_to_the_same_url(lam: World, multi_value: bool) -> None:
    recent_wakes(lam, 2.0)  # so a target should be healthy within the hold
    # The task turns healthy while the request is held (after the second poll).
    lam.on_sleep = lambda polls: lam.task_healthy() if polls == 2 else None  # type: ignore[func-returns-value]
    event = alb_event(
        lam,
        method="POST",
        path="/api/visits",
        query={"city": ["lyon"], "tag": ["a", "b"]} if multi_value else {"city": ["lyon"]},
        headers={**API, "content-type": ["application/json"]},
        body='{"place": 3}',
        multi_value=multi_value,
    )
    response = call(event)
    assert response["statusCode"] == 307
    expected = "/api/visits?city=lyon&tag=a&tag=b" if multi_value else "/api/visits?city=lyon"
    assert header(response, "Location") == expected
    assert len(lam.warm_rules()) == 1  # routed before the client is sent back
    # Polls back off; then what is left of the hold lets the new warm rule apply before the 307.
    assert lam.sleeps == [1.0, 1.5, 0.5]
    assert lam.metric_sum("HeldRequests") == 1
    assert lam.metric_sum("ColdStartSeconds") >= 0
    assert json.loads(lam.parameter("last-wake") or "{}")["seconds"] >= 0


def recent_wakes(lam: World, *seconds: float) -> None:
    """A last-wake record with these recent wake durations (what the hold decision estimates from)."""
    now = datetime.now(UTC)
    record = LastWake(
        requested_at=now - timedelta(days=1), healthy_at=now, seconds=seconds[-1], recent_seconds=seconds
    )
    lam.clients.ssm.put_parameter(
        Name=f"{lam.prefix}/last-wake", Value=record.to_json(), Type="String", Overwrite=True
    )


def test_api_call_is_answered_at_once_when_no_wake_fits_in_the_hold(lam: World) -> None:
    """Holding costs an execution; without a recorded wake the modelled 60 s estimate is beyond
    the 25 s hold, so the client gets the estimate (plus slack) at once."""
    response = call(alb_event(lam, path="/api/places", headers=API))
    assert response["statusCode"] == 503
    assert header(response, "Retry-After") == "65"
    assert lam.sleeps == []
    assert lam.metric_sum("HeldRequests") == 0
    assert lam.desired() == 1  # woken all the same
    recent_wakes(lam, 30.0, 80.0, 40.0)  # the slowest recent wake decides
    response = call(alb_event(lam, path="/api/places", headers=API))
    assert int(header(response, "Retry-After") or 0) > 70
    assert lam.sleeps == []


def test_a_hold_ends_before_the_invocation_does(lam: World) -> None:
    """At run time, 12 s left in the invocation bound the hold to 12 - 5 s."""
    recent_wakes(lam, 2.0)

    class Context:
        aws_request_id = "req-1"

        def get_remaining_time_in_millis(self) -> int:
            return max(0, 12_000 - int(sum(lam.sleeps) * 1000))

    response = lambda_handler.handler(alb_event(lam, path="/api/places", headers=API), Context())
    assert response["statusCode"] == 503
    assert 0 < sum(lam.sleeps) <= 12 - 5


def test_api_call_gets_503_json_with_retry_after_when_not_ready_in_time(lam: World) -> None:
    recent_wakes(lam, 0.5)  # expected within the hold, but the task never turns healthy
    response = call(alb_event(lam, path="/api/places", headers=API))
    assert response["statusCode"] == 503
    assert header(response, "Retry-After") == "10"
    assert header(response, "Content-Type") == "application/json"
    document = json.loads(response["body"])
    assert document == {
        "error": "waking",
        "message": document["message"],
        "retry_after_seconds": 10,
        "state": "WAKING",
    }
    assert sum(lam.sleeps) == pytest.approx(lam.settings.policy.hold_seconds)
    assert lam.desired() == 1
    assert lam.warm_rules() == []


def test_request_reaching_the_waker_when_warm_is_redirected_at_once(lam: World) -> None:
    lam.set_desired(1)
    from datetime import timedelta

    lam.put_lock(requested_ago=timedelta(minutes=3), healthy_ago=timedelta(minutes=2))
    lam.task_healthy()
    lam.create_warm_rule()
    response = call(alb_event(lam, path="/api/places", query={"q": ["x%20y"]}, headers=API))
    assert response["statusCode"] == 307
    assert header(response, "Location") == "/api/places?q=x%20y"  # ALB passes the query still encoded
    assert lam.sleeps == []


def test_bot_gets_503_and_does_not_wake(lam: World) -> None:
    updates = lam.count_calls(lam.clients.ecs, "UpdateService")
    bot = {"user-agent": ["Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"]}
    response = call(alb_event(lam, headers={**BROWSER, **bot}))
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["error"] == "asleep"
    assert updates == []
    assert lam.desired() == 0
    assert lam.parameter("wake-lock") is None


def test_load_balancer_health_checker_does_not_wake(lam: World) -> None:
    call(alb_event(lam, path="/", headers={"user-agent": ["ELB-HealthChecker/2.0"]}))
    assert lam.desired() == 0


# --- 50 concurrent cold requests: exactly one scale-up ----------------------------------------------------


@pytest.mark.usefixtures("atomic_moto")
def test_fifty_concurrent_cold_requests_cause_exactly_one_scale_up(lam: World) -> None:
    updates = lam.count_calls(lam.clients.ecs, "UpdateService")
    lock_writes = lam.count_calls(lam.clients.ssm, "PutParameter")
    barrier = threading.Barrier(50)
    # Hold every compare-and-set of the wake lock until all 50 callers have reached it, so that they
    # all observed "no lock" and really race (otherwise the first thread could finish before the
    # others start, and the test would prove nothing about the lock).
    lock_race = threading.Barrier(50)

    def wait_for_the_others(params: dict[str, Any], **_: Any) -> None:
        if params.get("Name") == f"{PREFIX}/wake-lock" and not params.get("Overwrite"):
            lock_race.wait(timeout=30)

    lam.hook(lam.clients.ssm, "provide-client-params.ssm.PutParameter", wait_for_the_others)
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def visitor(index: int) -> None:
        kind = BROWSER if index % 5 else API
        event = alb_event(lam, path=f"/page/{index}", headers=kind, multi_value=bool(index % 2))
        try:
            barrier.wait(timeout=30)
            results.append(call(event))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(results) == 50
    assert all(r["statusCode"] == 503 for r in results)
    assert len(updates) == 1
    assert updates[0]["desiredCount"] == 1
    # Several callers really raced for the lock (not one caller then 49 who saw it taken), and all
    # but the winner were refused: one UpdateService for many compare-and-set attempts.
    attempts = [p for p in lock_writes if p["Name"] == f"{PREFIX}/wake-lock" and not p["Overwrite"]]
    assert len(attempts) == 50
    assert lam.metric_sum("Wakes") == 1
    assert lam.desired() == 1


# --- /_warmkeeper/ endpoints -------------------------------------------------------------------------------


@pytest.mark.parametrize("multi_value", [False, True])
def test_status_endpoint_answers_json_without_waking(lam: World, multi_value: bool) -> None:
    response = call(alb_event(lam, path="/_warmkeeper/status", headers=API, multi_value=multi_value))
    assert response["statusCode"] == 200
    document = json.loads(response["body"])
    assert document["state"] == "COLD"
    assert document["routing"] == "waker"
    assert document["desired"] == 0
    assert document["scale_to_zero"] is True
    assert lam.desired() == 0


def test_status_poll_routes_a_freshly_healthy_service(lam: World) -> None:
    call(alb_event(lam, headers=BROWSER))  # wake
    lam.task_healthy()
    document = json.loads(call(alb_event(lam, path="/_warmkeeper/status"))["body"])
    assert document["state"] == "WAKING"  # observed before the warm route was created
    assert len(lam.warm_rules()) == 1
    document = json.loads(call(alb_event(lam, path="/_warmkeeper/status"))["body"])
    assert document["state"] == "WARM"
    assert document["last_wake_seconds"] is not None


def test_status_never_sleeps_the_service(lam: World) -> None:
    from datetime import timedelta

    lam.set_desired(1)
    lam.put_lock(requested_ago=timedelta(minutes=30), healthy_ago=timedelta(minutes=29))
    lam.task_healthy()
    lam.create_warm_rule()
    document = json.loads(call(alb_event(lam, path="/_warmkeeper/status"))["body"])
    assert document["minutes_until_sleep"] == 0.0
    assert lam.desired() == 1
    assert len(lam.warm_rules()) == 1


def test_status_refuses_post_and_unknown_endpoints_are_404(lam: World) -> None:
    response = call(alb_event(lam, method="POST", path="/_warmkeeper/status"))
    assert response["statusCode"] == 405
    assert header(response, "Allow") == "GET"
    response = call(alb_event(lam, path="/_warmkeeper/nothing", headers=BROWSER))
    assert response["statusCode"] == 404
    assert lam.desired() == 0


# --- keep-alive webhook ------------------------------------------------------------------------------


def keepalive(
    world: World, token: str | None, minutes: str | None = "15", multi_value: bool = False
) -> dict[str, Any]:
    headers: dict[str, list[str]] = {"user-agent": ["GitHub-Actions"]}
    if token is not None:
        headers["authorization"] = [f"Bearer {token}"]
    query = {"minutes": [minutes]} if minutes is not None else {}
    return call(
        alb_event(
            world,
            method="POST",
            path="/_warmkeeper/keepalive",
            query=query,
            headers=headers,
            multi_value=multi_value,
        )
    )


@pytest.mark.parametrize("multi_value", [False, True])
def test_keepalive_with_the_token_wakes_and_leases(lam: World, multi_value: bool) -> None:
    response = keepalive(lam, TOKEN, "15", multi_value=multi_value)
    assert response["statusCode"] == 202
    document = json.loads(response["body"])
    assert document["minutes"] == 15
    assert document["actions"] == ["SCALE_UP"]
    assert lam.desired() == 1
    assert lam.parameter("lease-until") == document["lease_until"]


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x", TOKEN.upper(), TOKEN[:-1]])
def test_keepalive_with_a_bad_or_missing_token_is_401_and_does_not_wake(
    lam: World, token: str | None
) -> None:
    updates = lam.count_calls(lam.clients.ecs, "UpdateService")
    response = keepalive(lam, token)
    assert response["statusCode"] == 401
    assert header(response, "WWW-Authenticate") == 'Bearer realm="warmkeeper"'
    assert updates == []
    assert lam.parameter("lease-until") is None
    assert lam.parameter("wake-lock") is None


def test_keepalive_with_basic_auth_is_401(lam: World) -> None:
    basic = base64.b64encode(f"user:{TOKEN}".encode()).decode()
    event = alb_event(
        lam, method="POST", path="/_warmkeeper/keepalive", headers={"authorization": [f"Basic {basic}"]}
    )
    assert call(event)["statusCode"] == 401
    assert lam.desired() == 0


def test_keepalive_minutes_are_bounded_and_never_shorten_a_lease(lam: World) -> None:
    first = json.loads(keepalive(lam, TOKEN, "100000")["body"])
    assert first["minutes"] == 240
    second = json.loads(keepalive(lam, TOKEN, "5")["body"])
    assert second["minutes"] == 5
    assert second["lease_until"] == first["lease_until"] == lam.parameter("lease-until")
    assert lam.desired() == 1


def test_keepalive_default_minutes(lam: World) -> None:
    assert json.loads(keepalive(lam, TOKEN, None)["body"])["minutes"] == 30


@pytest.mark.parametrize("minutes", ["0", "-3", "soon", "1.5"])
def test_keepalive_with_bad_minutes_is_400_and_does_not_wake(lam: World, minutes: str) -> None:
    response = keepalive(lam, TOKEN, minutes)
    assert response["statusCode"] == 400
    assert "minutes" in json.loads(response["body"])["message"]
    assert lam.desired() == 0


def test_keepalive_must_be_a_post(lam: World) -> None:
    event = alb_event(lam, path="/_warmkeeper/keepalive", headers={"authorization": [f"Bearer {TOKEN}"]})
    assert call(event)["statusCode"] == 405
    assert lam.desired() == 0


def test_keepalive_token_in_a_base64_body_request(lam: World) -> None:
    body = base64.b64encode(b"\x00\x01binary").decode()
    event = alb_event(
        lam,
        method="POST",
        path="/_warmkeeper/keepalive",
        query={"minutes": ["5"]},
        headers={"authorization": [f"Bearer {TOKEN}"], "content-type": ["application/octet-stream"]},
        body=body,
        base64_body=True,
    )
    assert call(event)["statusCode"] == 202


# --- robustness and the ALB limits ------------------------------------------------------------------


def test_a_failure_inside_the_waker_still_answers_503(make_world: Callable[..., World]) -> None:
    lam = make_world()
    lam.clients.ecs.delete_service(cluster=lam.cluster, service=lam.service, force=True)
    lambda_handler.use(lam.engine())
    try:
        response = call(alb_event(lam, headers=BROWSER))
    finally:
        lambda_handler.use(None)
    assert response["statusCode"] == 503
    assert header(response, "Retry-After") == "10"
    assert json.loads(response["body"])["error"] == "unavailable"


def test_request_from_event_decodes_base64_and_multi_value_headers(world: World) -> None:
    event = alb_event(
        world,
        method="PUT",
        path="/api/x",
        headers={"Accept": ["application/json"], "x-tag": ["a", "b"]},
        body=base64.b64encode("héllo".encode()).decode(),
        base64_body=True,
        multi_value=True,
    )
    request = request_from_event(event)
    assert request.body == "héllo".encode()
    assert request.header("x-tag") == "a, b"
    assert request.header("accept") == "application/json"
    assert request.method == "PUT"


def test_responses_stay_within_the_alb_limit() -> None:
    huge = HttpResponse(200, {"Content-Type": "text/plain"}, "x" * (ALB_MAX_RESPONSE_BYTES + 1))
    for multi_value in (False, True):
        shaped = response_to_alb(huge, multi_value)
        assert shaped["statusCode"] == 500
        assert len(json.dumps(shaped)) < ALB_MAX_RESPONSE_BYTES


def test_the_waiting_page_is_far_below_the_alb_limit(lam: World) -> None:
    response = call(alb_event(lam, headers=BROWSER))
    assert len(json.dumps(response).encode()) < 20_000
