"""The example's activity beacon with real Caddy and busybox: caddy/activity-beacon.sh, the request log
it watches and the loopback route of beacon.Caddyfile that forwards its reports to the waker.

The waker here is a loopback HTTP server that records what reaches it; on AWS it is the function URL
(the Lambda's answer is tested in tests/aws/test_engine_activity.py). busybox supplies the shell,
stat, date and wget, as the image's Alpine base does.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.example.support import EXAMPLE_DIR, Running, start_caddy
from warmkeeper.core import activity
from warmkeeper.local.loopback import free_port

SECRET = "beacon-test-secret"
BEACON = EXAMPLE_DIR / "caddy" / "activity-beacon.sh"
BUSYBOX = shutil.which("busybox")
needs_busybox = pytest.mark.skipif(
    BUSYBOX is None, reason="busybox not installed (`make podman` installs it)"
)


class FakeWaker(ThreadingHTTPServer):
    """Records each report: (monotonic time, method, path, headers)."""

    daemon_threads = True

    def __init__(self) -> None:
        self.reports: list[tuple[float, str, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", free_port()), FakeWakerHandler)

    def snapshot(self) -> list[tuple[float, str, str, dict[str, str]]]:
        with self.lock:
            return list(self.reports)


class FakeWakerHandler(BaseHTTPRequestHandler):
    server: FakeWaker
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with self.server.lock:
            self.server.reports.append(
                (time.monotonic(), self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            )
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def waker() -> Iterator[FakeWaker]:
    server = FakeWaker()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def busybox_path(tmp_path: Path) -> str:
    """A PATH of busybox applets only (as in the image): sh, stat, date, sleep, wget."""
    assert BUSYBOX is not None
    applets = tmp_path / "busybox-bin"
    applets.mkdir()
    for name in ("sh", "stat", "date", "sleep", "wget"):
        (applets / name).symlink_to(BUSYBOX)
    return str(applets)


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def idle_values(reports: list[tuple[float, str, str, dict[str, str]]]) -> list[str]:
    return [headers.get(activity.IDLE_HEADER.lower(), "") for _, _, _, headers in reports]


@needs_busybox
def test_the_beacon_reports_a_visit_at_once_and_never_a_health_check(
    tmp_path: Path, waker: FakeWaker
) -> None:
    log_file = tmp_path / "requests.log"
    port = free_port()
    env = {
        "WARMKEEPER_WAKER": f"http://127.0.0.1:{waker.server_address[1]}",
        "WARMKEEPER_WAKE_SECRET": SECRET,
        "WARMKEEPER_REQUEST_LOG_OUTPUT": f"file {log_file}",
    }
    # No upstream answers: a visit gets Caddy's 502, which is an answered request all the same.
    caddy = start_caddy(port, free_port(), free_port(), env=env)
    beacon: Running | None = None
    try:
        # Caddy listens once its 502 answers; the health checks on the way are not logged.
        wait_for(lambda: _status(port, "/healthz") == 502, 20, "Caddy listening")
        beacon = Running(
            ["sh", str(BEACON)],
            free_port(),
            env={
                "PATH": busybox_path(tmp_path),
                "PORT": str(port),
                "WARMKEEPER_REQUEST_LOG_FILE": str(log_file),
            },
        )
        # The first report comes at once, before any visit: the heartbeat says "no request yet".
        wait_for(lambda: len(waker.snapshot()) >= 1, 3, f"the first heartbeat\n{beacon.output()}")
        first = waker.snapshot()[0]
        assert first[1:3] == ("POST", activity.ACTIVITY_PATH)
        assert first[3].get("x-warmkeeper-wake-secret") == SECRET
        assert idle_values([first]) == [activity.NO_REQUEST]
        assert not log_file.exists() or log_file.stat().st_size == 0  # health checks are not logged

        # Health checks, again and again: no report (the next heartbeat is 30 s away).
        for _ in range(20):
            _status(port, "/healthz")
        time.sleep(2.5)
        assert len(waker.snapshot()) == 1

        # A visit: reported within the beacon's poll (1 s) and a report's way, with its idle time.
        visited = time.monotonic()
        assert _status(port, "/") == 502
        wait_for(lambda: len(waker.snapshot()) >= 2, 4, "the visit's report")
        at, _, _, headers = waker.snapshot()[1]
        assert at - visited < 2.5
        assert re.fullmatch(r"[0-2]", headers[activity.IDLE_HEADER.lower()])

        # Its own reports are not visits: nothing more within the report gap, though each went
        # through Caddy.
        time.sleep(activity.REPORT_GAP_SECONDS + 1)
        assert len(waker.snapshot()) == 2
    finally:
        if beacon is not None:
            beacon.stop()
        assert caddy.stop() == 0


@needs_busybox
def test_only_the_task_itself_reaches_the_beacon_route(tmp_path: Path, waker: FakeWaker) -> None:
    """From another address than loopback the route is the app's (here: no upstream, 502), never the
    waker's; from loopback it forwards, with the secret added."""
    port = free_port()
    env = {
        "WARMKEEPER_WAKER": f"http://127.0.0.1:{waker.server_address[1]}",
        "WARMKEEPER_WAKE_SECRET": SECRET,
    }
    caddy = start_caddy(port, free_port(), free_port(), env=env)
    try:
        wait_for(lambda: _status(port, "/healthz") == 502, 20, "Caddy listening")
        with httpx.Client(trust_env=False, timeout=5) as client:
            answer = client.post(
                f"http://127.0.0.1:{port}{activity.ACTIVITY_PATH}", headers={activity.IDLE_HEADER: "3"}
            )
        assert answer.status_code == 204
        [(_, method, path, headers)] = waker.snapshot()
        assert (method, path, headers["x-warmkeeper-wake-secret"]) == ("POST", activity.ACTIVITY_PATH, SECRET)
        outside = _outside_address()
        if outside is None:
            pytest.skip("no non-loopback address on this machine to call from")
        with httpx.Client(
            trust_env=False, timeout=5, transport=httpx.HTTPTransport(local_address=outside)
        ) as client:
            answer = client.post(f"http://{outside}:{port}{activity.ACTIVITY_PATH}")
        assert answer.status_code == 502
        assert len(waker.snapshot()) == 1
    finally:
        assert caddy.stop() == 0


def test_the_beacon_keeps_the_pace_the_waker_expects() -> None:
    """The script's numbers are core/activity.py's: the waker's freshness window is built on them."""
    text = BEACON.read_text()
    values = {name: int(value) for name, value in re.findall(r"^([A-Z_]+)=(\d+)", text, re.MULTILINE)}
    assert values["POLL_SECONDS"] == activity.POLL_SECONDS
    assert values["QUIET_SECONDS"] == activity.QUIET_SECONDS
    assert values["REPORT_GAP_SECONDS"] == activity.REPORT_GAP_SECONDS
    assert values["HEARTBEAT_SECONDS"] == activity.HEARTBEAT_SECONDS
    assert 2 * values["HEARTBEAT_SECONDS"] < activity.REPORT_FRESH_SECONDS


def _status(port: int, path: str) -> int:
    try:
        with httpx.Client(trust_env=False, timeout=5) as client:
            return client.get(f"http://127.0.0.1:{port}{path}").status_code
    except httpx.HTTPError:
        return 0


def _outside_address() -> str | None:
    """An address of this machine that is not loopback (the route must refuse callers from it)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, the kernel picks a source
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address
