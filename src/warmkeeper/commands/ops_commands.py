"""`warmkeeper status / wake / sleep / keepalive`: operate a running environment.

The same four commands work on AWS (through boto3, names from the stack's outputs) and on the local
twin (over HTTP); both backends implement :class:`warmkeeper.control.ServiceControl`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from warmkeeper.clikit import ConfigOption, EnvOption, UserError, load, out
from warmkeeper.config import AppConfig, EnvironmentSettings
from warmkeeper.control import ServiceControl
from warmkeeper.core.report import StatusReport
from warmkeeper.core.schedule import next_window, opens_on

if TYPE_CHECKING:
    from warmkeeper.aws.clients import AwsClients
    from warmkeeper.aws.operations import AwsControl

JsonOption = Annotated[bool, typer.Option("--json", help="Print the status as JSON (for scripts).")]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Sleep even with a lease, a deploy in progress or before min_warm.")
]
MinutesOption = Annotated[int, typer.Option("--minutes", "-m", help="How long to hold the service warm.")]
WebhookOption = Annotated[
    bool,
    typer.Option(
        "--webhook",
        help="Go through POST <Url>/_warmkeeper/keepalive with the stack's token, as CI and the app do.",
    ),
]
InsecureOption = Annotated[
    bool,
    typer.Option(
        "--insecure",
        help="With --webhook: send the token even to an http:// URL (in clear; refused without this).",
    ),
]

# boto3, httpx and the engine load inside the commands that use them: `warmkeeper up` and
# `warmkeeper validate` do not pay for them (tests/commands/test_deploy_commands.py checks the CLI's imports).


def aws_control(cfg: AppConfig, env: str, settings: EnvironmentSettings, clients: AwsClients) -> AwsControl:
    """The AWS backend of one environment: the Lambda's engine, names from the stack's outputs."""
    from warmkeeper.aws.operations import AwsControl

    return AwsControl.from_stack(
        stack_name=cfg.stack_name(env),
        app=cfg.app.name,
        env=env,
        policy=cfg.policy(settings),
        clients=clients,
    )


def control_for(config: Path, env: str, port: int | None = None) -> ServiceControl:
    """The backend of one environment: the local twin for ``local`` (the one on `port`, when several
    run), AWS otherwise."""
    cfg, settings = load(config, env)
    if port is not None and env != "local":
        raise UserError("--port: only with --env local (the twin's public port)")
    if port is not None:
        settings = settings.model_copy(update={"edge_port": port})
    if env == "local":
        from warmkeeper.local.twin_client import TwinControl  # the twin's HTTP client: only when asked

        return TwinControl(cfg, settings)
    from warmkeeper.aws.clients import AwsClients

    return aws_control(cfg, env, settings, AwsClients.for_region(settings.aws_region))


def keepalive_webhook(config: Path, env: str, minutes: int, insecure: bool = False) -> str:
    """`keepalive --webhook`: the stack's webhook, called like CI and the app call it."""
    import httpx

    from warmkeeper.aws.clients import AwsClients
    from warmkeeper.deploy.keepalive import call_webhook, find_webhook

    cfg, settings = load(config, env)
    if env == "local":
        raise UserError(
            "--webhook: the local twin has no keep-alive token; use `warmkeeper keepalive --env local`"
        )
    webhook = find_webhook(AwsClients.for_region(settings.aws_region), cfg.stack_name(env))
    with httpx.Client() as http:
        return call_webhook(http, webhook, minutes, insecure=insecure).describe()


def status(
    config: ConfigOption = Path("warmkeeper.toml"),
    env: EnvOption = "staging",
    json_output: JsonOption = False,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", min=1, max=65535, help="--env local: the twin on this port (as `warmkeeper up --port`)."
        ),
    ] = None,
) -> None:
    """Show an environment's state: tasks and health, routing, last wake, lease, time until sleep, and
    the next warm window of its schedule."""
    _, settings = load(config, env)
    report = control_for(config, env, port).status()
    if json_output:
        document = {**report.to_json_dict(), "warm_schedule": warm_schedule_status(settings)}
        typer.echo(json.dumps(document, indent=2, sort_keys=True))
    else:
        for line in [*human_status(report), *schedule_lines(settings)]:
            out.print(line, markup=False)


def wake(config: ConfigOption = Path("warmkeeper.toml"), env: EnvOption = "staging") -> None:
    """Ask for a task now (idempotent): what the first request would do."""
    out.print(f"{env}: {control_for(config, env).wake()}", markup=False)


def sleep(
    config: ConfigOption = Path("warmkeeper.toml"), env: EnvOption = "staging", force: ForceOption = False
) -> None:
    """Route traffic to the waker, then scale to zero (the guards apply unless --force)."""
    out.print(f"{env}: {control_for(config, env).sleep(force)}", markup=False)


def keepalive(
    config: ConfigOption = Path("warmkeeper.toml"),
    env: EnvOption = "staging",
    minutes: MinutesOption = 30,
    webhook: WebhookOption = False,
    insecure: InsecureOption = False,
) -> None:
    """Wake if needed and hold the service warm for N minutes (bounded by max_lease_minutes).

    Exit codes: 0 held, 1 the webhook refused the token or could not be reached (--webhook),
    2 bad input, no deployed stack, or an http:// webhook without --insecure.
    """
    if minutes < 1:
        raise UserError(f"--minutes: must be a whole number >= 1, got {minutes}")
    if insecure and not webhook:
        raise UserError("--insecure: only with --webhook (it allows the token over plain HTTP)")
    if webhook:
        out.print(f"{env}: {keepalive_webhook(config, env, minutes, insecure)}", markup=False)
        return
    out.print(f"{env}: {control_for(config, env).keepalive(minutes)}", markup=False)


