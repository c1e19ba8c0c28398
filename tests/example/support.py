"""Helpers to run the example app's real processes (uvicorn, web server, Caddy) on free loopback ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from warmkeeper.local.loopback import free_port, port_is_free

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "cityguided"
VENV_BIN = Path(sys.executable).parent


def port_is_bound(port: int) -> bool:
    """True when a socket is bound to the port (connections in TIME_WAIT do not count)."""
    return not port_is_free(port)


class Running:
    """A started example process; `stop()` sends SIGTERM and returns the exit code."""

    def __init__(self, argv: Sequence[str], port: int, env: Mapping[str, str] | None = None) -> None:
        self.port = port
        self.terminated = False
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"cityguided-{port}.log"
        environment = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        environment.update(env or {})
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                list(argv), cwd=EXAMPLE_DIR, env=environment, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_ready(self, path: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=2) as client:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, f"exited early:\n{self.output()}"
                try:
                    if client.get(f"http://127.0.0.1:{self.port}{path}").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        raise AssertionError(f"not ready on :{self.port}{path} within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def terminate(self) -> None:
        """SIGTERM once (a second one could land while Python is exiting and kill it)."""
        if not self.terminated and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.terminated = True

    def stop(self, timeout: float = 20) -> int:
        self.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise AssertionError(f"did not stop within {timeout} s of SIGTERM:\n{self.output()}") from None
        finally:
            self.log.unlink(missing_ok=True)


def start_api(port: int, env: Mapping[str, str] | None = None) -> Running:
    argv = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port)]
    return Running([*argv, "--timeout-graceful-shutdown", "5"], port, env=env)


def start_osrm(port: int, *extra: str) -> Running:
    """The local OSRM stand-in (osrm/server.py) over the bundled synthetic map."""
    return Running(
        [sys.executable, "-m", "osrm.server", "--host", "127.0.0.1", "--port", str(port), *extra], port
    )


def start_web(port: int) -> Running:
    return Running([sys.executable, "-m", "web.server", "--host", "127.0.0.1", "--port", str(port)], port)


def start_caddy(port: int, api_port: int, web_port: int, env: Mapping[str, str] | None = None) -> Running:
    """The example's Caddy; ``env`` adds variables (warmkeeper's, as ECS or the twin sets them)."""
    caddy = VENV_BIN / "caddy"
    return Running(
        [str(caddy), "run", "--config", "caddy/Caddyfile", "--adapter", "caddyfile"],
        port,
        env={
            "PORT": str(port),
            "API_UPSTREAM": f"127.0.0.1:{api_port}",
            "WEB_UPSTREAM": f"127.0.0.1:{web_port}",
            "CADDY_ADMIN": "off",
            # The caller site of the internal service (osrm-caller.Caddyfile): a port of its own, since
            # 5000 (its ECS default) may be taken on this machine.
            "OSRM_CALLER_PORT": str(free_port()),
            "XDG_CONFIG_HOME": str(Path(os.environ.get("TMPDIR", "/tmp")) / "wk-test-caddy"),
            "XDG_DATA_HOME": str(Path(os.environ.get("TMPDIR", "/tmp")) / "wk-test-caddy"),
            **(env or {}),
        },
    )


class FakeOsrm(ThreadingHTTPServer):
    """A fake OSRM on a free loopback port, answering the way ``mode`` says: ``cold`` (503, with
    ``retry_after`` as its Retry-After when set), ``hang``, ``drip`` (one byte every 0.2 s),
    ``error``, ``garbage``, ``invalid``, or ``ok`` (200 with ``ok_body``). ``cold_answers`` > 0 answers
    that many requests cold first. ``released`` ends the requests it holds."""

    daemon_threads = True
    mode = "cold"
    retry_after: str | None = "17"
    requests = 0
    cold_answers = 0
    ok_body = b""
    last_headers: dict[str, str] = {}  # noqa: RUF012 - replaced per request, never mutated

    def __init__(self) -> None:
        self.released = threading.Event()
        super().__init__(("127.0.0.1", free_port()), FakeOsrmHandler)


class FakeOsrmHandler(BaseHTTPRequestHandler):
    server: FakeOsrm
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.requests += 1
        self.server.last_headers = dict(self.headers.items())
        mode = "cold" if self.server.requests <= self.server.cold_answers else self.server.mode
        if mode == "hang":
            self.server.released.wait(30)
            return
        if mode == "drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                if self.server.released.wait(0.2):
                    return
                self.wfile.write(b" ")
                self.wfile.flush()
            return
        status, body = {
            "cold": (503, b'{"message": "waking up"}'),
            "error": (500, b"<html>internal error</html>"),
            "garbage": (200, b"not json"),
            "invalid": (400, b'{"code": "InvalidQuery", "message": "Query string malformed"}'),
            "ok": (200, self.server.ok_body),
        }[mode]
        self.send_response(status)
        if mode == "cold" and self.server.retry_after is not None:
            self.send_header("Retry-After", self.server.retry_after)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass
