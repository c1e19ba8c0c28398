"""`make smoke ENV=staging`: check a real deployment end to end and measure its cold start.

Steps, each a pass/fail line: force a sleep (the service goes COLD), a browser request gets the
waiting page at once, an API request is held then answered (the first 200 ends the cold start,
timed from the first request), a keep-alive takes a lease, a forced sleep returns to COLD.
What it measures is measured on AWS (one sample, the region and time printed with it): this is how
someone with an AWS account checks the modelled figures in docs/technical/deployment.md.

Without AWS credentials (:func:`warmkeeper.aws.clients.has_credentials`) the command does nothing and
says so (exit 0): CI without an account stays green.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from rich.console import Console

from warmkeeper.config import ScaleToZeroPolicy
from warmkeeper.control import ServiceControl
from warmkeeper.core.errors import ExitCode, WarmkeeperError
from warmkeeper.core.report import StatusReport

WAITING_PAGE_MAX_SECONDS = 10.0  # the waker answers a browser at once; a slow answer is a failure
SMOKE_LEASE_MINUTES = 5
SLEEP_BOUND_SECONDS = 180.0


class SmokeError(WarmkeeperError):
    """The smoke test stopped on the way (AWS refused a call, an HTTP request failed): exit 1."""

    exit_code = ExitCode.FAILED


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class SmokeReport:
    checks: list[Check] = field(default_factory=list)
    cold_start_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)


class Smoke:
    def __init__(
        self,
        control: ServiceControl,
        http: httpx.Client,
        url: str,
        policy: ScaleToZeroPolicy,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        console: Console,
    ):
        self.control = control
        self.http = http
        self.url = url
        self.policy = policy
        self.clock = clock
        self.sleep = sleep
        self.console = console
        self.report = SmokeReport()

    def _check(self, name: str, ok: bool, detail: str) -> bool:
        self.report.checks.append(Check(name, ok, detail))
        mark = "[green]✓[/]" if ok else "[bold red]✗[/]"
        self.console.print(f"{mark} {name}: {detail}", highlight=False)
        return ok

    def _wait_cold(self, bound: float) -> StatusReport:
        start = self.clock()
        while True:
            status = self.control.status()
            if status.state == "COLD" and status.desired == 0:
                return status
            if self.clock() - start >= bound:
                return status
            self.sleep(5.0)

    def _sleep_now(self, name: str) -> bool:
        answer = self.control.sleep(force=True)
        status = self._wait_cold(SLEEP_BOUND_SECONDS)
        ok = status.state == "COLD" and status.desired == 0 and status.routing == "waker"
        return self._check(
            name, ok, f"{answer}; state {status.state}, desired {status.desired}, routing {status.routing}"
        )

    def run(self) -> SmokeReport:
        """Every check in order, up to the first that fails. A problem on the way, rather than a
        failed check, is a :class:`SmokeError`: the smoke test stopped (a failure too)."""
        try:
            return self._checks()
        except (WarmkeeperError, httpx.HTTPError) as exc:
            raise SmokeError(f"smoke test stopped: {exc}") from None

    def _checks(self) -> SmokeReport:
        if not self._sleep_now("forced sleep"):
            return self.report

        start = self.clock()
        page = self.http.get(self.url, headers={"Accept": "text/html"}, follow_redirects=False)
        page_seconds = self.clock() - start
        html = "text/html" in page.headers.get("content-type", "")
        self._check(
            "waiting page",
            html and page.status_code in (200, 202, 503) and page_seconds <= WAITING_PAGE_MAX_SECONDS,
            f"HTTP {page.status_code} {page.headers.get('content-type', '?')} in {page_seconds:.1f} s",
        )

        first_seconds: float | None = None
        first_status: int | None = None
        first_retry_after: str | None = None
        deadline = start + self.policy.wake_timeout_seconds
        while self.clock() < deadline:
            sent = self.clock()
            try:
                answer = self.http.get(
                    self.url,
                    headers={"Accept": "application/json"},
                    follow_redirects=True,  # a held request ends in 307 back to the same URL
                    timeout=self.policy.hold_seconds + 15,
                )
            except httpx.TransportError as exc:
                self._check("held request", False, f"{type(exc).__name__}: {exc}")
                return self.report
            if first_status is None:
                first_seconds = self.clock() - sent
                first_status = answer.status_code
                first_retry_after = answer.headers.get("retry-after")
            if answer.status_code == 200:
                self.report.cold_start_seconds = self.clock() - start
                break
            if answer.status_code != 503:
                self._check("held request", False, f"unexpected HTTP {answer.status_code} while waking")
                return self.report
            self.sleep(float(answer.headers.get("retry-after", self.policy.retry_after_seconds)))
        assert first_seconds is not None
        held_ok = first_seconds <= self.policy.hold_seconds + 10 and (
            first_status == 200 or (first_status == 503 and first_retry_after is not None)
        )
        self._check(
            "held request",
            held_ok,
            f"first answer HTTP {first_status} after {first_seconds:.1f} s "
            f"(hold bound {self.policy.hold_seconds} s)"
            + (f", Retry-After {first_retry_after}" if first_retry_after else ""),
        )
        cold = self.report.cold_start_seconds
        if not self._check(
            "cold start",
            cold is not None,
            f"{cold:.1f} s from the first request to the first 200 (measured, one sample)"
            if cold is not None
            else f"no 200 within wake_timeout_seconds = {self.policy.wake_timeout_seconds} s",
        ):
            return self.report

        lease = self.control.keepalive(SMOKE_LEASE_MINUTES)
        status = self.control.status()
        self._check(
            "keep-alive",
            status.lease_until is not None and status.state in ("WARM", "WAKING"),
            f"{lease}; lease until {status.lease_until}",
        )
        self._sleep_now("sleep")
        return self.report