# --- the warm schedule ---------------------------------------------------------------------------------


def warm_schedule_status(settings: EnvironmentSettings, now: datetime | None = None) -> dict[str, object]:
    """The environment's windows and the one under way or next, passing over the skip dates (times
    in UTC and as configured)."""
    now = now or datetime.now(UTC)
    occurrence = next_window(settings.warm_windows, now, settings.warm_skip_dates)
    return {
        "windows": list(settings.warm_schedule),
        "skip": sorted(settings.warm_schedule_skip),
        "next_window": None
        if occurrence is None
        else {
            "window": occurrence.window.text,
            "start": occurrence.start.isoformat(),
            "end": occurrence.end.isoformat(),
            "local": occurrence.local(),
            "under_way": occurrence.contains(now),
        },
    }


def schedule_lines(settings: EnvironmentSettings, now: datetime | None = None) -> list[str]:
    """``  schedule    next window Mon 2026-12-07 08:30-09:00 Europe/Paris (in 2 h 5 min)``."""
    if not settings.warm_schedule:
        return ["  schedule    none (warm_schedule is not set)"]
    now = now or datetime.now(UTC)
    skip = settings.warm_skip_dates
    occurrence = next_window(settings.warm_windows, now, skip)
    if occurrence is None:
        return ["  schedule    no window in the coming week"]
    if occurrence.contains(now):
        left = (occurrence.end - now).total_seconds() / 60
        return [f"  schedule    in the window {occurrence.local()} (held warm {left:.0f} min more)"]
    minutes = (occurrence.start - now).total_seconds() / 60
    hours, rest = divmod(round(minutes), 60)
    when = f"{hours} h {rest} min" if hours else f"{rest} min"
    lines = [f"  schedule    next window {occurrence.local()} (in {when}, woken just before)"]
    passed_over = _skipped_before(settings, now, occurrence.start)
    if passed_over:
        lines.append(f"              skipped before it: {', '.join(passed_over)} (warm_schedule_skip)")
    return lines


def _skipped_before(settings: EnvironmentSettings, now: datetime, until: datetime) -> list[str]:
    """The skip dates on which a window would have opened between ``now`` and ``until``."""
    return [
        day.isoformat()
        for day in sorted(settings.warm_skip_dates)
        if any(
            opens_on(window, day) and now < window.opening_on(day)[1] and window.opening_on(day)[0] < until
            for window in settings.warm_windows
        )
    ]


# --- the human view ------------------------------------------------------------------------------------


def _when(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    seconds = (now - value).total_seconds()
    ago = f"{abs(seconds) / 60:.0f} min" if abs(seconds) >= 90 else f"{abs(seconds):.0f} s"
    relative = f"{ago} ago" if seconds >= 0 else f"in {ago}"
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({relative})"


def human_status(report: StatusReport, now: datetime | None = None) -> list[str]:
    """The status as a person reads it: one fact per line."""
    now = now or datetime.now(UTC)
    routing = "traffic to the service" if report.routing == "service" else "traffic to the waker"
    lines = [f"{report.app} {report.env}: {report.state} ({routing})"]
    if report.url:
        lines.append(f"  url         {report.url}")
    lines.append(
        f"  tasks       desired {report.desired}, running {report.running}, healthy {report.healthy}"
    )
    for task in report.tasks:
        started = f"started {_when(task.started_at, now)}" if task.started_at else "not started"
        version = f"  {task.version}" if task.version else ""
        lines.append(f"    {task.task_id[:12]:<12} {task.health:<9} {started}{version}")
    if report.last_wake_at:
        took = (
            f", healthy after {report.last_wake_seconds:.1f} s"
            if report.last_wake_seconds is not None
            else ""
        )
        lines.append(f"  last wake   {_when(report.last_wake_at, now)}{took}")
    else:
        lines.append("  last wake   none recorded")
    lines.append(
        f"  lease       {'until ' + _when(report.lease_until, now) if report.lease_until else 'none'}"
    )
    if not report.scale_to_zero:
        lines.append("  sleep       never (scale to zero is off)")
    elif report.minutes_until_sleep is not None:
        lines.append(f"  sleep       in {report.minutes_until_sleep:.1f} min if no request arrives")
    elif report.state in ("COLD", "DRAINING"):
        lines.append("  sleep       asleep")
    else:
        lines.append("  sleep       not while a deploy or a request is in progress")
    if report.last_activity_at:
        lines.append(f"  activity    last request {_when(report.last_activity_at, now)}")
    elif report.state in ("WAKING", "WARM"):
        lines.append("  activity    no request counted in the idle window")
    if report.activity_beacon:
        lines.append(f"  beacon      {report.activity_beacon}")
    lines.append(f"  deploy      {'in progress' if report.deployment_in_progress else 'none in progress'}")
    for label, value in report.front_door.items():
        lines.append(f"  {label:<11} {value}")
    for name, summary in report.services.items():
        lines.append(f"  service     {name}: {summary}")
    for problem in report.problems:
        lines.append(f"  problem     {problem}")
    return lines
