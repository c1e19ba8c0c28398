"""The edge's Caddy config and routing files, built without starting anything."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from warmkeeper.local.edge import (
    ACCESS_LOGGER,
    ROUTE_FIELD,
    UPSTREAM_FIELD,
    admin_listen,
    edge_config,
    in_flight_by_address,
    private_admin_socket,
    target_addresses,
    target_files,
)

RUNTIME = Path("/tmp/warmkeeper-twin-abc")
ADMIN_SOCKET = RUNTIME / "edge-admin-xyz" / "admin.sock"


def config(slots: int = 1, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "listen_port": 8080,
        "admin_socket": ADMIN_SOCKET,
        "waker_port": 4000,
        "targets": target_files(RUNTIME, slots),
        "grace_seconds": 30,
    }
    arguments.update(overrides)
    return edge_config(**arguments)


def routes(document: dict[str, Any]) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = document["apps"]["http"]["servers"]["edge"]["routes"]
    return routes


def proxy_of(route: dict[str, Any]) -> dict[str, Any]:
    (proxy,) = [h for h in route["handle"] if h["handler"] == "reverse_proxy"]
    return proxy


def test_control_paths_always_reach_the_waker_first() -> None:
    control, ordinary = routes(config())
    assert control["match"] == [{"path": ["/_warmkeeper/*"]}]
    assert control["terminal"] is True
    assert [u["dial"] for u in proxy_of(control)["upstreams"]] == ["127.0.0.1:4000"]
    assert "match" not in ordinary  # everything else


def test_ordinary_traffic_dials_the_addresses_written_in_the_target_files() -> None:
    _control, ordinary = routes(config(slots=3))
    dials = [u["dial"] for u in proxy_of(ordinary)["upstreams"]]
    assert dials == [f"{{file.{RUNTIME}/target-{n}}}" for n in range(3)]
    # A refused dial (a task that just went away) is retried on whatever the files say by then.
    balancing = proxy_of(ordinary)["load_balancing"]
    assert balancing["try_duration"] == "3s" and balancing["selection_policy"]["policy"] == "round_robin"


def test_access_log_names_the_route_and_the_upstream_that_answered() -> None:
    document = config()
    control, ordinary = routes(document)
    assert {"handler": "log_append", "key": ROUTE_FIELD, "value": "control"} in control["handle"]
    assert {"handler": "log_append", "key": ROUTE_FIELD, "value": "ordinary"} in ordinary["handle"]
    upstream = [h for h in ordinary["handle"] if h.get("key") == UPSTREAM_FIELD]
    assert upstream == [
        {"handler": "log_append", "key": UPSTREAM_FIELD, "value": "{http.reverse_proxy.upstream.hostport}"}
    ]
    logs = document["logging"]["logs"]
    assert logs[ACCESS_LOGGER]["writer"] == {"output": "stdout"}
    assert f"http.log.access.{ACCESS_LOGGER}" in logs["default"]["exclude"]


def test_the_public_port_listens_where_asked() -> None:
    document = config(listen_host="0.0.0.0")
    server = document["apps"]["http"]["servers"]["edge"]
    assert server["listen"] == ["0.0.0.0:8080"]
    assert server["automatic_https"] == {"disable": True}
    assert document["apps"]["http"]["grace_period"] == 30 * 10**9


def test_admin_listens_on_a_unix_socket_in_a_private_directory_and_on_no_tcp_address(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    runtime.chmod(0o777)  # even a runtime directory open to all gives a private socket directory
    previous_umask = os.umask(0)
    try:
        socket = private_admin_socket(runtime)
    finally:
        os.umask(previous_umask)
    assert socket.name == "admin.sock" and socket.parent.parent == runtime
    assert stat.S_IMODE(socket.parent.stat().st_mode) == 0o700
    assert not socket.exists()  # Caddy creates it
    assert private_admin_socket(runtime).parent != socket.parent  # a new directory per edge

    admin = config(admin_socket=socket)["admin"]
    assert admin == {"listen": f"unix/{socket}|0600", "config": {"persist": False}}
    assert admin["listen"].startswith("unix//")  # Caddy's network/address form, absolute path
    # Nothing in the admin block names a host or a port Caddy could bind on TCP.
    assert "127.0.0.1" not in str(admin) and "localhost" not in str(admin) and "tcp" not in str(admin)


def test_admin_socket_paths_caddy_would_misread_are_refused() -> None:
    with pytest.raises(ValueError, match="absolute"):
        admin_listen(Path("run/admin.sock"))
    with pytest.raises(ValueError, match="file-mode suffix"):
        admin_listen(Path("/tmp/a|b/admin.sock"))
    with pytest.raises(ValueError, match="103 bytes"):
        admin_listen(Path("/tmp") / ("d" * 100) / "admin.sock")
    with pytest.raises(ValueError, match="absolute"):
        config(admin_socket=Path("admin.sock"))


def test_a_config_needs_a_target_file() -> None:
    with pytest.raises(ValueError, match="at least one target file"):
        config(targets=[])


def test_target_files_refuse_braces_that_would_end_the_placeholder() -> None:
    assert target_files(RUNTIME, 2) == [RUNTIME / "target-0", RUNTIME / "target-1"]
    with pytest.raises(ValueError, match="braces"):
        target_files(Path("/tmp/a}b"), 1)
    with pytest.raises(ValueError, match="at least one"):
        target_files(RUNTIME, 0)


@pytest.mark.parametrize(
    ("ports", "slots", "expected"),
    [
        ((), 1, ["127.0.0.1:4000"]),
        ((), 2, ["127.0.0.1:4000", "127.0.0.1:4000"]),
        ((5001,), 1, ["127.0.0.1:5001"]),
        ((5001,), 3, ["127.0.0.1:5001"] * 3),
        ((5001, 5002), 3, ["127.0.0.1:5001", "127.0.0.1:5002", "127.0.0.1:5001"]),
        ((5001, 5002, 5003), 2, ["127.0.0.1:5001", "127.0.0.1:5002"]),
    ],
)
def test_target_addresses_are_the_waker_or_the_healthy_ports_in_turn(
    ports: tuple[int, ...], slots: int, expected: list[str]
) -> None:
    assert target_addresses(ports, 4000, slots) == expected


def test_in_flight_counts_come_from_caddys_upstream_list() -> None:
    answer = [
        {"address": "{file./tmp/x/target-0}", "num_requests": 3, "fails": 0},
        {"address": "127.0.0.1:5001", "num_requests": 2, "fails": 0},
        {"address": "127.0.0.1:5002", "num_requests": 1, "fails": 1},
        {"address": "127.0.0.1:5001", "num_requests": 1},
        {"num_requests": 9},
        "garbage",
    ]
    counts = in_flight_by_address(answer)
    assert counts["127.0.0.1:5001"] == 3 and counts["127.0.0.1:5002"] == 1
    assert "127.0.0.1:5003" not in counts  # not listed: nothing in flight
    assert in_flight_by_address({"error": "x"}) == {}


def test_the_http_api_model_does_not_retry_a_refused_upstream() -> None:
    """API Gateway's VPC link integration answers 503 for an instance that refuses the connection and
    does not try another: the twin's edge must not hide the discovery cache's race by retrying."""
    control, ordinary = routes(config(retry_service=False))
    assert "try_duration" not in proxy_of(ordinary)["load_balancing"]
    assert proxy_of(control)["load_balancing"]["try_duration"] == "3s"  # the waker's route is unchanged


def test_a_private_twin_refuses_outsiders_before_any_route() -> None:
    from warmkeeper.local.edge import edge_config

    config = edge_config(
        listen_port=8080,
        admin_socket=Path("/tmp/admin.sock"),
        waker_port=9000,
        targets=[Path("/tmp/t0")],
        allowed_from=["10.0.0.0/8"],
    )
    routes = config["apps"]["http"]["servers"]["edge"]["routes"]
    first = routes[0]
    assert first["match"] == [{"not": [{"remote_ip": {"ranges": ["10.0.0.0/8"]}}]}]
    assert first["handle"][-1]["status_code"] == 403 and first["terminal"] is True
    public = edge_config(
        listen_port=8080, admin_socket=Path("/tmp/admin.sock"), waker_port=9000, targets=[Path("/tmp/t0")]
    )
    assert len(public["apps"]["http"]["servers"]["edge"]["routes"]) == len(routes) - 1
