"""The twin's stand-in for an internal service's discovery: one stable loopback address per service.

On AWS the calling task's Caddy finds an internal service by its Cloud Map DNS name: while the
service has a healthy task the name resolves and the connection reaches it; at zero tasks the name
has no address and the call goes to the waker. In the twin every task gets ports of its own, so the
callers are given one stable address per service instead (``WARMKEEPER_<S>_HOST``/``_PORT``), and
this proxy plays the name:

- while the service's controller has routed it (a healthy task), each connection is forwarded, byte
  for byte, to that task's entry port;
- otherwise the connection is accepted and reset at once (no listener behind the name): the caller's
  Caddy sees its dial fail, exactly as for a refused connection, and sends the call to the waker.

Every byte that passes, either way, is activity of the service (the request log line the service's
metric filter counts on AWS): its idle clock starts again from the last one.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from datetime import UTC, datetime

from warmkeeper.core.machine import Routing
from warmkeeper.local.loopback import LOOPBACK

CHUNK_BYTES = 65536
# A connection to the task that cannot be made within this long is reset like one to no task.
CONNECT_TIMEOUT_SECONDS = 2.0


def _reset(conn: socket.socket) -> None:
    """Close with an RST rather than a FIN: the caller sees a failed connection, not an empty answer."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        conn.close()


def _cut(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class InternalProxy:
    """A TCP forwarder on a fixed loopback port to the service's current task, or a reset."""

    def __init__(self, name: str, port: int = 0) -> None:
        self.name = name
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((LOOPBACK, port))
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._target: int | None = None
        self._closed = threading.Event()
        self._open: set[socket.socket] = set()
        self.connections = 0  # forwarded to a task
        self.refused = 0  # reset: no task routed
        self._last_activity: datetime | None = None
        self._thread = threading.Thread(target=self._accept_loop, name=f"internal-{name}", daemon=True)

    # -- routing (the controller's actuators) ---------------------------------------------------------

    @property
    def routing(self) -> Routing:
        return Routing.SERVICE if self._target is not None else Routing.WAKER

    @property
    def target_port(self) -> int | None:
        return self._target

    def route_to(self, port: int) -> None:
        """New connections go to this task's entry port."""
        with self._lock:
            self._target = port

    def refuse(self) -> None:
        """New connections are reset (the service has no task the callers may reach), and the open ones
        are cut: a caller's idle keep-alive connection must not hold the stopping task (its server waits
        for its connections before it exits) nor reach it after."""
        with self._lock:
            self._target = None
            open_sockets = list(self._open)
        _cut(open_sockets)

    def last_activity_at(self) -> datetime | None:
        with self._lock:
            return self._last_activity

    def _touch(self) -> None:
        now = datetime.now(UTC)
        with self._lock:
            self._last_activity = now

    # -- serving --------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            target = self._target
            if target is None or self._closed.is_set():
                with self._lock:
                    self.refused += 1
                _reset(conn)
                continue
            threading.Thread(target=self._forward, args=(conn, target), daemon=True).start()

    def _forward(self, client: socket.socket, port: int) -> None:
        try:
            upstream = socket.create_connection((LOOPBACK, port), timeout=CONNECT_TIMEOUT_SECONDS)
        except OSError:
            with self._lock:
                self.refused += 1
            _reset(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self.connections += 1
            self._open.update((client, upstream))
        self._touch()
        back = threading.Thread(target=self._pipe, args=(upstream, client), daemon=True)
        back.start()
        self._pipe(client, upstream)
        back.join()
        with self._lock:
            self._open.difference_update((client, upstream))
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.close()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(CHUNK_BYTES)
                if not data:
                    break
                self._touch()
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Stop accepting and cut every open connection."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            open_sockets = list(self._open)
        _cut(open_sockets)
        if self._thread.is_alive():
            self._thread.join(timeout=2)
