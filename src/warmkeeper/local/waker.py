"""The twin's waker: the local stand-in for the warmkeeper Lambda behind the ALB.

A small threaded HTTP server (standard library) on a loopback port; the edge sends it every
``/_warmkeeper/*`` request and, while the service sleeps, every other request. Each ordinary request
is classified and answered by :mod:`warmkeeper.core` exactly as the Lambda answers it (waiting page,
hold then 307, 503 with Retry-After, bots ignored). The one difference is how a held request waits:
the Lambda re-reads target health every second; here the controller signals each change, so a held
request is released as soon as traffic goes to a healthy task.

The endpoints are those of the Lambda (``GET /_warmkeeper/status``, ``POST /_warmkeeper/keepalive``)
plus, for ``warmkeeper wake|sleep --env local``, ``POST /_warmkeeper/wake`` and
``POST /_warmkeeper/sleep`` (on AWS those go through the ECS and ELB APIs instead), for
``warmkeeper deploy --env local``, ``POST /_warmkeeper/deploy`` (start one) and
``GET /_warmkeeper/deploy?id=ID&since=N`` (follow it), and ``GET /_warmkeeper/twin`` (the twin's own
counters, for tests and benchmarks). Every mutating endpoint, the deploy's progress and the twin's
counters (both carry the app's output) need the keep-alive token as ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from warmkeeper.core import (
    ENDPOINT_PREFIX,
    HttpResponse,
    IncomingRequest,
    LeaseError,
    RequestKind,
    answer_while_cold,
    bearer_token,
    classify_request,
    hold_poll_delay,
    json_response,
    lease_minutes,
    method_not_allowed,
    not_found,
    token_matches,
    unavailable,
)
from warmkeeper.local.ports import LOOPBACK
from warmkeeper.local.rollout import DeployRequestError

if TYPE_CHECKING:
    from warmkeeper.local.twin import Twin

WAKE_PATH = f"{ENDPOINT_PREFIX}wake"
SLEEP_PATH = f"{ENDPOINT_PREFIX}sleep"
DEPLOY_PATH = f"{ENDPOINT_PREFIX}deploy"
TWIN_PATH = f"{ENDPOINT_PREFIX}twin"
MAX_BODY_BYTES = 1 << 20


def _unauthorized() -> HttpResponse:
    return json_response(
        401,
        {
            "error": "unauthorized",
            "message": "missing or wrong keep-alive token (Authorization: Bearer TOKEN)",
        },
        headers={"WWW-Authenticate": 'Bearer realm="warmkeeper"'},
    )


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

    def __init__(self, twin: Twin, port: int = 0) -> None:
        super().__init__((LOOPBACK, port), WakerHandler)
        self.twin = twin
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

    def answer(self, request: IncomingRequest) -> HttpResponse:
        twin = self.twin
        kind = classify_request(request, twin.policy)
        if kind is RequestKind.STATUS:
            if request.method not in ("GET", "HEAD"):
                return method_not_allowed("GET")
            return json_response(200, twin.status_report().to_json_dict())
        if kind is RequestKind.KEEPALIVE:
            return self._keepalive(request)
        if kind is RequestKind.UNKNOWN_ENDPOINT:
            if request.path in (WAKE_PATH, SLEEP_PATH):
                return self._control(request)
            if request.path == DEPLOY_PATH:
                return self._deploy(request)
            if request.path == TWIN_PATH:
                # Task output tails and process details: as private as the deploy's output.
                if request.method not in ("GET", "HEAD"):
                    return method_not_allowed("GET")
                if not self._authorized(request):
                    return _unauthorized()
                return json_response(200, twin.details())
            return not_found(request.path)
        return self._cold(request, kind)

    def _authorized(self, request: IncomingRequest) -> bool:
        return token_matches(bearer_token(request.header("authorization")), self.twin.token)

    def _keepalive(self, request: IncomingRequest) -> HttpResponse:
        if request.method != "POST":
            return method_not_allowed("POST")
        if not self._authorized(request):
            return _unauthorized()
        try:
            minutes = lease_minutes(_first(request.query, "minutes"), self.twin.policy)
        except LeaseError as exc:
            return json_response(400, {"error": "bad_request", "message": str(exc)})
        until = self.twin.keepalive(minutes)
        return json_response(
            200, {"lease_until": until.isoformat(), "minutes": minutes, "state": self.twin.view().state.value}
        )

    def _control(self, request: IncomingRequest) -> HttpResponse:
        if request.method != "POST":
            return method_not_allowed("POST")
        if not self._authorized(request):
            return _unauthorized()
        if request.path == WAKE_PATH:
            return json_response(200, {"message": self.twin.wake()})
        force = _first(request.query, "force") in ("1", "true", "yes")
        ok, message = self.twin.sleep(force=force)
        return json_response(200 if ok else 409, {"message": message, "slept": ok})

    def _deploy(self, request: IncomingRequest) -> HttpResponse:
        if request.method not in ("GET", "POST"):
            return method_not_allowed("GET, POST")
        if not self._authorized(request):
            return _unauthorized()
        if request.method == "GET":
            run_id = _first(request.query, "id") or ""
            try:
                since = int(_first(request.query, "since") or 0)
            except ValueError:
                return json_response(400, {"error": "bad_request", "message": "since: a whole number"})
            progress = self.twin.deploy_progress(run_id, since)
            if progress is None:
                return json_response(404, {"error": "not_found", "message": f"no deploy {run_id!r}"})
            return json_response(200, progress)
        try:
            document = json.loads(request.body or b"null")
        except ValueError:
            return json_response(400, {"error": "bad_request", "message": "the body is not JSON"})
        try:
            run = self.twin.start_deploy(document)
        except DeployRequestError as exc:
            return json_response(exc.status, {"error": "refused", "message": str(exc)})
        return json_response(202, run.to_json())

    def _cold(self, request: IncomingRequest, kind: RequestKind) -> HttpResponse:
        twin = self.twin
        policy = twin.policy
        started = time.monotonic()
        rounds = 0
        while True:
            rounds += 1
            view = twin.view()
            held = time.monotonic() - started
            answer = answer_while_cold(
                request,
                kind,
                policy,
                app_name=twin.cfg.app.name,
                state=view.state,
                ready=view.ready,
                held_seconds=held,
                wake_elapsed_seconds=view.wake_elapsed_seconds,
                wake_failed=view.wake_failed,
            )
            if answer.wake:
                twin.request_wake()
            if answer.response is not None:
                if rounds > 1:
                    twin.count_held(held)
                return answer.response
            if self.closing:
                return unavailable(view.state, policy.retry_after_seconds, "The local twin is shutting down.")
            # Wait for the controller's next change (or the Lambda's poll period, whichever is first).
            twin.wait_for_change(view.version, hold_poll_delay(held, policy))


def _first(query: str, name: str) -> str | None:
    values = parse_qs(query, keep_blank_values=True).get(name)
    return values[0] if values else None
