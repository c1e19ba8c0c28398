"""core/activity.py: the beacon report's parsing, freshness, merge and answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warmkeeper.core.activity import (
    IDLE_HEADER,
    MAX_IDLE_SECONDS,
    REPORT_FRESH_SECONDS,
    ActivityError,
    ActivityReport,
    answer_activity,
    describe,
    parse_idle_seconds,
    report_at,
)

NOW = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"), [("0", 0.0), ("12", 12.0), (" 3.5 ", 3.5), ("none", None), ("NONE", None)]
)
def test_an_idle_time_is_seconds_or_none(text: str, seconds: float | None) -> None:
    assert parse_idle_seconds(text) == seconds


@pytest.mark.parametrize("text", ["-1", "soon", "", "nan", "inf", str(MAX_IDLE_SECONDS + 1), "1e400"])
def test_anything_else_is_refused_naming_the_header(text: str) -> None:
    with pytest.raises(ActivityError, match=IDLE_HEADER):
        parse_idle_seconds(text)


def test_a_report_is_fresh_for_two_heartbeats_and_a_margin() -> None:
    report = ActivityReport(reported_at=NOW, last_request_at=None)
    assert report.fresh(NOW + timedelta(seconds=REPORT_FRESH_SECONDS))
    assert not report.fresh(NOW + timedelta(seconds=REPORT_FRESH_SECONDS + 0.5))
    assert report.fresh(NOW - timedelta(seconds=5))  # a clock a little behind: still fresh


@given(
    st.lists(
        st.tuples(st.integers(0, 3600), st.one_of(st.none(), st.integers(0, 3600))), min_size=1, max_size=8
    )
)
def test_merging_keeps_the_latest_request_and_report_whatever_the_order(
    reports: list[tuple[int, int | None]],
) -> None:
    made = [report_at(NOW + timedelta(seconds=at), idle) for at, idle in reports]
    merged = made[0]
    for later in made[1:]:
        merged = merged.merged_with(later)
    assert merged.reported_at == max(r.reported_at for r in made)
    requests = [r.last_request_at for r in made if r.last_request_at is not None]
    assert merged.last_request_at == (max(requests) if requests else None)


def answer(**overrides: object) -> tuple[int, list[ActivityReport]]:
    recorded: list[ActivityReport] = []
    arguments: dict[str, object] = {
        "method": "POST",
        "given_secret": "s3cret",
        "secret": "s3cret",
        "idle_header": "4",
        "now": NOW,
        "record": recorded.append,
    }
    arguments.update(overrides)
    response = answer_activity(**arguments)  # type: ignore[arg-type]
    return response.status, recorded


def test_a_good_report_is_recorded_once() -> None:
    assert answer() == (204, [ActivityReport(reported_at=NOW, last_request_at=NOW - timedelta(seconds=4))])


def test_the_secret_is_checked_before_the_report_is_read() -> None:
    assert answer(given_secret="wrong", idle_header="garbage") == (403, [])
    assert answer(given_secret="", secret="") == (403, [])  # no secret configured: nobody passes


def test_a_bad_method_or_idle_time_records_nothing() -> None:
    assert answer(method="GET") == (405, [])
    assert answer(idle_header="") == (400, [])
    assert answer(idle_header="-3") == (400, [])


def test_the_status_says_what_the_sleep_is_counted_from() -> None:
    assert "the request metric decides" in describe(None, NOW)
    fresh = report_at(NOW - timedelta(seconds=4), 60)
    assert describe(fresh, NOW) == "last report 4 s ago, last request 64 s ago"
    assert describe(report_at(NOW, None), NOW) == "last report 0 s ago, no request since the task started"
    stale = report_at(NOW - timedelta(seconds=REPORT_FRESH_SECONDS + 10), 5)
    assert describe(stale, NOW).startswith(f"last report {REPORT_FRESH_SECONDS + 10} s ago, too old")
