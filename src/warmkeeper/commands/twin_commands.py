"""`warmkeeper up`: run the app's local environment as a twin of the AWS one, on this machine."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.markup import escape

from warmkeeper.clikit import ConfigOption, UserError, load, out
from warmkeeper.config import AppConfig, EnvironmentSettings, load_config, parse_config
from warmkeeper.core.errors import ExitCode, WarmkeeperError

_STYLES = {
    "state": "bold cyan",
    "action": "bold",
    "task": "",
    "problem": "bold red",
    "detail": "dim",
}


class FrontDoorModel(StrEnum):
    load_balancer = "load_balancer"
    cloudfront = "cloudfront"
    http_api = "http_api"


def _with_front_door(config: Path, front_door: str) -> tuple[AppConfig, EnvironmentSettings]:
    """The config with [environments.local] front_door set, validated as the file would be (a
    ConfigError names the key: one line, exit 2)."""
    cfg = load_config(config)
    environments = {
        **cfg.environments,
        "local": {**cfg.environments.get("local", {}), "front_door": front_door},
    }
    changed = parse_config({**cfg.model_dump(), "environments": environments}, cfg.source)
    return changed, changed.environment("local")


def _schedule_clock(start: str) -> Callable[[], datetime]:
    """A clock that reads ``start`` now and runs on in real time (``--schedule-start``)."""
    try:
        origin = datetime.fromisoformat(start)
    except ValueError:
        raise UserError(
            f"--schedule-start: {start!r} is not an ISO 8601 time such as 2026-12-07T08:29:00+01:00"
        ) from None
    if origin.tzinfo is None:
        raise UserError(f"--schedule-start: {start!r} needs an offset (e.g. +01:00 or Z)")
    began = time.monotonic()
    return lambda: origin.astimezone(UTC) + timedelta(seconds=time.monotonic() - began)


def _service_idle(cfg: AppConfig, values: list[str]) -> dict[str, float]:
    """``--service-idle NAME=SECONDS`` options, checked against the config's internal services."""
    known = {s.name for s in cfg.services}
    found: dict[str, float] = {}
    for value in values:
        name, sep, seconds = value.partition("=")
        if not sep or name not in known:
            names = ", ".join(sorted(known)) or "none"
            raise UserError(
                f"--service-idle {value!r}: use NAME=SECONDS with NAME an internal service ({names})"
            )
        try:
            found[name] = float(seconds)
        except ValueError:
            found[name] = 0.0
        if not found[name] >= 1:
            raise UserError(f"--service-idle {value!r}: SECONDS must be a number, at least 1")
    return found


def up(
    config: ConfigOption = Path("warmkeeper.toml"),
    idle: Annotated[
        float | None,
        typer.Option(
            "--idle",
            min=1,
            help="Seconds without traffic before the task sleeps (default: the local environment's "
            "idle_minutes).",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", min=1, max=65535, help="Public port (default: the local environment's edge_port)."
        ),
    ] = None,
    max_attempts: Annotated[
        int,
        typer.Option(
            "--max-attempts",
            min=1,
            max=20,
            help="Task starts per wake before giving up (backoff 1, 2, 4... s).",
        ),
    ] = 4,
    runtime: Annotated[
        str | None,
        typer.Option(
            "--runtime",
            help="processes (each container's local command) or containers (each task as a Podman pod "
            "of the images `make images-local` built); default: the local environment's runtime.",
        ),
    ] = None,
    front_door: Annotated[
        FrontDoorModel | None,
        typer.Option(
            "--front-door",
            help="Which front door the edge models (default: the local environment's front_door): "
            "load_balancer/cloudfront (targets follow the healthy tasks, deregistered ones drain) or "
            "http_api (a discovery list cached discovery_cache_seconds; entry containers drain for "
            "drain_seconds).",
        ),
    ] = None,
    service_idle: Annotated[
        list[str] | None,
        typer.Option(
            "--service-idle",
            metavar="NAME=SECONDS",
            help="Seconds without a call before internal service NAME sleeps (default: its local "
            "idle_minutes); repeat for each service.",
        ),
    ] = None,
    schedule_start: Annotated[
        str | None,
        typer.Option(
            "--schedule-start",
            help="Read the local environment's warm_schedule as if the time were this now (ISO 8601 with "
            "an offset, e.g. 2026-12-07T08:29:00+01:00), running on from there: try a schedule without "
            "waiting for its window. Everything else keeps the real time.",
        ),
    ] = None,
) -> None:
    """Run the local twin: Caddy edge, waker, controller and tasks, scale-to-zero included."""
    from warmkeeper.local.twin import Twin, TwinEvent, TwinOptions

    cfg, settings = load(config, "local")

    def show(event: TwinEvent) -> None:
        style = _STYLES.get(event.kind, "")
        text = escape(event.message)
        stamp = f"[dim]{event.at.astimezone():%H:%M:%S}[/]"
        out.print(f"{stamp} [{style}]{text}[/]" if style else f"{stamp} {text}")

    if front_door is not None and front_door.value != settings.front_door:
        # Checked as if the file said it (an HTTP API's hold limit, the drain window's default).
        cfg, settings = _with_front_door(config, front_door.value)
    service_idle_seconds = _service_idle(cfg, service_idle or [])
    # No Podman, a missing image, a container without a health command: ContainersError, one line, exit 2.
    twin = Twin(
        cfg,
        settings,
        TwinOptions(
            idle_seconds=idle,
            port=port,
            max_attempts=max_attempts,
            runtime=runtime,
            schedule_clock=_schedule_clock(schedule_start) if schedule_start else None,
            service_idle_seconds=service_idle_seconds,
        ),
        on_event=show,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    # Kept until the process exits: a second Ctrl-C during the stop must not kill the twin before it
    # has stopped its children (they are in process groups of their own and never see the terminal's
    # Ctrl-C; the twin stops them in order).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    try:
        try:
            twin.start()  # an EdgeError (Caddy would not start) is one line, exit 2
        except OSError as exc:  # e.g. the config's folder is read-only: no state file
            raise UserError(f"cannot start the local twin: {exc}") from None
        policy = twin.policy
        out.print(
            f"[bold]{escape(cfg.app.name)}[/] local twin on [bold underline]{twin.url}[/]  "
            f"(sleeps after {policy.idle_minutes * 60:g} s idle; Ctrl-C stops everything)"
        )
        out.print(
            f"[dim]status: warmkeeper status --env local --config {escape(str(config))}   "
            f"state file: {escape(str(twin.state_path))}[/]"
        )
        out.print(f"[dim]new version: warmkeeper deploy --env local --config {escape(str(config))}[/]")
        out.print(f"[dim]{escape(twin.front_door_summary())}[/]")
        for name, internal in twin.internal.items():
            host, internal_port = internal.address
            out.print(
                f"[dim]internal service {escape(name)}: asleep at {host}:{internal_port} until the first "
                f"call (sleeps after {internal.policy.idle_minutes * 60:g} s without a call)[/]"
            )
        while not stop.wait(0.5) and twin.fatal is None:
            pass
        out.print("stopping: edge, waker, then every task (graceful)...")
    finally:
        leftovers = twin.stop()
    if twin.fatal is not None:
        raise WarmkeeperError(twin.fatal, exit_code=ExitCode.FAILED)
    if leftovers:
        raise UserError(
            "stopped, but some processes would not die: " + "; ".join(leftovers),
        )
    out.print("stopped; no process left running")
