"""`warmkeeper deploy --env local`: a rolling deploy of the config on disk to the running twin.

The command's client side (it sits with the commands; the twin side is in :mod:`warmkeeper.local`).

The command has already read the config file (so a changed local command, environment or app code
on disk is the new version). This module sends it to the twin (``POST /_warmkeeper/deploy``) and
follows the deploy (``GET /_warmkeeper/deploy``) until it is over, printing each step as the twin
reports it. The steps themselves run in the twin: :mod:`warmkeeper.local.rollout`.

Exit codes, as for an AWS deploy: 0 deployed (or the twin is cold and the new version passed its
check: the next wake runs it), 1 the new version failed (the old one kept serving, or stays current on
a cold twin; its output is shown), 2 no twin runs or it refused the deploy, 3 timed out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape

from warmkeeper.clikit import err, out
from warmkeeper.config import AppConfig, EnvironmentSettings
from warmkeeper.core.errors import ExitCode, UserError
from warmkeeper.local.rollout import EXIT_CODES, RolloutOutcome
from warmkeeper.local.twin_client import TwinControl

POLL_SECONDS = 0.2
EXIT_LOST = ExitCode.FAILED  # the twin stopped answering mid-deploy
EXIT_TIMEOUT = ExitCode.TIMED_OUT
# The twin ends a deploy at its timeout on its own; the CLI waits this much longer for that verdict.
VERDICT_GRACE_SECONDS = 15.0
OUTPUT_LINES = 20


def exit_code(outcome: str) -> ExitCode:
    """The command's exit code for a finished deploy's outcome (an unknown one is a failure)."""
    try:
        return EXIT_CODES.get(RolloutOutcome(outcome), ExitCode.FAILED)
    except ValueError:
        return ExitCode.FAILED


def progress_line(event: dict[str, Any]) -> str:
    """One event of the deploy as printed: seconds since its start, then what happened."""
    return f"[{float(event.get('elapsed', 0)):5.1f}s] {event.get('message', '')}"


def failure_lines(progress: dict[str, Any], lines: int = OUTPUT_LINES) -> list[str]:
    """What the person needs when the new version failed: its container's last output lines."""
    tail = [str(line) for line in progress.get("output_tail") or []][-lines:]
    if not tail:
        return []
    container = progress.get("failed_container") or "the container"
    return [f"last output of {container} ({progress.get('version')}):", *[f"    {line}" for line in tail]]


def deploy_local(
    cfg: AppConfig,
    settings: EnvironmentSettings,
    timeout_seconds: float = 600.0,
    *,
    image_tag: str | None = None,
    verify: bool = True,
    console: Console | None = None,
    error_console: Console | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ExitCode:
    """Deploy `cfg` (as just read from disk) to the twin running for it; returns the exit code.

    `image_tag`, when given, labels the new revision (shown in `status` beside the twin's own
    revision number); the twin runs no image. No twin running, or a deploy refused by the twin
    (another in progress, another app), raises :class:`~warmkeeper.core.errors.UserError` (exit 2).
    """
    console = console or out
    error_console = error_console or err
    control = TwinControl(cfg, settings)
    started = control.start_deploy(cfg, label=image_tag, timeout_seconds=timeout_seconds, verify=verify)
    run_id = str(started["id"])
    version = escape(str(started["version"]))
    console.print(
        f"deploying [bold]{escape(str(cfg.source))}[/] to the local twin as [bold]{version}[/]"
        f" (deploy {escape(run_id)}, timeout {timeout_seconds:g} s)",
        highlight=False,
    )
    # The twin's timeout covers the new task becoming healthy; the drain (bounded by the entry's
    # stop timeout) and the stop of the old task (each container's stop timeout) come after it.
    drain_and_stop = cfg.entry_container.stop_timeout_seconds + sum(
        c.stop_timeout_seconds + 2 for c in cfg.containers
    )
    deadline = clock() + timeout_seconds + drain_and_stop + VERDICT_GRACE_SECONDS
    since = 0  # the twin sends the events from this number on
    while True:
        try:
            progress = control.deploy_progress(run_id, since)
        except UserError as exc:
            error_console.print(
                f"[bold red]error:[/] lost the local twin during deploy {escape(run_id)}: {escape(str(exc))}",
                soft_wrap=True,
            )
            return EXIT_LOST
        for event in progress.get("events", []):
            console.print(escape(progress_line(event)), highlight=False, soft_wrap=True)
        since = int(progress.get("next", since))
        if progress.get("outcome") != RolloutOutcome.RUNNING.value:
            break
        if clock() > deadline:
            error_console.print(
                f"[bold red]error:[/] deploy {escape(run_id)} still running after {timeout_seconds:g} s "
                "and the twin did not end it; see `warmkeeper status --env local`",
                soft_wrap=True,
            )
            return EXIT_TIMEOUT
        sleep(POLL_SECONDS)
    code = exit_code(str(progress.get("outcome")))
    message = escape(str(progress.get("message", "")))
    if code == ExitCode.OK:
        console.print(f"[bold green]done:[/] {message}", highlight=False, soft_wrap=True)
        return ExitCode.OK
    error_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    for line in failure_lines(progress):
        error_console.print(line, markup=False, highlight=False, soft_wrap=True)
    return code
