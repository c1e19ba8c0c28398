"""Shared pieces of the command line: the Typer app, common options, output and errors.

Every command takes `--config FILE` (default: ./warmkeeper.toml, or $WARMKEEPER_CONFIG) and, where an
environment matters, `--env NAME`. Problems a person can fix are printed as one line naming the file,
the key or the argument, with exit code 2 and no traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from warmkeeper.config import AppConfig, EnvironmentSettings, load_config
from warmkeeper.errors import UserError as UserError  # re-exported: commands raise it

app = typer.Typer(
    name="warmkeeper",
    help="Run a small web app on ECS Fargate that sleeps at zero tasks and wakes on the first request.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True, highlight=False)
out = Console(highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        envvar="WARMKEEPER_CONFIG",
        help="The app's warmkeeper.toml.",
        show_default=True,
    ),
]
EnvOption = Annotated[str, typer.Option("--env", "-e", help="Environment: local, staging or production.")]


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    return typer.Exit(code)


def load(config: Path, env: str | None = None) -> tuple[AppConfig, EnvironmentSettings | None]:
    """Read the config once for this command, and the environment's settings if one is asked."""
    cfg = load_config(config)
    return cfg, (cfg.environment(env) if env is not None else None)
