"""The internal service's stable address: forwards to the routed task, resets while there is none,
and counts every byte that passes as the service's activity. Real sockets on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from warmkeeper.core.machine import Routing
from warmkeeper.local.internal_proxy import InternalProxy


class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"task on {self.server.server_address[1]}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def task() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy() -> Iterator[InternalProxy]:
    proxy = InternalProxy("osrm")
    proxy.start()
    yield proxy
    proxy.close()


def test_with_no_task_routed_a_connection_is_reset_and_no_activity_is_counted(proxy: InternalProxy) -> None:
    assert proxy.routing is Routing.WAKER
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{proxy.port}/route", trust_env=False, timeout=5)
    assert proxy.refused == 1 and proxy.connections == 0
    assert proxy.last_activity_at() is None


def test_a_routed_task_answers_through_the_stable_address_and_each_call_is_activity(
    proxy: InternalProxy, task: ThreadingHTTPServer
) -> None:
    port = task.server_address[1]
    proxy.route_to(port)
    assert proxy.routing is Routing.SERVICE
    with httpx.Client(trust_env=False, timeout=5) as client:
        first = client.get(f"http://127.0.0.1:{proxy.port}/route")
        seen = proxy.last_activity_at()
        time.sleep(0.05)
        second = client.get(f"http://127.0.0.1:{proxy.port}/route")  # the same keep-alive connection
    assert first.text == second.text == f"task on {port}"
    assert seen is not None
    later = proxy.last_activity_at()
    assert later is not None and later > seen
    assert proxy.connections == 1


def test_refusing_cuts_open_connections_and_resets_new_ones(
    proxy: InternalProxy, task: ThreadingHTTPServer
) -> None:
    proxy.route_to(task.server_address[1])
    conn = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while b"task on" not in answer:  # the whole answer, however TCP splits it
        chunk = conn.recv(4096)
        assert chunk, answer
        answer += chunk
    assert b"200 OK" in answer
    proxy.refuse()
    assert conn.recv(4096) == b""  # the keep-alive connection was closed
    conn.close()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{proxy.port}/", trust_env=False, timeout=5)


def test_a_routed_port_with_nothing_listening_is_reset_too(proxy: InternalProxy) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    proxy.route_to(dead)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{proxy.port}/", trust_env=False, timeout=5)
    assert proxy.refused == 1
