"""What `warmkeeper status / wake / sleep / keepalive` need from a running environment.

Two implementations share this protocol: one drives AWS through boto3 (``warmkeeper.aws``), one
drives the local twin over HTTP (``warmkeeper.local``). The CLI talks to the protocol only, so the
commands behave the same against both. The report it returns is core's
(:class:`warmkeeper.core.report.StatusReport`), built the same way by both.
"""

from __future__ import annotations

from typing import Protocol

from warmkeeper.core.report import StatusReport, TaskStatus

__all__ = ["ServiceControl", "StatusReport", "TaskStatus"]


class ServiceControl(Protocol):
    """Operations on one running environment (AWS or the local twin)."""

    def status(self) -> StatusReport: ...

    def wake(self) -> str:
        """Ask for one task if there is none (idempotent); return a one-line account."""
        ...

    def sleep(self, force: bool = False) -> str:
        """Route to the waker, then scale to zero. Without force the sleep guards apply."""
        ...

    def keepalive(self, minutes: int) -> str:
        """Wake if needed and hold warm for `minutes` (a lease)."""
        ...
