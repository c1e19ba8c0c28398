"""AWS's own example events (tests/fixtures/events, sources in its README) fed through the handler.

The events the other tests build follow the same guides; these are the guides' examples as AWS
printed them, so a field the builders leave out (or one AWS adds) still reaches the handler.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.aws.conftest import ALARM_NAME, World, call

EVENTS = Path(__file__).resolve().parent.parent / "fixtures" / "events"


def published(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return event


def _warm(lam: World) -> None:
    lam.set_desired(1)
    lam.put_lock(requested_ago=timedelta(minutes=3), healthy_ago=timedelta(minutes=2))
    lam.task_healthy()
    lam.create_warm_rule()


def test_single_value_alb_example_wakes_and_answers_in_headers(lam: World) -> None:
    response = call(published("alb-single-value"))
    # A browser navigation (Accept: text/html, no Sec-Fetch-Mode) on a cold service: the waiting page.
    assert response["statusCode"] == 503 and "Retry-After" in response["headers"]
    assert response["headers"]["Content-Type"].startswith("text/html")
    assert "multiValueHeaders" not in response
    assert lam.desired() == 1


def test_multi_value_alb_example_answers_in_multi_value_headers(lam: World) -> None:
    response = call(published("alb-multi-value"))
    # ALB rejects a single-value answer from a target group with multi-value headers on.
    assert "headers" not in response
    assert response["multiValueHeaders"]["Content-Type"] == ["text/html; charset=utf-8"]
    assert all(isinstance(values, list) for values in response["multiValueHeaders"].values())
    assert lam.desired() == 1


def test_multi_value_example_as_an_api_call_keeps_every_query_value_through_the_307(lam: World) -> None:
    _warm(lam)
    event = published("alb-multi-value")
    event["multiValueHeaders"]["accept"] = ["application/json"]
    event["multiValueQueryStringParameters"]["tag"] = ["a", "b"]
    response = call(event)
    assert response["statusCode"] == 307
    location = response["multiValueHeaders"]["Location"]
    assert location == ["/?myKey=val1&myKey=val2&myOtherKey=val3&myOtherKey=val4&tag=a&tag=b"]


def test_single_value_example_as_an_api_call_redirects_in_headers(lam: World) -> None:
    _warm(lam)
    event = published("alb-single-value")
    event["headers"]["accept"] = "application/json"
    response = call(event)
    assert response["statusCode"] == 307
    assert response["headers"]["Location"] == "/lambda?query=1234ABCD"


def test_published_alarm_example_of_another_alarm_is_ignored(lam: World) -> None:
    _warm(lam)
    result = call(published("eventbridge-alarm-state-change"))
    assert result == {"handled": "alarm", "decision": None}  # ServerCpuTooHigh is not our idle alarm
    assert lam.desired() == 1 and lam.warm_rules() != []


def test_published_alarm_example_naming_our_alarm_runs_the_sleep_decision(lam: World) -> None:
    lam.set_desired(1)
    lam.put_lock(requested_ago=timedelta(minutes=30), healthy_ago=timedelta(minutes=29))
    event = copy.deepcopy(published("eventbridge-alarm-state-change"))
    event["detail"]["alarmName"] = ALARM_NAME
    result = call(event)
    assert result["handled"] == "alarm" and result["decision"] is not None
    # No traffic, no lease, warm long enough, no healthy task: the guards let it sleep.
    assert lam.desired() == 0


def test_published_scheduled_example_reconciles(lam: World) -> None:
    lam.set_desired(1)
    lam.put_lock(requested_ago=timedelta(minutes=3), healthy_ago=timedelta(minutes=2))
    lam.task_healthy()
    result = call(published("eventbridge-scheduled"))
    assert result["handled"] == "reconcile"
    # A healthy task without the warm route: the reconcile repairs the routing.
    assert lam.warm_rules() != []
