"""One controller: the Lambda's engine and the twin's waker answer the same observations alike.

Each case of the table is one world (a service cold, waking, ready, failed...; the recent wakes;
what is left of the invocation) and one request. The same world is given to both sides:

- the Lambda's path: :class:`warmkeeper.aws.engine.Warmkeeper` with in-memory fakes of its ports
  (tests/aws/engine_fakes.py), its sleep advancing a fake clock;
- the twin's path: :class:`warmkeeper.local.waker.WakerServer` with a fake twin behind its
  :class:`~warmkeeper.local.waker.WakerBackend` Protocol (a small controller over the same world),
  its pauses on the same fake clock.

Both answers must be the same response (status, headers, body) and the case's expected one. A side
whose hold, estimate, Retry-After, texts or settling diverged from the other's fails here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pytest

from tests.aws.engine_fakes import (
    SETTINGS,
    START,
    FakeAws,
    FakeMetrics,
    FakeRouting,
    FakeSecret,
    FakeService,
    FakeState,
)
from warmkeeper.aws.adapters import LastWake, WakeLock
from warmkeeper.aws.engine import DEFAULT_WAKE_ESTIMATE_SECONDS, Warmkeeper
from warmkeeper.core import (
    Decision,
    HttpResponse,
    IncomingRequest,
    Observation,
    Policy,
    Routing,
    StatusReport,
    decide,
)
from warmkeeper.core.front_doors import front_door
from warmkeeper.core.hold import apply_decision, cold_view, wake_estimate_seconds
from warmkeeper.local.waker import TwinView, WakerBackend, WakerServer

POLICY = Policy(idle_minutes=5, min_warm_minutes=2, hold_seconds=25, wake_timeout_seconds=180)
ENGINE_SETTINGS = replace(SETTINGS, policy=POLICY)
# Both sides model the same front door here (the real twin's edge applies a route at once).
SETTLE_SECONDS = front_door(ENGINE_SETTINGS.front_door).route_settle_seconds

API = {"accept": "application/json", "user-agent": "curl/8.5.0"}
BROWSER = {"accept": "text/html", "sec-fetch-mode": "navigate", "user-agent": "Mozilla/5.0"}
BOT = {"accept": "*/*", "user-agent": "UptimeRobot/2.0"}


@dataclass(frozen=True)
class Case:
    name: str
    headers: dict[str, str]
    # The world: a wake asked this many seconds ago (None: cold), a task healthy this long after the
    # wake is asked (None: never), the warm route created this many seconds ago (None: not routed).
    wake_ago: float | None = None
    boot_seconds: float | None = None
    routed_ago: float | None = None
    recent_wakes: tuple[float, ...] = ()
    invocation_ending: bool = False  # the Lambda has only its margin left; the twin shuts down
    # What both must answer.
    status: int = 503
    retry_after: str | None = None
    error: str | None = None  # the JSON body's "error" (None: not a JSON body)
    location: str | None = None
    message: str | None = None  # a part of the JSON body's message


CASES = [
    Case(
        "cold first request, no wake known: the default estimate is beyond the hold, 503 at once",
        API,
        retry_after="65",
        error="waking",
        message="should be ready in about 65 s",
    ),
    Case(
        "cold, recent wakes fit the hold: held until healthy and routed, the route settles, 307",
        API,
        boot_seconds=4.0,
        recent_wakes=(3.0, 4.0),
        status=307,
        location="/api/places",
    ),
    Case(
        "waking, the estimate ends after the hold: 503 with the estimate as Retry-After",
        API,
        wake_ago=5.0,
        recent_wakes=(60.0,),
        retry_after="60",
        error="waking",
        message="should be ready in about 60 s",
    ),
    Case(
        "waking within the hold but never healthy: held to the hold's end, then 503",
        API,
        wake_ago=0.0,
        recent_wakes=(20.0,),
        retry_after=str(POLICY.retry_after_seconds),
        error="waking",
        message="not ready within 25 s",
    ),
    Case(
        "ready, the warm route a second old: 503 routing until it has applied",
        API,
        wake_ago=40.0,
        boot_seconds=39.0,
        routed_ago=1.0,
        retry_after="2",
        error="routing",
    ),
    Case(
        "ready and routed long ago: 307 to the same URL",
        API,
        wake_ago=100.0,
        boot_seconds=40.0,
        routed_ago=60.0,
        status=307,
        location="/api/places",
    ),
    Case(
        "the wake failed (past the wake timeout, nothing healthy): 503 at once",
        API,
        wake_ago=200.0,
        retry_after=str(POLICY.retry_after_seconds),
        error="waking",
        message="not healthy yet",
    ),
    Case(
        "a configured bot while cold: 503, no wake",
        BOT,
        retry_after=str(POLICY.retry_after_seconds),
        error="asleep",
    ),
    Case("a browser while cold: the waiting page", BROWSER, retry_after=str(POLICY.retry_after_seconds)),
    Case(
        "a browser while waking: the waiting page",
        BROWSER,
        wake_ago=12.0,
        retry_after=str(POLICY.retry_after_seconds),
    ),
    Case(
        "the invocation is at its end: no hold, 503 with the estimate",
        API,
        recent_wakes=(4.0,),
        invocation_ending=True,
        retry_after="9",
        error="waking",
        message="should be ready in about 9 s",
    ),
]


def request(case: Case) -> IncomingRequest:
    path = "/" if case.headers is BROWSER else "/api/places"
    return IncomingRequest(method="GET", path=path, headers=case.headers)


# --- the Lambda's side --------------------------------------------------------------------------------


def lambda_answer(case: Case) -> tuple[HttpResponse, FakeAws]:
    aws = FakeAws()
    if case.wake_ago is not None:
        aws.desired = 1
        healthy_at = None
        if case.routed_ago is not None:
            healthy_at = START - timedelta(seconds=case.routed_ago)
            aws.routing = Routing.SERVICE
            aws.healthy_ips.add("10.0.1.10")
        aws.lock = WakeLock(requested_at=START - timedelta(seconds=case.wake_ago), healthy_at=healthy_at)
    if case.recent_wakes:
        aws.last_wake = LastWake(
            requested_at=START - timedelta(days=1),
            healthy_at=None,
            seconds=case.recent_wakes[-1],
            recent_seconds=case.recent_wakes,
        )

    def sleep(seconds: float) -> None:
        aws.now += timedelta(seconds=seconds)
        lock, boot = aws.lock, case.boot_seconds
        if boot is not None and aws.desired and lock and aws.now >= lock.requested_at + timedelta(0, boot):
            aws.healthy_ips.add("10.0.1.10")

    keeper = Warmkeeper(
        ENGINE_SETTINGS,
        ecs=FakeService(aws),
        router=FakeRouting(aws),
        store=FakeState(aws),
        metrics=FakeMetrics(aws),
        secret=FakeSecret(),
        clock=lambda: aws.now,
        sleep=sleep,
    )
    remaining = (lambda: 5.0) if case.invocation_ending else None
    return keeper.handle_request(request(case), remaining_seconds=remaining), aws


# --- the twin's side ----------------------------------------------------------------------------------


class ParityTwin:
    """A twin over the same world: its controller decides with core.decide and applies with
    core.apply_decision; its view is core.cold_view of the last run, as the real twin's."""

    token = "t0ken"
    app_name = ENGINE_SETTINGS.app

    def __init__(self, case: Case) -> None:
        self.policy = POLICY
        self.case = case
        self.now = START
        self.desired = 0
        self.routing = Routing.WAKER
        self.healthy = False
        self.wake_requested_at: datetime | None = None
        self.warm_since: datetime | None = None
        if case.wake_ago is not None:
            self.desired = 1
            self.wake_requested_at = START - timedelta(seconds=case.wake_ago)
            if case.routed_ago is not None:
                self.healthy = True
                self.routing = Routing.SERVICE
                self.warm_since = START - timedelta(seconds=case.routed_ago)
        self.version = 0
        self.wakes_asked = 0
        self.held: list[float] = []
        # The controller's previous run: observed, nothing applied since.
        self.decision: Decision = decide(self.observation(pending=False), POLICY, self.now)

    def observation(self, *, pending: bool) -> Observation:
        if self.healthy and self.wake_requested_at is not None and self.warm_since is None:
            self.warm_since = self.now
        return Observation(
            desired=self.desired,
            running=self.desired,
            healthy=1 if self.healthy else 0,
            routing=self.routing,
            wake_requested_at=self.wake_requested_at,
            warm_since=self.warm_since,
            wake_pending=pending,
        )

    def reconcile(self, *, pending: bool) -> None:
        self.decision = decide(self.observation(pending=pending), POLICY, self.now)
        apply_decision(self.decision, self)
        self.version += 1

    # Actuators
    def scale_up(self, count: int | None) -> str:
        if self.desired == 0:
            self.wake_requested_at, self.warm_since = self.now, None
        self.desired = count or 1
        return "scaled up"

    def route_to_service(self) -> str:
        if self.healthy:
            self.routing = Routing.SERVICE
        return "routed"

    def route_to_waker(self) -> str:
        self.routing = Routing.WAKER
        return "routed to the waker"

    def scale_to_zero(self) -> str:
        self.desired, self.wake_requested_at = 0, None
        return "scaled to zero"

    # WakerBackend
    def view(self) -> TwinView:
        estimate = wake_estimate_seconds(self.case.recent_wakes, DEFAULT_WAKE_ESTIMATE_SECONDS)
        cold = cold_view(
            self.observation(pending=False),
            self.decision,
            self.now,
            estimate_seconds=estimate,
            route_settle_seconds=SETTLE_SECONDS,
        )
        return TwinView(self.version, cold)

    def wait_for_change(self, version: int, timeout: float) -> None:
        if version != self.version:
            return
        end = self.now + timedelta(seconds=timeout)
        boot = self.case.boot_seconds
        if boot is not None and self.desired and not self.healthy and self.wake_requested_at is not None:
            healthy_at = self.wake_requested_at + timedelta(seconds=boot)
            if healthy_at <= end:
                # The task turns healthy: the controller runs at once and the pause ends.
                self.now, self.healthy = max(self.now, healthy_at), True
                self.reconcile(pending=False)
                return
        self.now = end

    def notify_waiters(self) -> None:
        return None

    def emit(self, kind: str, message: str) -> None:
        return None

    def request_wake(self) -> None:
        self.wakes_asked += 1
        self.reconcile(pending=True)

    def count_held(self, seconds: float) -> None:
        self.held.append(seconds)

    def status_report(self) -> StatusReport:
        raise AssertionError("not a cold request")

    def keepalive(self, minutes: int) -> datetime:
        raise AssertionError("not a cold request")

    def wake(self) -> str:
        raise AssertionError("not a cold request")

    def sleep(self, force: bool = False) -> tuple[bool, str]:
        raise AssertionError("not a cold request")

    def start_deploy(self, document: object) -> object:  # type: ignore[override]
        raise AssertionError("not a cold request")

    def deploy_progress(self, run_id: str, since: int = 0) -> None:
        raise AssertionError("not a cold request")

    def details(self) -> object:
        raise AssertionError("not a cold request")


