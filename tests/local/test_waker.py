"""The twin's waker against an in-memory backend (its `WakerBackend` Protocol): real HTTP on loopback,
no Caddy, no task. The end-to-end tests cover it behind the real edge."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warmkeeper.core import LeaseError, Policy, State, StatusReport, lease_minutes
from warmkeeper.core.hold import ColdView
from warmkeeper.core.internal_wake import ServiceWake
from warmkeeper.local.rollout import DeployRequestError
from warmkeeper.local.waker import InternalWakeBackend, TwinView, WakerBackend, WakerServer

TOKEN = "the-twin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class Record:
    document: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self.document


@dataclass
class FakeTwin:
    """Records what the waker asks of it; answers as a cold twin would."""

    policy: Policy = field(default_factory=lambda: Policy(hold_seconds=0.2, max_lease_minutes=240))
    token: str = TOKEN
    app_name: str = "demo"
    calls: list[str] = field(default_factory=list)
    refuse_deploy: bool = False

    def view(self) -> TwinView:
        # Estimated ready within the 0.2 s hold: a cold API call is held.
        return TwinView(0, ColdView(State.COLD, False, None, False, 0.1, 0.0))

    def wait_for_change(self, version: int, timeout: float) -> None:
        time.sleep(timeout)  # nothing changes: the pause lasts

    def notify_waiters(self) -> None:
        return None

    def emit(self, kind: str, message: str) -> None:
        self.calls.append(f"emit {kind}")

    def request_wake(self) -> None:
        self.calls.append("request_wake")

    def count_held(self, seconds: float) -> None:
        self.calls.append("held")

    def status_report(self) -> StatusReport:
        return StatusReport(
            app=self.app_name, env="local", state="COLD", routing="waker", desired=0, running=0, healthy=0,
            scale_to_zero=True, tasks=[],
        )  # fmt: skip

    def keepalive(self, minutes: int) -> datetime:
        self.calls.append(f"keepalive {minutes}")
        return NOW + timedelta(minutes=minutes)

    def wake(self) -> str:
        self.calls.append("wake")
        return "waking"

    def sleep(self, force: bool = False) -> tuple[bool, str]:
        self.calls.append(f"sleep force={force}")
        return force, "slept" if force else "a lease holds it"

    def start_deploy(self, document: object) -> Record:
        if self.refuse_deploy:
            raise DeployRequestError(409, "deploy d2 of r2 is in progress")
        self.calls.append("deploy")
        return Record({"id": "d2"})

    def deploy_progress(self, run_id: str, since: int = 0) -> dict[str, Any] | None:
        return {"id": run_id, "next": since} if run_id == "d2" else None

    def details(self) -> Record:
        return Record({"wakes": 0})


@pytest.fixture
def twin() -> FakeTwin:
    return FakeTwin()


@pytest.fixture
def client(twin: FakeTwin) -> Iterator[httpx.Client]:
    backend: WakerBackend = twin  # the fake is a WakerBackend (mypy checks it here)
    server = WakerServer(backend)
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", trust_env=False, timeout=10) as client:
            yield client
    finally:
        server.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/_warmkeeper/keepalive"),
        ("POST", "/_warmkeeper/wake"),
        ("POST", "/_warmkeeper/sleep"),
        ("GET", "/_warmkeeper/deploy"),
        ("POST", "/_warmkeeper/deploy"),
        ("GET", "/_warmkeeper/twin"),
    ],
)
def test_every_private_endpoint_needs_the_token(
    client: httpx.Client, twin: FakeTwin, method: str, path: str
) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401, (path, headers)
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="warmkeeper"'
        assert response.json()["error"] == "unauthorized"
    assert twin.calls == []


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/_warmkeeper/status", "GET"),
        ("GET", "/_warmkeeper/keepalive", "POST"),
        ("GET", "/_warmkeeper/wake", "POST"),
        ("PUT", "/_warmkeeper/deploy", "GET, POST"),
        ("POST", "/_warmkeeper/twin", "GET"),
    ],
)
def test_a_wrong_method_is_405_before_the_token_is_looked_at(
    client: httpx.Client, twin: FakeTwin, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path)
    assert (response.status_code, response.headers["Allow"]) == (405, allow)
    assert twin.calls == []


def test_keepalive_grants_a_bounded_lease(client: httpx.Client, twin: FakeTwin) -> None:
    response = client.post("/_warmkeeper/keepalive", params={"minutes": "100000"}, headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "lease_until": (NOW + timedelta(minutes=240)).isoformat(),
        "minutes": 240,
        "state": "COLD",
    }
    bad = client.post("/_warmkeeper/keepalive", params={"minutes": "soon"}, headers=AUTH)
    assert bad.status_code == 400 and "minutes" in bad.json()["message"]
    assert twin.calls == ["keepalive 240"]


def test_wake_sleep_deploy_and_details_reach_the_twin(client: httpx.Client, twin: FakeTwin) -> None:
    assert client.post("/_warmkeeper/wake", headers=AUTH).json() == {"message": "waking"}
    refused = client.post("/_warmkeeper/sleep", headers=AUTH)
    assert (refused.status_code, refused.json()["slept"]) == (409, False)
    assert client.post("/_warmkeeper/sleep", params={"force": "yes"}, headers=AUTH).status_code == 200
    started = client.post("/_warmkeeper/deploy", json={"anything": 1}, headers=AUTH)
    assert (started.status_code, started.json()) == (202, {"id": "d2"})
    assert client.get("/_warmkeeper/deploy", params={"id": "d2", "since": "3"}, headers=AUTH).json() == {
        "id": "d2",
        "next": 3,
    }
    assert client.get("/_warmkeeper/deploy", params={"id": "d9"}, headers=AUTH).status_code == 404
    assert (
        client.get("/_warmkeeper/deploy", params={"id": "d2", "since": "x"}, headers=AUTH).status_code == 400
    )
    assert client.get("/_warmkeeper/twin", headers=AUTH).json() == {"wakes": 0}
    assert twin.calls == ["wake", "sleep force=False", "sleep force=True", "deploy"]


def test_a_refused_deploy_answers_its_status(client: httpx.Client, twin: FakeTwin) -> None:
    twin.refuse_deploy = True
    response = client.post("/_warmkeeper/deploy", json={}, headers=AUTH)
    assert (response.status_code, response.json()["error"]) == (409, "refused")
    not_json = client.post("/_warmkeeper/deploy", content=b"{", headers=AUTH)
    assert (not_json.status_code, not_json.json()["message"]) == (400, "the body is not JSON")


def test_status_and_cold_requests(client: httpx.Client, twin: FakeTwin) -> None:
    status = client.get("/_warmkeeper/status")
    assert (status.status_code, status.json()["state"]) == (200, "COLD")
    assert client.get("/_warmkeeper/nothing").status_code == 404
    # An API call while cold is held (0.2 s here), wakes the twin, then gets 503 with Retry-After.
    api = client.get("/api/places", headers={"Accept": "application/json"})
    assert api.status_code == 503 and "Retry-After" in api.headers
    assert "request_wake" in twin.calls and "held" in twin.calls
    assert json.loads(api.text)["error"]


@pytest.mark.parametrize("digits", [12, 5000])
def test_keepalive_minutes_of_any_length_is_a_400(client: httpx.Client, twin: FakeTwin, digits: int) -> None:
    # 5,000 digits: int() raised ValueError inside the waker, which answered 500.
    response = client.post("/_warmkeeper/keepalive", params={"minutes": "9" * digits}, headers=AUTH)
    assert response.status_code == 400
    assert f"got {digits} digits" in response.json()["message"]
    assert twin.calls == []


MINUTES = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789", min_size=1, max_size=6000),
    st.from_regex(r"[ 0]*[1-9][0-9]{0,12}", fullmatch=True),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(minutes=MINUTES, repeated=st.booleans())
def test_any_minutes_value_is_granted_or_refused_with_a_400(
    client: httpx.Client, twin: FakeTwin, minutes: str, repeated: bool
) -> None:
    """The twin's waker over real HTTP: whatever the value, a lease or a 400 naming `minutes`, never
    its 500 (the first value counts when the parameter is repeated)."""
    params = [("minutes", minutes), ("minutes", "5")] if repeated else [("minutes", minutes)]
    response = client.post("/_warmkeeper/keepalive", params=params, headers=AUTH)
    try:
        expected: int | None = lease_minutes(minutes or None, twin.policy)
    except LeaseError:
        expected = None
    if expected is None:
        assert response.status_code == 400, response.text
        assert "minutes" in response.json()["message"]
    else:
        assert response.status_code == 200, response.text
        assert response.json()["minutes"] == expected


def test_a_private_twin_answers_outsiders_403_without_waking() -> None:
    twin = FakeTwin(policy=Policy(hold_seconds=0.2, wake_allowed_from=("10.0.0.0/8",)))
    server = WakerServer(twin)
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", trust_env=False, timeout=10) as client:
            page = {"accept": "text/html", "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}
            outsider = client.get("/", headers=page)  # 127.0.0.1, outside 10.0.0.0/8
            assert outsider.status_code == 403 and "private" in outsider.text
            assert "request_wake" not in twin.calls
            # The edge appends the address it saw: that one counts.
            inside = client.get("/", headers={**page, "X-Forwarded-For": "198.51.100.9, 10.2.3.4"})
            assert inside.status_code == 503 and twin.calls.count("request_wake") == 1
    finally:
        server.close()


@dataclass
class FakeInternal:
    """The internal-wake side: one service, `osrm`, asleep; records each wake."""

    wake_secret: str = "wake-secret"
    internal_service_names: list[str] = field(default_factory=lambda: ["osrm"])
    woken: list[str] = field(default_factory=list)

    def wake_internal(self, name: str) -> ServiceWake:
        self.woken.append(name)
        return ServiceWake(healthy=False, ready_in_seconds=4.5)


@pytest.fixture
def internal_client(twin: FakeTwin) -> Iterator[tuple[httpx.Client, FakeInternal]]:
    internal = FakeInternal()
    backend: InternalWakeBackend = internal  # mypy checks the fake here
    server = WakerServer(twin, internal=backend)
    server.start()
    try:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=10) as client:
            yield client, internal
    finally:
        server.close()


def test_an_internal_wake_needs_the_secret_and_a_known_service(
    internal_client: tuple[httpx.Client, FakeInternal], twin: FakeTwin
) -> None:
    client, internal = internal_client
    path = "/route/v1/driving/2.29,48.85;2.33,48.86"  # the caller's Caddy sends the call as it came
    for secret in ("", "wrong"):
        refused = client.get(
            path, headers={"X-Warmkeeper-Service": "osrm", "X-Warmkeeper-Wake-Secret": secret}
        )
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    unknown = client.get(
        path, headers={"X-Warmkeeper-Service": "geo", "X-Warmkeeper-Wake-Secret": "wake-secret"}
    )
    assert unknown.status_code == 404 and "'geo'" in unknown.json()["message"]
    assert internal.woken == [] and twin.calls == []
    woken = client.get(
        path, headers={"X-Warmkeeper-Service": "osrm", "X-Warmkeeper-Wake-Secret": "wake-secret"}
    )
    # The fake's 4.5 s estimate, rounded up, plus the slack every cold answer gets.
    assert woken.status_code == 503 and woken.headers["Retry-After"] == "10"
    assert woken.json() == {"service": "osrm", "state": "waking", "retry_after": 10}
    # The service alone: the app's controller was not asked for anything.
    assert internal.woken == ["osrm"] and twin.calls == []


def test_the_edge_waker_takes_the_internal_headers_for_an_ordinary_request(
    client: httpx.Client, twin: FakeTwin
) -> None:
    # As the Lambda behind the front door: only its function URL (here the internal waker's own port)
    # answers internal wakes; through the edge the same headers are a visitor's cold request.
    answer = client.get(
        "/x",
        headers={
            "X-Warmkeeper-Service": "osrm",
            "X-Warmkeeper-Wake-Secret": "wake-secret",
            "User-Agent": "t",
        },
    )
    assert answer.status_code == 503 and answer.json()["error"] == "waking" and "service" not in answer.json()
    assert "request_wake" in twin.calls
