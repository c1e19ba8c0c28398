"""Request events that are not in the shape their front door sends: a 400 naming the field, no wake,
and the handler never raises. Examples first, then a property over generated wrong shapes."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.aws.conftest import BROWSER, TOKEN, World, alb_event, call
from warmkeeper.aws import lambda_handler

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"


class NoEngine:
    """Stands in for the engine where none may be reached: any use fails the request (a 503)."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a refused event reached the engine ({name})")


@pytest.fixture
def no_engine() -> Iterator[None]:
    lambda_handler.use(NoEngine())  # type: ignore[arg-type]
    yield
    lambda_handler.use(None)


def message(response: dict[str, Any]) -> str:
    text: str = json.loads(response["body"])["message"]
    return text


def alb(multi_value: bool) -> dict[str, Any]:
    name = "alb-multi-value.json" if multi_value else "alb-single-value.json"
    event: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return event


def http_api() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((FIXTURES / "http_api_v2.json").read_text(encoding="utf-8"))
    return event


# --- examples: what the security review sent ---------------------------------------------------------


@pytest.mark.parametrize("multi_value", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("httpMethod", 7, "httpMethod"),
        ("httpMethod", ["GET"], "httpMethod"),
        ("httpMethod", "GET /x", "httpMethod"),
        ("path", 42, "path"),
        ("path", {"p": "/"}, "path"),
        ("path", "no-slash", "path"),
        ("body", {"minutes": 5}, "body"),
        ("isBase64Encoded", "yes", "isBase64Encoded"),
    ],
)
def test_alb_fields_of_the_wrong_shape_get_a_400(
    no_engine: None, multi_value: bool, field: str, value: Any, named: str
) -> None:
    event = alb(multi_value)
    event[field] = value
    response = call(event)
    assert response["statusCode"] == 400
    assert response["statusDescription"] == "400 Bad Request"
    assert message(response).startswith(f"unreadable request event: {named}")
    assert ("multiValueHeaders" in response) is multi_value  # still the request's own shape


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda e: e.update(headers=[["user-agent", "curl"]]), "headers: not an object"),
        (lambda e: e["headers"].update({"user-agent": 5}), "headers.user-agent: not a string"),
        (lambda e: e.update(queryStringParameters=["minutes"]), "queryStringParameters: not an object"),
        (lambda e: e["queryStringParameters"].update(minutes=5), "queryStringParameters.minutes"),
        (lambda e: e.update(body="%%%", isBase64Encoded=True), "body: isBase64Encoded is true"),
    ],
)
def test_alb_single_value_maps_of_the_wrong_shape_get_a_400(no_engine: None, change: Any, named: str) -> None:
    event = alb(multi_value=False)
    event.setdefault("queryStringParameters", {})
    change(event)
    response = call(event)
    assert response["statusCode"] == 400
    assert named in message(response)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda e: e.update(multiValueHeaders=["accept"]), "multiValueHeaders: not an object"),
        (lambda e: e["multiValueHeaders"].update(accept="text/html"), "multiValueHeaders.accept"),
        (lambda e: e["multiValueHeaders"].update(accept=[1]), "multiValueHeaders.accept"),
        (
            lambda e: e.update(multiValueQueryStringParameters={"minutes": "5"}),
            "multiValueQueryStringParameters.minutes",
        ),
    ],
)
def test_alb_multi_value_maps_of_the_wrong_shape_get_a_400(no_engine: None, change: Any, named: str) -> None:
    event = alb(multi_value=True)
    change(event)
    response = call(event)
    assert response["statusCode"] == 400
    assert named in message(response)


