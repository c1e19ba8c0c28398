"""The endpoint checks the Lambda and the twin's waker share: method, token, lease minutes."""

from __future__ import annotations

import json

import pytest

from warmkeeper.core import (
    EndpointRefusal,
    IncomingRequest,
    Policy,
    json_response,
    keepalive_minutes,
    query_value,
    require_method,
    require_token,
)

POLICY = Policy(default_lease_minutes=30, max_lease_minutes=240)
TOKEN = "s3cret-token"


def keepalive(method: str = "POST", token: str | None = TOKEN, query: str = "minutes=15") -> IncomingRequest:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return IncomingRequest(method=method, path="/_warmkeeper/keepalive", query=query, headers=headers)


def refusal(call: object, *args: object) -> EndpointRefusal:
    with pytest.raises(EndpointRefusal) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


@pytest.mark.parametrize(
    ("query", "name", "value"),
    [
        ("minutes=15", "minutes", "15"),
        ("minutes=15&minutes=20", "minutes", "15"),
        ("minutes=", "minutes", ""),
        ("force=1", "minutes", None),
        ("", "minutes", None),
        ("id=d%202", "id", "d 2"),
    ],
)
def test_query_value_is_the_first_decoded_value(query: str, name: str, value: str | None) -> None:
    assert query_value(query, name) == value


def test_a_wrong_method_is_405_naming_the_allowed_ones_without_head() -> None:
    request = IncomingRequest(method="POST", path="/_warmkeeper/status")
    response = refusal(require_method, request, "GET", "HEAD").response
    assert (response.status, response.header("Allow")) == (405, "GET")
    response = refusal(require_method, IncomingRequest(method="PUT", path="/x"), "GET", "POST").response
    assert response.header("Allow") == "GET, POST"
    require_method(IncomingRequest(method="head", path="/x"), "GET", "HEAD")  # no refusal


@pytest.mark.parametrize("presented", [None, "", "wrong", TOKEN.upper(), TOKEN + "x"])
def test_a_missing_or_wrong_token_is_401_with_the_challenge(presented: str | None) -> None:
    response = refusal(require_token, keepalive(token=presented), TOKEN).response
    assert response.status == 401
    assert response.header("WWW-Authenticate") == 'Bearer realm="warmkeeper"'
    assert json.loads(response.body)["error"] == "unauthorized"


def test_no_expected_token_lets_nothing_through() -> None:
    assert refusal(require_token, keepalive(token=""), "").response.status == 401
    assert refusal(require_token, keepalive(token="x"), None).response.status == 401


def test_keepalive_checks_method_then_token_then_minutes() -> None:
    read: list[str] = []

    def expected() -> str:
        read.append("token")
        return TOKEN

    # The token is not read for a wrong method (on AWS reading it is a Secrets Manager call).
    assert (
        refusal(
            keepalive_minutes, keepalive(method="GET", query="minutes=x"), POLICY, expected
        ).response.status
        == 405
    )
    assert read == []
    assert (
        refusal(keepalive_minutes, keepalive(token="no", query="minutes=x"), POLICY, expected).response.status
        == 401
    )
    bad = refusal(keepalive_minutes, keepalive(query="minutes=1.5"), POLICY, expected).response
    assert bad.status == 400 and "minutes" in json.loads(bad.body)["message"]
    assert keepalive_minutes(keepalive(query="minutes=100000"), POLICY, expected) == 240
    assert keepalive_minutes(keepalive(query=""), POLICY, expected) == 30


def test_a_token_reader_may_refuse_on_its_own() -> None:
    unavailable = EndpointRefusal(json_response(503, {"error": "unavailable"}))

    def unreadable() -> str:
        raise unavailable

    assert refusal(keepalive_minutes, keepalive(), POLICY, unreadable) is unavailable
