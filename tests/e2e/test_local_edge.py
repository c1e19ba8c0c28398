"""The twin's edge alone: a real Caddy switched between two loopback upstreams without a reload."""

from __future__ import annotations

import os
import signal
import stat
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.e2e.support import wait_for
from warmkeeper.local.edge import Edge
from warmkeeper.local.loopback import free_port

pytestmark = pytest.mark.e2e

SLOW_SECONDS = 1.0


class Upstream(ThreadingHTTPServer):
    """A tiny app on a loopback port: answers its name; ``/slow`` takes a second."""

    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.name = name
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Upstream
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(SLOW_SECONDS)
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def tcp_ports_listened_by(pid: int) -> set[int]:
    """The TCP ports a process listens on: its socket descriptors matched against /proc/net/tcp{,6}."""
    inodes = set()
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(descriptor.readlink())
        except FileNotFoundError:
            # A connection closed between the listing and the read; a listening socket stays open.
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[tuple[Edge, Upstream, Upstream, Upstream]]:
    waker, blue, green = Upstream("waker"), Upstream("blue"), Upstream("green")
    events: list[tuple[str, str]] = []
    edge = Edge(
        port=free_port(),
        waker_port=waker.port,
        runtime_dir=tmp_path,
        grace_seconds=5,
        on_event=lambda kind, message: events.append((kind, message)),
    )
    try:
        edge.start()
        yield edge, waker, blue, green
    finally:
        edge.close(timeout=10)
        for upstream in (waker, blue, green):
            upstream.close()
    assert not edge.alive


def test_switch_takes_effect_at_once_without_a_reload_and_in_flight_requests_finish(
    edge: tuple[Edge, Upstream, Upstream, Upstream],
) -> None:
    front, _waker, blue, green = edge
    base = f"http://127.0.0.1:{front.port}"
    admin = front.admin()
    config_at_start = admin.get("/config/").json()
    with httpx.Client(base_url=base, trust_env=False, timeout=30) as client:
        assert client.get("/").text == "waker"
        front.route_to_service([blue.port])
        assert client.get("/").text == "blue"

        slow: dict[str, str] = {}
        thread = threading.Thread(
            target=lambda: slow.update(answer=httpx.get(f"{base}/slow", trust_env=False, timeout=30).text)
        )
        thread.start()
        wait_for(lambda: front.in_flight(blue.port) == 1, 5, "the slow request to reach blue")
        front.route_to_service([green.port])
        assert client.get("/").text == "green"  # the very next request
        assert front.in_flight(blue.port) == 1  # still answering the one it had
        thread.join(10)
        assert slow == {"answer": "blue"}
        wait_for(lambda: front.in_flight(blue.port) == 0, 5, "blue to have nothing in flight")
        front.route_to_waker()
        assert client.get("/").text == "waker"
    # Every switch was a file rename: Caddy still runs the config it was given at start.
    assert admin.get("/config/").json() == config_at_start
    assert front.switches == 4  # start, blue, green, waker


def test_clients_on_keep_alive_connections_see_no_error_across_many_switches(
    edge: tuple[Edge, Upstream, Upstream, Upstream],
) -> None:
    """The regression this design exists for: a Caddy reload per switch dropped about one request in
    30 to 75 switches under this load (idle keep-alive connections closed, SO_REUSEPORT backlog)."""
    front, _waker, blue, green = edge
    base = f"http://127.0.0.1:{front.port}"
    front.route_to_service([blue.port])
    stop = threading.Event()
    answers: Counter[str] = Counter()
    failures: list[str] = []

    def client() -> None:
        with httpx.Client(base_url=base, trust_env=False, timeout=10) as session:
            while not stop.is_set():
                try:
                    answers[session.get("/").text] += 1
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for switch in range(60):
            time.sleep(0.03)
            front.route_to_service([green.port] if switch % 2 == 0 else [blue.port])
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert failures == []
    assert answers["blue"] > 50 and answers["green"] > 50, answers
    assert set(answers) == {"blue", "green"}
    counts = front.counters
    wait_for(lambda: counts.service >= sum(answers.values()), 5, "the access log to count every request")
    assert counts.waker == 0 and counts.service_5xx == 0


def test_admin_api_answers_on_a_private_unix_socket_only_and_it_is_gone_after_stop(
    edge: tuple[Edge, Upstream, Upstream, Upstream],
) -> None:
    front, _waker, blue, _green = edge
    socket = front.admin_socket
    assert socket is not None and stat.S_ISSOCK(socket.stat().st_mode)
    assert stat.S_IMODE(socket.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(socket.stat().st_mode) == 0o600
    # Any client of this user reaches it over the socket, and the config Caddy runs keeps it there.
    transport = httpx.HTTPTransport(uds=str(socket))
    with httpx.Client(transport=transport, base_url="http://localhost", trust_env=False, timeout=10) as admin:
        running = admin.get("/config/")
        assert running.status_code == 200
        assert running.json()["admin"]["listen"] == f"unix/{socket}|0600"
        front.route_to_service([blue.port])
        assert httpx.get(f"{front.url}/", trust_env=False, timeout=10).text == "blue"
        assert admin.get("/reverse_proxy/upstreams").status_code == 200
    # The public port is Caddy's only TCP listener: no admin port (nor Caddy's default 2019).
    assert front.pid is not None
    assert tcp_ports_listened_by(front.pid) == {front.port}

    front.close(timeout=10)
    assert not front.alive
    assert not socket.exists() and not socket.parent.exists()


def test_a_killed_caddys_socket_is_removed_at_close(edge: tuple[Edge, Upstream, Upstream, Upstream]) -> None:
    front = edge[0]
    socket = front.admin_socket
    assert socket is not None and front.pid is not None
    os.kill(front.pid, signal.SIGKILL)
    wait_for(lambda: not front.alive, 5, "caddy to die")
    assert socket.exists()  # a killed Caddy cannot unlink it
    front.close(timeout=5)
    assert not socket.parent.exists()


@pytest.mark.parametrize(("allowed", "refused"), [(("10.0.0.0/8",), True), (("127.0.0.0/8",), False)])
def test_a_private_edge_refuses_outsiders_warm_or_cold(
    tmp_path: Path, allowed: tuple[str, ...], refused: bool
) -> None:
    """wake_allowed_from in the twin: real Caddy answers a client outside the ranges 403 itself,
    before the waker's route and the service's (the loopback client is outside 10.0.0.0/8)."""
    waker, blue = Upstream("waker"), Upstream("blue")
    edge = Edge(
        port=free_port(),
        waker_port=waker.port,
        runtime_dir=tmp_path,
        grace_seconds=5,
        on_event=lambda kind, message: None,
        allowed_from=allowed,
    )
    try:
        edge.start()
        with httpx.Client(base_url=f"http://127.0.0.1:{edge.port}", trust_env=False, timeout=30) as client:
            for route in ("waker", "service"):
                if route == "service":
                    edge.route_to_service([blue.port])
                for path in ("/", "/_warmkeeper/status"):
                    answer = client.get(path)
                    if refused:
                        assert answer.status_code == 403 and "private" in answer.text, (route, path)
                    else:
                        assert answer.status_code == 200, (route, path)
    finally:
        edge.close(timeout=10)
        waker.close()
        blue.close()
