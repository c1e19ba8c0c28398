"""Module-scoped example processes: the API and the web server on free loopback ports."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.example.support import FakeOsrm, Running, start_api, start_osrm, start_web
from warmkeeper.local.loopback import free_port


@pytest.fixture(scope="module")
def api() -> Iterator[Running]:
    running = start_api(free_port())
    try:
        running.wait_ready("/api/health")
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def web() -> Iterator[Running]:
    running = start_web(free_port())
    try:
        running.wait_ready("/healthz")
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def osrm() -> Iterator[Running]:
    """The local OSRM stand-in over the bundled synthetic map."""
    running = start_osrm(free_port())
    try:
        running.wait_ready("/health")
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def fake_osrm() -> Iterator[FakeOsrm]:
    """A scriptable fake OSRM in this process (see FakeOsrm), one per test module."""
    fake = FakeOsrm()
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.released.set()
    fake.shutdown()
    fake.server_close()
