"""The internal wake's answers: the secret first, then the service's name, then one wake and a 503."""

from __future__ import annotations

import json

import pytest

from warmkeeper.core.hold import RETRY_SLACK_SECONDS
from warmkeeper.core.internal_wake import (
    ALREADY_UP_RETRY_AFTER_SECONDS,
    DEFAULT_OVERDUE_RETRY_SECONDS,
    ServiceWake,
    answer_internal_wake,
    internal_retry_after,
)

SECRET = "s3cret-value"


class Waker:
    def __init__(self, found: ServiceWake) -> None:
        self.found = found
        self.calls: list[str] = []

    def __call__(self, name: str) -> ServiceWake:
        self.calls.append(name)
        return self.found


@pytest.mark.parametrize("given", ["", "wrong", SECRET + "x", SECRET[:-1]])
def test_a_missing_or_wrong_secret_is_refused_and_wakes_nothing(given: str) -> None:
    wake = Waker(ServiceWake(healthy=False, ready_in_seconds=10))
    answer = answer_internal_wake(
        service="osrm", given_secret=given, secret=SECRET, services=["osrm"], wake=wake
    )
    assert answer.status == 403
    assert json.loads(answer.body)["error"] == "forbidden"
    assert wake.calls == []


def test_an_empty_configured_secret_refuses_everyone() -> None:
    wake = Waker(ServiceWake(healthy=False, ready_in_seconds=10))
    answer = answer_internal_wake(service="osrm", given_secret="", secret="", services=["osrm"], wake=wake)
    assert answer.status == 403 and wake.calls == []
    answer = answer_internal_wake(service="osrm", given_secret="x", secret=None, services=["osrm"], wake=wake)
    assert answer.status == 403 and wake.calls == []


def test_an_unknown_service_is_named_in_a_404_after_the_secret_check() -> None:
    wake = Waker(ServiceWake(healthy=False, ready_in_seconds=10))
    answer = answer_internal_wake(
        service="geocoder", given_secret=SECRET, secret=SECRET, services=["osrm"], wake=wake
    )
    assert answer.status == 404
    assert "'geocoder'" in json.loads(answer.body)["message"]
    assert wake.calls == []
    # Without the secret the name is not even looked at: 403, not 404.
    refused = answer_internal_wake(
        service="geocoder", given_secret="x", secret=SECRET, services=["osrm"], wake=wake
    )
    assert refused.status == 403


def test_a_sleeping_service_is_woken_once_and_answered_503_with_its_estimate() -> None:
    wake = Waker(ServiceWake(healthy=False, ready_in_seconds=7.2))
    answer = answer_internal_wake(
        service="osrm", given_secret=SECRET, secret=SECRET, services=["osrm"], wake=wake
    )
    assert wake.calls == ["osrm"]
    assert answer.status == 503
    # The estimate rounded up, plus the slack a public cold request gets too.
    assert answer.headers["Retry-After"] == str(8 + RETRY_SLACK_SECONDS)
    assert answer.headers["Cache-Control"] == "no-store"
    assert json.loads(answer.body) == {
        "service": "osrm",
        "state": "waking",
        "retry_after": 8 + RETRY_SLACK_SECONDS,
    }


def test_a_service_already_up_gets_a_short_retry() -> None:
    assert (
        internal_retry_after(ServiceWake(healthy=True, ready_in_seconds=0)) == ALREADY_UP_RETRY_AFTER_SECONDS
    )
    assert 2 <= ALREADY_UP_RETRY_AFTER_SECONDS <= 5


def test_a_wake_past_its_estimate_asks_for_the_policys_wait_not_zero() -> None:
    assert (
        internal_retry_after(ServiceWake(healthy=False, ready_in_seconds=0)) == DEFAULT_OVERDUE_RETRY_SECONDS
    )
    assert (
        internal_retry_after(ServiceWake(healthy=False, ready_in_seconds=0.4, overdue_retry_seconds=7)) == 7
    )