@pytest.mark.parametrize("event", [None, [], ["a"], 5, "GET /", True], ids=repr)
def test_an_event_that_is_not_an_object_gets_a_400_instead_of_raising(no_engine: None, event: Any) -> None:
    response = lambda_handler.handler(event, None)
    assert response["statusCode"] == 400
    assert message(response).startswith("unreadable request event: event: not a JSON object")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda e: e["requestContext"].update(http=["GET"]), "requestContext.http"),
        (lambda e: e["requestContext"].pop("http"), "requestContext.http"),
        (lambda e: e.update(headers=[["user-agent", "x"]]), "headers: not an object"),
        (lambda e: e["headers"].update({"user-agent": None}), "headers.user-agent: not a string"),
        (lambda e: e.update(isBase64Encoded="true"), "isBase64Encoded"),
        (lambda e: e["requestContext"]["http"].update(method=3), "requestContext.http.method"),
        (lambda e: e.update(rawPath=12), "rawPath"),
        (lambda e: e.update(cookies="a=b"), "cookies"),
        (lambda e: e.update(body=[1]), "body"),
    ],
)
def test_http_api_fields_of_the_wrong_shape_get_a_400(no_engine: None, change: Any, named: str) -> None:
    event = http_api()
    change(event)
    response = call(event)
    assert set(response) == {"statusCode", "headers", "cookies", "body", "isBase64Encoded"}
    assert response["statusCode"] == 400
    assert named in message(response)


def test_a_malformed_alb_event_wakes_nothing(lam: World) -> None:
    event = alb_event(lam, headers=BROWSER)
    event["headers"] = list(event["headers"].items())
    assert call(event)["statusCode"] == 400
    assert lam.desired() == 0
    assert lam.parameter("wake-lock") is None


@pytest.mark.parametrize("multi_value", [False, True])
@pytest.mark.parametrize("digits", [12, 5000])
def test_keepalive_minutes_of_any_length_gets_a_400(lam: World, multi_value: bool, digits: int) -> None:
    # 5,000 digits: int() raised ValueError and the handler answered its catch-all 503.
    response = call(
        alb_event(
            lam,
            "POST",
            "/_warmkeeper/keepalive",
            query={"minutes": ["9" * digits]},
            headers={"authorization": [f"Bearer {TOKEN}"]},
            multi_value=multi_value,
        )
    )
    assert response["statusCode"] == 400
    assert f"got {digits} digits" in message(response)
    assert lam.desired() == 0


# --- the property: any wrong shape, on either payload, is a 400 that names it -----------------------

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
NOT_A_STRING = JSON_VALUES.filter(lambda v: not isinstance(v, str))
NOT_AN_OBJECT = JSON_VALUES.filter(lambda v: v is not None and not isinstance(v, dict))
NOT_A_BOOL = JSON_VALUES.filter(lambda v: not isinstance(v, bool))
# A map whose values are of the wrong kind for a single-value (string) or multi-value (list) map.
BAD_SINGLE_MAP = st.dictionaries(st.text(min_size=1, max_size=6), NOT_A_STRING, min_size=1, max_size=3)
BAD_MULTI_MAP = st.dictionaries(
    st.text(min_size=1, max_size=6),
    JSON_VALUES.filter(lambda v: not (isinstance(v, list) and all(isinstance(i, str) for i in v))),
    min_size=1,
    max_size=3,
)

