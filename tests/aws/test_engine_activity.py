"""The engine and the activity beacon: what a task's report does to the sleep, and the report's answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.aws.conftest import WAKE_TOKEN, World
from tests.aws.engine_fakes import START, WAKE_SECRET, FakeAws, FakeWakeSecret, engine
from tests.aws.test_internal_wake import function_url_event
from warmkeeper.aws import lambda_handler
from warmkeeper.aws.adapters import StateStore, WakeLock
from warmkeeper.aws_limits import METRIC_VISIBILITY_SECONDS
from warmkeeper.commands.ops_commands import human_status
from warmkeeper.core import IncomingRequest, Routing
from warmkeeper.core.activity import (
    ACTIVITY_PATH,
    IDLE_HEADER,
    REPORT_FRESH_SECONDS,
    ActivityReport,
)
from warmkeeper.core.internal_wake import WAKE_SECRET_HEADER
from warmkeeper.core.machine import Guard

MARGIN = timedelta(seconds=METRIC_VISIBILITY_SECONDS)


def warm(*, metric_busy_minute_end: timedelta | None, beacon: ActivityReport | None) -> FakeAws:
    """A service warm for an hour; the metric's last busy minute ended ``metric_busy_minute_end``
    before now (None: no data in the window)."""
    aws = FakeAws(desired=1, healthy_ips={"10.0.1.10"}, routing=Routing.SERVICE)
    aws.lock = WakeLock(requested_at=START - timedelta(hours=1), healthy_at=START - timedelta(minutes=59))
    if metric_busy_minute_end is not None:
        # The fake returns the activity with the full margin added, as the adapter does.
        aws.activity = START - metric_busy_minute_end + MARGIN
    aws.beacon = beacon
    return aws


def report(*, age: float, idle: float | None) -> ActivityReport:
    reported = START - timedelta(seconds=age)
    return ActivityReport(
        reported_at=reported, last_request_at=None if idle is None else reported - timedelta(seconds=idle)
    )


def test_a_fresh_report_of_silence_lets_the_service_sleep_before_the_metric_margin_runs_out() -> None:
    # The last busy minute ended 310 s ago: with the metric's 180 s margin the service looks busy 130 s
    # ago. The task itself says its last request was 305 s ago, 5 s before now.
    aws = warm(metric_busy_minute_end=timedelta(seconds=310), beacon=report(age=5, idle=300))
    result = engine(aws).reconcile()
    assert result.decision.sleeping
    assert aws.desired == 0 and aws.routing is Routing.WAKER


def test_without_a_report_the_metric_and_its_margin_decide() -> None:
    aws = warm(metric_busy_minute_end=timedelta(seconds=310), beacon=None)
    result = engine(aws).reconcile()
    assert not result.decision.sleeping
    assert Guard.NOT_IDLE in result.decision.blocked_by
    assert aws.desired == 1


def test_a_stale_report_is_not_trusted() -> None:
    stale = report(age=REPORT_FRESH_SECONDS + 1, idle=300)
    aws = warm(metric_busy_minute_end=timedelta(seconds=310), beacon=stale)
    assert not engine(aws).reconcile().decision.sleeping


def test_a_fresh_report_of_a_recent_request_keeps_the_service_awake_whatever_the_metric() -> None:
    aws = warm(metric_busy_minute_end=None, beacon=report(age=2, idle=20))
    result = engine(aws).reconcile()
    assert not result.decision.sleeping
    assert result.decision.idle_seconds == pytest.approx(22)


def test_with_a_fresh_report_the_metric_still_counts_its_busy_minutes_without_the_margin() -> None:
    # The task reports no request since it started, but the metric saw a busy minute end 200 s ago
    # (a task that does not report, beside one that does): idle is counted from that minute.
    aws = warm(metric_busy_minute_end=timedelta(seconds=200), beacon=report(age=3, idle=None))
    result = engine(aws).reconcile()
    assert not result.decision.sleeping
    assert result.decision.idle_seconds == pytest.approx(200)


# --- the report's answer ----------------------------------------------------------------------------------


def post(idle: str | None, secret: str | None = WAKE_SECRET, method: str = "POST") -> IncomingRequest:
    headers = {}
    if idle is not None:
        headers[IDLE_HEADER] = idle
    if secret is not None:
        headers[WAKE_SECRET_HEADER] = secret
    return IncomingRequest(method=method, path=ACTIVITY_PATH, headers=headers)


def test_a_report_is_stored_and_never_moves_the_last_request_back() -> None:
    aws = FakeAws(desired=1, healthy_ips={"10.0.1.10"}, routing=Routing.SERVICE)
    keeper = engine(aws, wake_secret=FakeWakeSecret())
    answer = keeper.activity_report(post("7"))
    assert answer.status == 204
    assert aws.beacon == ActivityReport(reported_at=START, last_request_at=START - timedelta(seconds=7))
    # A second task that saw nothing reports later: the first one's request stays the last one.
    aws.now = START + timedelta(seconds=4)
    assert keeper.activity_report(post("none")).status == 204
    assert aws.beacon == ActivityReport(
        reported_at=START + timedelta(seconds=4), last_request_at=START - timedelta(seconds=7)
    )


@pytest.mark.parametrize(
    ("request_", "status", "word"),
    [
        (post("7", secret=None), 403, "wake secret"),
        (post("7", secret="wrong"), 403, "wake secret"),
        (post(None), 400, IDLE_HEADER),
        (post("-1"), 400, IDLE_HEADER),
        (post("soon"), 400, IDLE_HEADER),
        (post("nan"), 400, IDLE_HEADER),
        (post("7", method="GET"), 405, "POST"),
    ],
)
def test_a_bad_report_is_refused_and_nothing_is_stored(
    request_: IncomingRequest, status: int, word: str
) -> None:
    aws = FakeAws(desired=1)
    answer = engine(aws, wake_secret=FakeWakeSecret()).activity_report(request_)
    assert answer.status == status
    assert word in json.loads(answer.body)["message"]
    assert aws.beacon is None


def test_without_a_wake_secret_no_report_is_taken() -> None:
    aws = FakeAws(desired=1)
    assert engine(aws).activity_report(post("7")).status == 404
    assert aws.beacon is None


def test_an_unreadable_secret_refuses_the_report() -> None:
    class Broken:
        def token(self) -> str | None:
            raise RuntimeError("AccessDenied")

    aws = FakeAws(desired=1)
    assert engine(aws, wake_secret=Broken()).activity_report(post("7")).status == 503
    assert aws.beacon is None


# --- through the Lambda's handler, against moto (SSM, Secrets Manager) -----------------------------------


def activity_event(headers: dict[str, str]) -> dict[str, Any]:
    """A beacon report as the function URL delivers it (payload format 2.0)."""
    return function_url_event(headers, method="POST", path=ACTIVITY_PATH, query="")


def test_a_report_through_the_function_url_is_stored_and_read_back(world: World) -> None:
    lambda_handler.use(world.engine())
    try:
        refused = lambda_handler.handler(
            activity_event({IDLE_HEADER: "12", WAKE_SECRET_HEADER: "nope"}), None
        )
        assert refused["statusCode"] == 403
        store = StateStore(world.clients.ssm, world.prefix)
        assert store.read().activity is None
        before = datetime.now(UTC)
        answer = lambda_handler.handler(
            activity_event({IDLE_HEADER: "12", WAKE_SECRET_HEADER: WAKE_TOKEN}), None
        )
        assert answer["statusCode"] == 204
        stored = store.read().activity
        assert stored is not None and stored.last_request_at is not None
        assert (
            before - timedelta(seconds=13)
            <= stored.last_request_at
            <= datetime.now(UTC) - timedelta(seconds=11)
        )
        # Another task with no request yet: the stored last request stays.
        lambda_handler.handler(activity_event({IDLE_HEADER: "none", WAKE_SECRET_HEADER: WAKE_TOKEN}), None)
        again = store.read().activity
        assert again is not None and again.last_request_at == stored.last_request_at
        assert again.reported_at >= stored.reported_at
    finally:
        lambda_handler.use(None)


def test_an_unreadable_stored_report_counts_as_none(world: World) -> None:
    world.clients.ssm.put_parameter(Name=f"{world.prefix}/activity", Value="{not json", Type="String")
    assert StateStore(world.clients.ssm, world.prefix).read().activity is None


# --- what `warmkeeper status` says of it -----------------------------------------------------------------


def test_the_status_names_the_beacons_last_report_while_awake() -> None:
    aws = warm(metric_busy_minute_end=None, beacon=report(age=3, idle=40))
    status = engine(aws, wake_secret=FakeWakeSecret()).status(with_tasks=False)
    assert status.activity_beacon == "last report 3 s ago, last request 43 s ago"
    assert "  beacon      last report 3 s ago, last request 43 s ago" in human_status(status, START)


def test_the_status_says_nothing_of_a_beacon_asleep_or_without_a_wake_secret() -> None:
    asleep = FakeAws(desired=0, beacon=report(age=3, idle=40))
    assert engine(asleep, wake_secret=FakeWakeSecret()).status(with_tasks=False).activity_beacon is None
    awake = warm(metric_busy_minute_end=None, beacon=None)
    assert engine(awake).status(with_tasks=False).activity_beacon is None
    silent = engine(awake, wake_secret=FakeWakeSecret()).status(with_tasks=False)
    assert silent.activity_beacon is not None and "the request metric decides" in silent.activity_beacon
