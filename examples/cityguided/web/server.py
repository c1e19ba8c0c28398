"""Serve the CityGuided static page: `python -m web.server --host 127.0.0.1 --port 3000`.

Standard library only, so the image needs nothing but Python. `/healthz` answers ``ok`` for the
container health check; every other path is a file under ``static/`` (``/`` is ``index.html``).

Every response carries ``X-App-Version``: the ``APP_VERSION`` the process started with (``dev``
when unset), so a client can tell which release served it during a rolling deploy.

SIGTERM and SIGINT stop it gracefully: the listening socket stops accepting, requests already being
answered finish, idle keep-alive connections (from Caddy) are closed, then the process exits 0. This
is what lets ECS (and the local twin) stop a task without cutting a response in half.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType

STATIC_DIR = Path(__file__).with_name("static")
APP_VERSION = os.environ.get("APP_VERSION") or "dev"


class WebHandler(SimpleHTTPRequestHandler):
    server_version = "cityguided-web"
    sys_version = ""
    protocol_version = "HTTP/1.1"  # keep-alive with the proxy in front
    # Headers and body leave in separate writes: without TCP_NODELAY the body waits for the proxy's
    # delayed ACK (40 ms on Linux) on every keep-alive request.
    disable_nagle_algorithm = True
    server: WebServer
    idle = True  # waiting for the next request on a keep-alive connection

    def setup(self) -> None:
        super().setup()
        self.server.track(self)

    def finish(self) -> None:
        self.server.untrack(self)
        super().finish()

    def handle_one_request(self) -> None:
        self.idle = True
        if self.server.stopping:
            self.close_connection = True
            return
        super().handle_one_request()

    def parse_request(self) -> bool:
        self.idle = False  # a request line arrived: from now on this connection is busy
        return super().parse_request()

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/healthz":
            self._send_text(HTTPStatus.OK, "ok\n")
            return
        super().do_GET()

    def do_HEAD(self) -> None:
        if self.path.split("?", 1)[0] == "/healthz":
            self._send_text(HTTPStatus.OK, "", head=True)
            return
        super().do_HEAD()

    def end_headers(self) -> None:
        # The page is tiny and changes with each release: always revalidate.
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "same-origin")
        self.send_header("X-App-Version", APP_VERSION)
        super().end_headers()

    def _send_text(self, status: HTTPStatus, text: str, head: bool = False) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"web: {self.address_string()} {format % args}\n")


class WebServer(ThreadingHTTPServer):
    # Request threads are joined on close: in-flight responses finish before the process exits.
    daemon_threads = False
    block_on_close = True
    request_queue_size = 128
    stopping = False

    def server_bind(self) -> None:
        super().server_bind()
        self._handlers: set[WebHandler] = set()
        self._handlers_lock = threading.Lock()

    def track(self, handler: WebHandler) -> None:
        with self._handlers_lock:
            self._handlers.add(handler)

    def untrack(self, handler: WebHandler) -> None:
        with self._handlers_lock:
            self._handlers.discard(handler)

    def stop_gracefully(self) -> None:
        """Stop accepting, close idle keep-alive connections; busy ones close after their response."""
        self.stopping = True
        self.shutdown()
        with self._handlers_lock:
            idle = [h for h in self._handlers if h.idle]
        for handler in idle:
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)


def make_server(host: str, port: int, directory: Path = STATIC_DIR) -> WebServer:
    return WebServer((host, port), partial(WebHandler, directory=str(directory)))


def serve(host: str, port: int) -> None:
    server = make_server(host, port)

    def stop(signum: int, _frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return, which runs in this very thread: call it
        # from another thread or it would wait for itself.
        sys.stderr.write(f"web: signal {signal.Signals(signum).name}, finishing in-flight requests\n")
        threading.Thread(target=server.stop_gracefully, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    bound_host, bound_port = server.server_address[:2]
    sys.stderr.write(f"web: serving {STATIC_DIR} on http://{bound_host!s}:{bound_port}\n")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()  # joins the request threads
    sys.stderr.write("web: stopped\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m web.server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="port to bind (default: 3000)")
    args = parser.parse_args(argv)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