# field -> (what the field may be replaced by, the words the 400 must name)
ALB_WRONG: dict[str, tuple[st.SearchStrategy[Any], str]] = {
    "httpMethod": (
        st.one_of(NOT_A_STRING, st.text().filter(lambda t: not t.isalpha() or len(t) > 20)),
        "httpMethod",
    ),
    "path": (st.one_of(NOT_A_STRING, st.text().filter(lambda t: not t.startswith("/"))), "path"),
    "body": (NOT_A_STRING.filter(lambda v: v is not None), "body"),
    "isBase64Encoded": (NOT_A_BOOL, "isBase64Encoded"),
}
ALB_SINGLE_WRONG = {
    **ALB_WRONG,
    "headers": (st.one_of(NOT_AN_OBJECT, BAD_SINGLE_MAP), "headers"),
    "queryStringParameters": (st.one_of(NOT_AN_OBJECT, BAD_SINGLE_MAP), "queryStringParameters"),
}
ALB_MULTI_WRONG = {
    **ALB_WRONG,
    "multiValueHeaders": (st.one_of(NOT_AN_OBJECT, BAD_MULTI_MAP), "multiValueHeaders"),
    "multiValueQueryStringParameters": (
        st.one_of(NOT_AN_OBJECT, BAD_MULTI_MAP),
        "multiValueQueryStringParameters",
    ),
}
HTTP_API_WRONG: dict[tuple[str, ...], tuple[st.SearchStrategy[Any], str]] = {
    ("version",): (JSON_VALUES.filter(lambda v: v != "2.0"), "payload format version"),
    ("requestContext", "http"): (
        JSON_VALUES.filter(lambda v: not isinstance(v, dict)),
        "requestContext.http",
    ),
    ("requestContext", "http", "method"): (
        st.one_of(NOT_A_STRING, st.just(""), st.just("  ")),
        "requestContext.http.method",
    ),
    ("rawPath",): (
        st.one_of(
            JSON_VALUES.filter(lambda v: bool(v) and not isinstance(v, str)),
            st.text(min_size=1).filter(lambda t: not t.startswith("/")),
        ),
        "rawPath",
    ),
    ("rawQueryString",): (JSON_VALUES.filter(lambda v: bool(v) and not isinstance(v, str)), "rawQueryString"),
    ("headers",): (st.one_of(NOT_AN_OBJECT.filter(bool), BAD_SINGLE_MAP), "headers"),
    ("cookies",): (
        JSON_VALUES.filter(
            lambda v: bool(v) and not (isinstance(v, list) and all(isinstance(i, str) for i in v))
        ),
        "cookies",
    ),
    ("body",): (NOT_A_STRING.filter(lambda v: v is not None), "body"),
    ("isBase64Encoded",): (NOT_A_BOOL, "isBase64Encoded"),
}


def _set(event: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


ALB_SINGLE_EVENT = alb(multi_value=False)
ALB_MULTI_EVENT = alb(multi_value=True)
HTTP_API_EVENT = http_api()


@st.composite
def wrong_alb_events(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    multi = draw(st.booleans())
    fields = ALB_MULTI_WRONG if multi else ALB_SINGLE_WRONG
    event = copy.deepcopy(ALB_MULTI_EVENT if multi else ALB_SINGLE_EVENT)
    name = draw(st.sampled_from(sorted(fields)))
    strategy, named = fields[name]
    event[name] = draw(strategy)
    return event, named


@st.composite
def wrong_http_api_events(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    event = copy.deepcopy(HTTP_API_EVENT)
    path = draw(st.sampled_from(sorted(HTTP_API_WRONG)))
    strategy, named = HTTP_API_WRONG[path]
    _set(event, path, draw(strategy))
    return event, named


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.one_of(wrong_alb_events(), wrong_http_api_events()))
def test_any_wrong_shape_is_a_400_naming_the_field(no_engine: None, case: tuple[dict[str, Any], str]) -> None:
    event, named = case
    response = lambda_handler.handler(event, None)  # never raises: an exception fails the test
    assert response["statusCode"] == 400, (event, response)
    assert named in message(response), (named, message(response))
    json.dumps(response)  # what the front door receives is serializable JSON


# --- a private environment: the client's address as the load balancer or the HTTP API reports it ---


@pytest.fixture
def private_lam(make_world: Any) -> Iterator[World]:
    from warmkeeper.core import Policy

    world: World = make_world(Policy(hold_seconds=25, wake_allowed_from=("10.0.0.0/8",)))
    lambda_handler.use(world.engine())
    yield world
    lambda_handler.use(None)


def test_an_outsider_gets_403_and_wakes_nothing_behind_a_load_balancer(private_lam: World) -> None:
    # alb_event's X-Forwarded-For is 203.0.113.7: the address the load balancer appended.
    response = call(alb_event(private_lam, headers=BROWSER))
    assert response["statusCode"] == 403
    assert private_lam.desired() == 0
    spoofed = alb_event(private_lam, headers={**BROWSER, "x-forwarded-for": ["10.1.2.3, 203.0.113.7"]})
    assert call(spoofed)["statusCode"] == 403  # only the last entry, the load balancer's own, counts
    inside = alb_event(private_lam, headers={**BROWSER, "x-forwarded-for": ["10.1.2.3"]})
    assert call(inside)["statusCode"] == 503  # the waiting page
    assert private_lam.desired() == 1