def twin_answer(case: Case) -> tuple[HttpResponse, ParityTwin]:
    twin = ParityTwin(case)
    backend: WakerBackend = twin  # type: ignore[assignment]
    server = WakerServer(backend, monotonic=lambda: (twin.now - START).total_seconds())
    try:
        server.closing = case.invocation_ending
        return server.answer(request(case)), twin
    finally:
        server.server_close()


# --- the table ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_lambda_and_the_twin_answer_alike(case: Case) -> None:
    on_aws, aws = lambda_answer(case)
    local, twin = twin_answer(case)
    assert (local.status, local.headers, local.body) == (on_aws.status, on_aws.headers, on_aws.body)
    assert on_aws.status == case.status
    assert on_aws.header("Retry-After") == case.retry_after
    assert on_aws.header("Location") == case.location
    if case.error is not None:
        body = json.loads(on_aws.body)
        assert body["error"] == case.error
        if case.message is not None:
            assert case.message in body["message"]
    elif case.headers is BROWSER:
        assert "is waking up" in on_aws.body
    # A bot wakes nothing, on either side.
    bot = case.headers is BOT
    assert ("set_desired(1)" in aws.calls) == (case.wake_ago is None and not bot)
    assert (twin.wakes_asked == 0) == bot
    # Both count a held request as held, and agree on how long it was held.
    held_on_aws = sum(1 for name, _ in aws.metrics if name == "HeldRequests")
    assert held_on_aws == len(twin.held)
    if twin.held:
        assert twin.held[0] > 0


def test_a_diverging_estimate_is_seen() -> None:
    """The table can fail: a twin estimating from a default of its own answers differently."""
    case = CASES[0]
    on_aws, _ = lambda_answer(case)
    twin = ParityTwin(case)
    original = twin.view

    def other_estimate() -> TwinView:
        view = original()
        return TwinView(view.version, replace(view.cold, ready_in_seconds=10.0))

    twin.view = other_estimate  # type: ignore[method-assign]
    server = WakerServer(twin, monotonic=lambda: (twin.now - START).total_seconds())  # type: ignore[arg-type]
    try:
        local = server.answer(request(case))
    finally:
        server.server_close()
    assert (local.status, local.headers) != (on_aws.status, on_aws.headers)
