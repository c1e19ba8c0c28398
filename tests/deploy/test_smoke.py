"""The smoke test's logic against a stand-in environment (the real one: tests/live/test_staging.py).

The stand-in is a ServiceControl plus an httpx transport that answer like the waker and the
service would: a browser gets the waiting page and wakes the service, an API request is held up
to `hold_seconds` (the fake clock moves) then gets 503 + Retry-After or, once healthy, 200.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from rich.console import Console

from tests.deploy.conftest import FakeClock
from warmkeeper.config import ScaleToZeroPolicy
from warmkeeper.core.report import StatusReport
from warmkeeper.deploy.smoke import Smoke

POLICY = ScaleToZeroPolicy(hold_seconds=25, retry_after_seconds=10, wake_timeout_seconds=180)


@dataclass
class FakeEnvironment:
    clock: FakeClock
    start_seconds: float | None  # time from the wake to healthy; None: never healthy
    desired: int = 1
    woken_at: float | None = None
    lease: datetime | None = None
    calls: list[str] = field(default_factory=list)

    def healthy(self) -> bool:
        return (
            self.woken_at is not None
            and self.start_seconds is not None
            and self.clock.now >= self.woken_at + self.start_seconds
        )

    def status(self) -> StatusReport:
        state = "COLD" if self.desired == 0 else ("WARM" if self.healthy() else "WAKING")
        return StatusReport(
            app="cityguided",
            env="staging",
            state=state,
            routing="service" if state == "WARM" else "waker",
            desired=self.desired,
            running=1 if state == "WARM" else 0,
            healthy=1 if state == "WARM" else 0,
            scale_to_zero=True,
            lease_until=self.lease,
        )

    def wake(self) -> str:
        if self.desired == 0:
            self.desired, self.woken_at = 1, self.clock.now
        return "waking"

    def sleep(self, force: bool = False) -> str:
        self.calls.append(f"sleep force={force}")
        self.desired, self.woken_at, self.lease = 0, None, None
        return "asleep"

    def keepalive(self, minutes: int) -> str:
        self.calls.append(f"keepalive {minutes}")
        self.wake()
        self.lease = datetime(2030, 1, 1, tzinfo=UTC)
        return f"lease {minutes} min"

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.healthy():
            return httpx.Response(200, json={"places": []})
        self.wake()
        if "text/html" in request.headers.get("accept", ""):
            return httpx.Response(503, html="<p>Waking up…</p>", headers={"Retry-After": "10"})
        assert self.woken_at is not None
        ready_at = self.woken_at + self.start_seconds if self.start_seconds is not None else float("inf")
        held = min(POLICY.hold_seconds, max(0.0, ready_at - self.clock.now))
        self.clock.now += held  # the waker holds the request
        if self.healthy():
            return httpx.Response(307, headers={"Location": str(request.url)})
        return httpx.Response(503, json={"state": "WAKING"}, headers={"Retry-After": "10"})


def run(start_seconds: float | None) -> tuple[Smoke, FakeEnvironment, str]:
    clock = FakeClock()
    env = FakeEnvironment(clock, start_seconds)
    console_file = io.StringIO()
    with httpx.Client(transport=httpx.MockTransport(env.handle)) as http:
        smoke = Smoke(
            env,
            http,
            "https://staging.example/",
            POLICY,
            clock=clock,
            sleep=clock.sleep,
            console=Console(file=console_file, width=200, color_system=None),
        )
        smoke.run()
    return smoke, env, console_file.getvalue()


def test_cold_start_is_timed_from_the_first_request_to_the_first_200() -> None:
    smoke, env, output = run(start_seconds=40)
    report = smoke.report
    # html at t=0 wakes; JSON held 25 s -> 503, Retry-After 10 s -> held 5 s -> 307 -> 200 at t=40.
    assert report.cold_start_seconds == 40
    assert [c.name for c in report.checks] == [
        "forced sleep",
        "waiting page",
        "held request",
        "cold start",
        "keep-alive",
        "sleep",
    ]
    assert report.ok, output
    assert "first answer HTTP 503 after 25.0 s" in output and "Retry-After 10" in output
    assert env.calls == ["sleep force=True", "keepalive 5", "sleep force=True"]
    assert env.desired == 0  # left asleep


def test_a_service_that_never_becomes_healthy_fails_the_smoke_test() -> None:
    smoke, env, output = run(start_seconds=None)
    assert not smoke.report.ok
    failed = [c for c in smoke.report.checks if not c.ok]
    assert [c.name for c in failed] == ["cold start"]
    assert "no 200 within wake_timeout_seconds = 180 s" in output
    assert "keepalive 5" not in env.calls
