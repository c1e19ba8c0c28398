"""`warmkeeper status|wake|sleep|keepalive --env local`: the CLI's handle on a running twin.

The twin serves the same ``/_warmkeeper/*`` endpoints as the Lambda on its edge port, and writes its
URL and keep-alive token to ``.warmkeeper/twin-PORT.json`` next to the config (mode 0600). This
class reads that file and talks HTTP to the twin, so the commands behave as they do against AWS.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from warmkeeper.config import AppConfig, EnvironmentSettings
from warmkeeper.core.errors import UserError
from warmkeeper.core.report import StatusReport, TaskStatus
from warmkeeper.local.statefile import STATE_DIR_NAME, state_file


class TwinNotRunningError(UserError):
    """No twin answers for this config: one clear line, exit code 2."""


class TwinControl:
    """:class:`warmkeeper.control.ServiceControl` over HTTP to a running local twin."""

    def __init__(self, cfg: AppConfig, settings: EnvironmentSettings, timeout: float = 10.0) -> None:
        self.cfg = cfg
        self.settings = settings
        self.timeout = timeout

    # -- finding the twin ---------------------------------------------------------------------------

    def _state_path(self) -> Path:
        expected = state_file(self.cfg, self.settings.edge_port)
        if expected.exists():
            return expected
        # Started with --port N: accept the one twin of this config that is running, if unambiguous.
        others = sorted((self.cfg.base_dir / STATE_DIR_NAME).glob("twin-*.json"))
        live = [path for path in others if _pid_alive(_read_state(path).get("pid"))]
        if len(live) == 1:
            return live[0]
        if len(live) > 1:
            ports = ", ".join(str(_read_state(p).get("port")) for p in live)
            raise TwinNotRunningError(
                f"{expected}: no twin on the configured port {self.settings.edge_port}, "
                f"and several others run (ports {ports}); pass --port PORT, or set edge_port in "
                "[environments.local]"
            )
        raise TwinNotRunningError(
            f"{expected}: no local twin is running for {self.cfg.source} (start it with "
            f"`warmkeeper up --config {self.cfg.source}`)"
        )

    def _state(self) -> dict[str, Any]:
        path = self._state_path()
        state = _read_state(path)
        if not state.get("url") or not state.get("token"):
            raise TwinNotRunningError(f"{path}: not a twin state file (no url or token)")
        if not _pid_alive(state.get("pid")):
            raise TwinNotRunningError(
                f"{path}: the twin that wrote it (pid {state.get('pid')}) is not running"
            )
        return state

    def _request(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict[str, str] | None = None,
        auth: bool = False,
        body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        state = self._state()
        # The edge listens on the loopback address: talk to it there whatever the URL's host name.
        base = f"http://127.0.0.1:{state['port']}"
        headers = {"Accept": "application/json", "User-Agent": "warmkeeper-cli"}
        if auth:
            headers["Authorization"] = f"Bearer {state['token']}"
        try:
            with httpx.Client(trust_env=False, timeout=self.timeout) as client:
                return client.request(
                    method, f"{base}/_warmkeeper/{endpoint}", params=params, headers=headers, json=body
                )
        except httpx.HTTPError as exc:
            raise TwinNotRunningError(f"the local twin at {state['url']} does not answer: {exc}") from None

    def _json(self, response: httpx.Response, action: str) -> dict[str, Any]:
        try:
            document = response.json()
        except ValueError:
            document = {}
        if not isinstance(document, dict):
            document = {}
        if response.status_code >= 400:
            message = document.get("message") or response.text.strip() or response.reason_phrase
            raise UserError(f"{action} refused by the local twin ({response.status_code}): {message}")
        return document

    def details(self) -> dict[str, Any]:
        """The twin's own counters and processes (`GET /_warmkeeper/twin`, token required)."""
        return self._json(self._request("GET", "twin", auth=True), "twin details")

    # -- ServiceControl ------------------------------------------------------------------------------

    def status(self) -> StatusReport:
        return report_from_json(self._json(self._request("GET", "status"), "status"))

    def wake(self) -> str:
        return str(self._json(self._request("POST", "wake", auth=True), "wake").get("message", "waking"))

    def sleep(self, force: bool = False) -> str:
        params = {"force": "1"} if force else None
        return str(
            self._json(self._request("POST", "sleep", params=params, auth=True), "sleep").get("message", "")
        )

    def keepalive(self, minutes: int) -> str:
        document = self._json(
            self._request("POST", "keepalive", params={"minutes": str(minutes)}, auth=True), "keepalive"
        )
        return f"kept warm until {document.get('lease_until')} ({document.get('minutes')} min)"

    # -- deploys (the twin only: on AWS, CloudFormation and ECS do this) --------------------------------

    def start_deploy(
        self,
        new: AppConfig,
        label: str | None = None,
        timeout_seconds: float | None = None,
        verify: bool = True,
    ) -> dict[str, Any]:
        """Send the config just read (the new task definition) to the twin; it starts the rollout."""
        body = deploy_request_body(new, label, timeout_seconds, verify)
        return self._json(self._request("POST", "deploy", auth=True, body=body), "deploy")

    def deploy_progress(self, run_id: str, since: int = 0) -> dict[str, Any]:
        """The deploy's events from number `since` on, and its outcome so far."""
        return self._json(
            self._request("GET", "deploy", params={"id": run_id, "since": str(since)}, auth=True),
            "deploy progress",
        )


def deploy_request_body(
    new: AppConfig, label: str | None = None, timeout_seconds: float | None = None, verify: bool = True
) -> dict[str, Any]:
    """The body of ``POST /_warmkeeper/deploy``: the validated config as JSON, and where it was read.

    The twin validates it again with the same model (:func:`warmkeeper.local.rollout.parse_deploy_request`).
    """
    body: dict[str, Any] = {"source": str(new.source), "config": new.model_dump(mode="json"), "label": label}
    if timeout_seconds is not None:
        body["timeout_seconds"] = timeout_seconds
    if not verify:
        body["verify"] = False
    return body


def _read_state(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TwinNotRunningError(
            f"{path}: no local twin is running (start it with `warmkeeper up`)"
        ) from None
    except (OSError, ValueError) as exc:
        raise TwinNotRunningError(f"{path}: unreadable twin state file ({exc})") from None
    return document if isinstance(document, dict) else {}


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def report_from_json(document: dict[str, Any]) -> StatusReport:
    """The inverse of :meth:`StatusReport.to_json_dict`."""
    tasks = [
        TaskStatus(
            task_id=str(task["task_id"]),
            health=str(task["health"]),
            started_at=_time(task.get("started_at")),
            version=task.get("version"),
        )
        for task in document.get("tasks", [])
    ]
    return StatusReport(
        app=str(document["app"]),
        env=str(document["env"]),
        state=str(document["state"]),
        routing=str(document["routing"]),
        desired=int(document["desired"]),
        running=int(document["running"]),
        healthy=int(document["healthy"]),
        scale_to_zero=bool(document["scale_to_zero"]),
        tasks=tasks,
        last_wake_at=_time(document.get("last_wake_at")),
        last_wake_seconds=document.get("last_wake_seconds"),
        lease_until=_time(document.get("lease_until")),
        last_activity_at=_time(document.get("last_activity_at")),
        minutes_until_sleep=document.get("minutes_until_sleep"),
        deployment_in_progress=bool(document.get("deployment_in_progress", False)),
        url=document.get("url"),
        problems=[str(p) for p in document.get("problems", [])],
        services={str(k): str(v) for k, v in (document.get("services") or {}).items()},
        activity_beacon=document.get("activity_beacon"),
    )
