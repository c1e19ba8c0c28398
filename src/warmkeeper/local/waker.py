"""The twin's waker: the local stand-in for the warmkeeper Lambda behind the ALB.

A small threaded HTTP server (standard library) on a loopback port; the edge sends it every
``/_warmkeeper/*`` request and, while the service sleeps, every other request. Each ordinary request
is classified and answered by the Lambda's own controller, :func:`warmkeeper.core.hold.answer_cold_request`
(waiting page, hold then 307, 503 with Retry-After from the wake estimate, bots ignored), through
this module's :class:`~warmkeeper.core.hold.HoldPort`. The one difference is how a held request
waits: the Lambda sleeps until its next poll; here the pause ends early when the controller changes
the view, so a held request is released as soon as traffic goes to a healthy task.

The endpoints are those of the Lambda (``GET /_warmkeeper/status``, ``POST /_warmkeeper/keepalive``)
plus, for ``warmkeeper wake|sleep --env local``, ``POST /_warmkeeper/wake`` and
``POST /_warmkeeper/sleep`` (on AWS those go through the ECS and ELB APIs instead), for
``warmkeeper deploy --env local``, ``POST /_warmkeeper/deploy`` (start one) and
``GET /_warmkeeper/deploy?id=ID&since=N`` (follow it), and ``GET /_warmkeeper/twin`` (the twin's own
counters, for tests and benchmarks). Every mutating endpoint, the deploy's progress and the twin's
counters (both carry the app's output) need the keep-alive token as ``Authorization: Bearer TOKEN``.

An app with internal services gets a second server of this class, given an
:class:`InternalWakeBackend`: it answers internal wakes only, on a port of its own that the app's
tasks are told of (``WARMKEEPER_WAKER``, the Lambda's function URL on AWS), with
:func:`warmkeeper.core.internal_wake.answer_internal_wake`. The edge's waker never answers one.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from warmkeeper.core import (
    ENDPOINT_PREFIX,
    EndpointRefusal,
    HttpResponse,
    IncomingRequest,
    Policy,
    RequestKind,
    StatusReport,
    bad_request,
    classify_request,
    json_response,
    keepalive_minutes,
    not_found,
    query_value,
    require_method,
    require_token,
)
from warmkeeper.core.hold import ColdView, answer_cold_request
from warmkeeper.core.internal_wake import (
    SERVICE_HEADER,
    WAKE_SECRET_HEADER,
    ServiceWake,
    answer_internal_wake,
)
from warmkeeper.local.loopback import LOOPBACK
from warmkeeper.local.rollout import DeployRequestError

WAKE_PATH = f"{ENDPOINT_PREFIX}wake"
SLEEP_PATH = f"{ENDPOINT_PREFIX}sleep"
DEPLOY_PATH = f"{ENDPOINT_PREFIX}deploy"
TWIN_PATH = f"{ENDPOINT_PREFIX}twin"
MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True)
class TwinView:
    """What the waker needs to answer a cold request: the shared controller's view of the twin, and
    a `version` that changes whenever the answer may change (a held request's pause ends then)."""

    version: int
    cold: ColdView


class Serializable(Protocol):
    """A record the waker answers with as JSON (a deploy, the twin's counters)."""

    def to_json(self) -> dict[str, Any]: ...


class WakerBackend(Protocol):
    """What the waker needs of the twin behind it (the twin is the one implementation; tests may
    bring another). The waker never imports the twin: the twin builds the waker and hands itself in."""

    @property
    def policy(self) -> Policy: ...

    @property
    def token(self) -> str: ...

    @property
    def app_name(self) -> str: ...

    def view(self) -> TwinView: ...

    def wait_for_change(self, version: int, timeout: float) -> None:
        """Return when the view's version is no longer `version`, or after `timeout` seconds."""
        ...

    def notify_waiters(self) -> None:
        """Wake every held request now (the waker calls it as it closes)."""
        ...

    def emit(self, kind: str, message: str) -> None: ...

    def request_wake(self) -> None:
        """Ask for a wake and run the controller for it now (the Lambda's request step)."""
        ...

    def count_held(self, seconds: float) -> None:
        """A held request was answered after `seconds`."""
        ...

    def status_report(self) -> StatusReport: ...

    def keepalive(self, minutes: int) -> datetime: ...

    def wake(self) -> str: ...

    def sleep(self, force: bool = False) -> tuple[bool, str]: ...

    def start_deploy(self, document: object) -> Serializable:
        """Start a deploy of the request body; raises DeployRequestError to refuse it."""
        ...

    def deploy_progress(self, run_id: str, since: int = 0) -> dict[str, Any] | None: ...

    def details(self) -> Serializable: ...


class InternalWakeBackend(Protocol):
    """What the waker needs for internal wakes (calls from the app's task to a sleeping internal
    service): the secret the callers must send, the services' names, and their wake."""

    @property
    def wake_secret(self) -> str: ...

    @property
    def internal_service_names(self) -> list[str]: ...

    def wake_internal(self, name: str) -> ServiceWake:
        """Wake the service once (its own wake lock) and say how soon it should answer."""
        ...


class WakerHandler(BaseHTTPRequestHandler):
    server: WakerServer
    protocol_version = "HTTP/1.1"
    server_version = "warmkeeper-waker"
    sys_version = ""

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        # The edge's access log already records every request.
        return

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0  # a malformed length: treat as no body rather than drop the connection
        if length > MAX_BODY_BYTES:
            # Too large to read on a keep-alive connection: answer, then close it.
            self.close_connection = True
        return self.rfile.read(min(length, MAX_BODY_BYTES)) if length > 0 else b""

    def _send(self, response: HttpResponse) -> None:
        body = response.body.encode("utf-8")
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        request = IncomingRequest(
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers={k: v for k, v in self.headers.items()},
            body=self._read_body(),
            # The edge (Caddy) appends the address it saw to X-Forwarded-For; without it, the peer.
            client_address=(self.headers.get("X-Forwarded-For") or self.client_address[0])
            .split(",")[-1]
            .strip(),
        )
        try:
            response = self.server.answer(request)
        except Exception as exc:  # the waker must answer, whatever goes wrong behind it
            self.server.twin.emit("problem", f"waker error on {request.method} {request.path}: {exc!r}")
            response = json_response(500, {"error": "internal", "message": "the waker failed; see the twin"})
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._send(response)


class WakerServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a herd of cold requests must not overflow the listen backlog
    allow_reuse_address = True

    def __init__(
        self,
        twin: WakerBackend,
        port: int = 0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        internal: InternalWakeBackend | None = None,
    ) -> None:
        super().__init__((LOOPBACK, port), WakerHandler)
        self.twin = twin
        # Given: this server answers internal wakes only (the Lambda's function URL, a port of its own
        # that the app's tasks call); the edge's waker never does, whatever headers a request carries.
        self.internal = internal
        self.monotonic = monotonic  # how a held request measures its pauses (tests bring a fake clock)
        self.closing = False
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.closing = True
        self.twin.notify_waiters()  # held requests answer 503 at once instead of holding on
        if self._thread.is_alive():  # shutdown() would wait forever for a loop that never ran
            self.shutdown()
        self.server_close()

    # -- answers ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's base URL (the internal one's: where the app's tasks send internal wakes)."""
        return f"http://{LOOPBACK}:{self.port}"

    def answer(self, request: IncomingRequest) -> HttpResponse:
        if self.internal is not None:
            return self._internal_wake(self.internal, request)
        kind = classify_request(request, self.twin.policy)
        try:
            if kind is RequestKind.STATUS:
                require_method(request, "GET", "HEAD")
                return json_response(200, self.twin.status_report().to_json_dict())
            if kind is RequestKind.KEEPALIVE:
                return self._keepalive(request)
            if kind is RequestKind.UNKNOWN_ENDPOINT:
                return self._twin_endpoint(request)
        except EndpointRefusal as refused:
            return refused.response
        return self._cold(request, kind)

    def _internal_wake(self, internal: InternalWakeBackend, request: IncomingRequest) -> HttpResponse:
        """A call from the app's task that could not reach an internal service (see core.internal_wake)."""
        return answer_internal_wake(
            service=request.header(SERVICE_HEADER),
            given_secret=request.header(WAKE_SECRET_HEADER),
            secret=internal.wake_secret,
            services=internal.internal_service_names,
            wake=internal.wake_internal,
        )

    def _twin_endpoint(self, request: IncomingRequest) -> HttpResponse:
        """The endpoints the Lambda does not have; each needs the token."""
        if request.path in (WAKE_PATH, SLEEP_PATH):
            require_method(request, "POST")
            require_token(request, self.twin.token)
            return self._control(request)
        if request.path == DEPLOY_PATH:
            require_method(request, "GET", "POST")
            require_token(request, self.twin.token)
            return self._deploy(request)
        if request.path == TWIN_PATH:
            # Task output tails and process details: as private as the deploy's output.
            require_method(request, "GET", "HEAD")
            require_token(request, self.twin.token)
            return json_response(200, self.twin.details().to_json())
        return not_found(request.path)

    def _keepalive(self, request: IncomingRequest) -> HttpResponse:
        minutes = keepalive_minutes(request, self.twin.policy, lambda: self.twin.token)
        until = self.twin.keepalive(minutes)
        return json_response(
            200,
            {
                "lease_until": until.isoformat(),
                "minutes": minutes,
                "state": self.twin.view().cold.state.value,
            },
        )

    def _control(self, request: IncomingRequest) -> HttpResponse:
        if request.path == WAKE_PATH:
            return json_response(200, {"message": self.twin.wake()})
        force = query_value(request.query, "force") in ("1", "true", "yes")
        ok, message = self.twin.sleep(force=force)
        return json_response(200 if ok else 409, {"message": message, "slept": ok})

    def _deploy(self, request: IncomingRequest) -> HttpResponse:
        if request.method == "GET":
            run_id = query_value(request.query, "id") or ""
            try:
                since = int(query_value(request.query, "since") or 0)
            except ValueError:
                return bad_request("since: a whole number")
            progress = self.twin.deploy_progress(run_id, since)
            if progress is None:
                return json_response(404, {"error": "not_found", "message": f"no deploy {run_id!r}"})
            return json_response(200, progress)
        try:
            document = json.loads(request.body or b"null")
        except ValueError:
            return bad_request("the body is not JSON")
        try:
            run = self.twin.start_deploy(document)
        except DeployRequestError as exc:
            return json_response(exc.status, {"error": "refused", "message": str(exc)})
        return json_response(202, run.to_json())

    def _cold(self, request: IncomingRequest, kind: RequestKind) -> HttpResponse:
        port = _TwinHold(self)
        return answer_cold_request(request, kind, self.twin.policy, app_name=self.twin.app_name, port=port)


class _TwinHold:
    """The waker's side of the shared hold (:class:`warmkeeper.core.hold.HoldPort`) for one request:
    a look is the twin's current view, the pause ends early when that view changes, and the twin
    shutting down is the end of the invocation (a held request gets its 503 at once)."""

    def __init__(self, server: WakerServer) -> None:
        self._server = server
        self._twin = server.twin
        self._version = 0

    def observe_first(self, wake: bool) -> ColdView:
        if wake:
            self._twin.request_wake()
        return self._look()

    def observe_after(self, waited: float) -> ColdView:
        return self._look()

    def _look(self) -> ColdView:
        view = self._twin.view()
        self._version = view.version
        return view.cold

    def pause(self, seconds: float) -> float:
        clock = self._server.monotonic
        started = clock()
        if seconds > 0 and not self._server.closing:
            self._twin.wait_for_change(self._version, seconds)
        return clock() - started

    def remaining_seconds(self) -> float | None:
        return 0.0 if self._server.closing else None

    def started_holding(self) -> None:
        return None  # the twin counts a held request when it is answered (count_held)

    def answered_after_holding(self, held_seconds: float) -> None:
        self._twin.count_held(held_seconds)
