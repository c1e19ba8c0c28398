"""The twin's internal services: the service's task config and policy, the callers' variables, and one
service's own controller with real processes (woken by a call, reachable at its stable address,
asleep again after its own idle time)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from warmkeeper.config import AppConfig, load_config, parse_config
from warmkeeper.core import Routing, State
from warmkeeper.local.runtimes import ProcessRuntime
from warmkeeper.local.supervisor import dependency_met, run_to_completion
from warmkeeper.local.twin_services import (
    TwinInternalService,
    caller_environment,
    service_task_config,
    service_twin_policy,
    with_task_environment,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cityguided" / "warmkeeper.toml"


def test_a_service_task_runs_the_service_containers_only() -> None:
    cfg = load_config(EXAMPLE)
    task = service_task_config(cfg, "osrm")
    assert [c.name for c in task.containers] == ["osrm-data", "osrm"]
    assert task.entry_container.name == "osrm" and task.services == []
    assert task.base_dir == cfg.base_dir  # local commands run from the same folder


def test_the_service_policy_is_its_own_with_the_twin_idle_override() -> None:
    cfg = load_config(EXAMPLE)
    policy = service_twin_policy(cfg, "osrm", "local")
    assert policy.idle_minutes == 2  # [services.environments.local], not the app's 1 minute
    assert policy.min_warm_minutes == 2  # the app's 2 min of min_warm, capped at the idle time
    assert policy.wake_allowed_from == ()
    short = service_twin_policy(cfg, "osrm", "local", idle_seconds=5)
    assert short.idle_minutes == pytest.approx(5 / 60) and short.min_warm_minutes == pytest.approx(5 / 60)


def test_every_container_of_the_calling_task_gets_the_service_variables() -> None:
    cfg = load_config(EXAMPLE)
    variables = caller_environment({"osrm": ("127.0.0.1", 41234)}, "http://127.0.0.1:40000", "sekret")
    assert variables == {
        "WARMKEEPER_OSRM_HOST": "127.0.0.1",
        "WARMKEEPER_OSRM_PORT": "41234",
        "WARMKEEPER_WAKER": "http://127.0.0.1:40000",
        "WARMKEEPER_WAKE_SECRET": "sekret",
    }
    assert caller_environment({}, "http://127.0.0.1:40000", "sekret") == {}
    changed = with_task_environment(cfg, variables)
    for container in changed.containers:
        assert container.local is not None
        assert variables.items() <= container.local.environment.items()
        assert variables.items() <= container.environment.items()
    # What the file says stays: the caddy's own local variables, the api's task variables.
    assert changed.container("caddy").local.environment["API_UPSTREAM"] == "127.0.0.1:{port:api}"  # type: ignore[union-attr]
    assert changed.container("api").environment["OSRM_URL"] == "http://127.0.0.1:5000"
    assert with_task_environment(cfg, {}) is cfg


def test_the_app_task_gets_a_port_of_its_own_for_each_service() -> None:
    cfg = load_config(EXAMPLE)
    with httpx.Client() as client:
        ports, entry = ProcessRuntime(client).ports(cfg)
    assert set(ports) == {"caddy", "api", "web", "osrm"}
    assert len(set(ports.values())) == 4 and entry == ports["caddy"]


def test_one_off_containers_and_their_conditions() -> None:
    cfg = load_config(EXAMPLE)
    containers = cfg.service("osrm").containers
    assert run_to_completion(containers) == {"osrm-data": "success"}
    osrm = next(c for c in containers if c.name == "osrm")
    # osrm waits for osrm-data to have exited successfully, not merely started.
    assert not dependency_met(osrm, "osrm-data", {"osrm-data": 0.0}, set())
    assert dependency_met(osrm, "osrm-data", {"osrm-data": 0.0}, {"osrm-data"})
    assert run_to_completion(cfg.containers) == {}


def tiny_app(folder: Path, data_exit: int = 0) -> AppConfig:
    """An app whose internal service is a one-off container and a Python HTTP server."""
    document = {
        "app": {"name": "tiny"},
        "containers": [
            {
                "name": "web",
                "image": "example/web:1",
                "port": 8000,
                "entry": True,
                "health": {"path": "/"},
                "local": {"command": [sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"]},
            }
        ],
        "services": [
            {
                "name": "calc",
                "containers": [
                    {
                        "name": "calc-data",
                        "image": "example/data:1",
                        "port": 5001,
                        "health": {"path": "/"},
                        "local": {"command": [sys.executable, "-c", f"raise SystemExit({data_exit})"]},
                    },
                    {
                        "name": "calc",
                        "image": "example/calc:1",
                        "port": 5000,
                        "entry": True,
                        "depends_on": ["calc-data"],
                        "dependency_conditions": {"calc-data": "success"},
                        "health": {"path": "/"},
                        "local": {
                            "command": [sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
                        },
                    },
                ],
            }
        ],
    }
    return parse_config(document, folder / "warmkeeper.toml")


def wait_until(check: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_call_wakes_the_service_alone_and_it_sleeps_after_its_own_idle_time(tmp_path: Path) -> None:
    cfg = tiny_app(tmp_path)
    events: list[str] = []
    service = TwinInternalService(
        cfg,
        "calc",
        service_twin_policy(cfg, "calc", "local", idle_seconds=1.5),
        on_event=lambda k, m: events.append(m),
    )
    service.start()
    host, port = service.address
    try:
        assert service.reconcile().state is State.COLD and service.service.desired == 0
        first = service.request_wake()
        assert not first.healthy and first.ready_in_seconds > 0
        assert service.service.desired == 1 and service.state is State.WAKING
        again = service.request_wake()  # a second call during the wake asks for nothing more
        assert service.service.desired == 1 and not again.healthy

        def reachable() -> bool:
            service.reconcile()
            return service.proxy.routing is Routing.SERVICE

        wait_until(reachable)
        assert httpx.get(f"http://{host}:{port}/", trust_env=False, timeout=5).status_code == 200
        assert service.request_wake().healthy  # asked again while up: the caller's view lags
        # The one-off container ran to completion; the task is healthy without it running.
        (task,) = service.service.snapshot().healthy_tasks
        assert task.exit_codes()["calc-data"] == 0 and task.exit_codes()["calc"] is None
        status = service.status()
        assert status.state == "WARM" and status.wakes == 1 and status.wake_calls == 3

        # Calls keep it awake past its idle time.
        for _ in range(4):
            time.sleep(0.5)
            httpx.get(f"http://{host}:{port}/", trust_env=False, timeout=5)
            assert service.reconcile().state is State.WARM and not service.reconcile().sleeping

        def asleep() -> bool:
            service.reconcile()
            return service.service.snapshot().running == 0 and service.state is State.COLD

        wait_until(asleep)
        assert service.status().sleeps == 1
        with pytest.raises(httpx.TransportError):  # its address refuses: a caller goes to the waker
            httpx.get(f"http://{host}:{port}/", trust_env=False, timeout=5)
    finally:
        service.close()
    assert service.leftovers() == []
    assert any("calc: idle" in e for e in events)


def test_a_failed_one_off_container_fails_the_task(tmp_path: Path) -> None:
    cfg = tiny_app(tmp_path, data_exit=3)
    service = TwinInternalService(
        cfg, "calc", service_twin_policy(cfg, "calc", "local"), on_event=lambda k, m: None, max_attempts=1
    )
    service.start()
    try:
        service.request_wake()
        wait_until(lambda: service.service.snapshot().gave_up)
        failure = service.service.snapshot().last_failure
        assert failure is not None and failure.container == "calc-data"
        assert "exited with code 3" in failure.reason
    finally:
        service.close()


def test_last_call_counts_as_activity() -> None:
    # The waker's call itself is activity: a service asked for while its caller's view lags stays up.
    cfg = load_config(EXAMPLE)
    service = TwinInternalService(
        cfg, "osrm", service_twin_policy(cfg, "osrm", "local"), on_event=lambda k, m: None
    )
    try:
        before = datetime.now(UTC) - timedelta(seconds=1)
        service._memory.last_call_at = datetime.now(UTC)
        observed = service._observe(datetime.now(UTC), consume_pending=False)
        assert observed.last_activity_at is not None and observed.last_activity_at > before
    finally:
        service.close()


def two_services(folder: Path, app_wakes_with: list[str]) -> AppConfig:
    """The tiny app with a second service `geo`, which `calc` wakes with itself (`wake_with`)."""
    document = tiny_app(folder).model_dump(mode="json")
    document["app"]["wake_with"] = app_wakes_with
    entry = next(c for c in document["services"][0]["containers"] if c.get("entry"))
    geo = {**entry, "name": "geo", "depends_on": [], "dependency_conditions": {}}
    document["services"][0]["wake_with"] = ["geo"]
    document["services"].append(
        {**document["services"][0], "name": "geo", "wake_with": [], "containers": [geo]}
    )
    return parse_config(document, folder / "warmkeeper.toml")


@pytest.mark.parametrize("app_wakes_with", [["calc"], []])
def test_wake_with_wakes_the_listed_services_with_their_caller(
    tmp_path: Path, app_wakes_with: list[str]
) -> None:
    """`[app] wake_with`: the app's wake asks for those services too; a service's wake asks for its own
    `wake_with` (nothing is started here: the desired counts are what is asked)."""
    from warmkeeper.local.loopback import free_port
    from warmkeeper.local.twin import Twin, TwinOptions, _TwinActuators

    cfg = two_services(tmp_path, app_wakes_with)
    twin = Twin(cfg, cfg.environment("local"), TwinOptions(port=free_port(), state_dir=tmp_path))
    try:
        desired = lambda: {name: s.service.desired for name, s in twin.internal.items()}  # noqa: E731
        assert desired() == {"calc": 0, "geo": 0}
        _TwinActuators(twin, datetime.now(UTC)).scale_up(1)
        assert twin.service.desired == 1
        if app_wakes_with:
            # calc with the app, geo with calc; a wake along is not a call.
            assert desired() == {"calc": 1, "geo": 1}
            assert twin.internal["calc"].status().wake_calls == 0
        else:
            assert desired() == {"calc": 0, "geo": 0}  # the app's wake leaves them asleep
            twin.wake_internal("geo")
            assert desired() == {"calc": 0, "geo": 1}  # geo lists nothing
            woken = twin.wake_internal("calc")
            assert not woken.healthy and desired() == {"calc": 1, "geo": 1}
            assert twin.internal["calc"].status().wake_calls == 1
    finally:
        assert twin.stop() == []
