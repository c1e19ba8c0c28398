"""Shared pieces of the command line: common options, output, and the checks of option values.

Every command takes `--config FILE` (default: ./warmkeeper.toml, or $WARMKEEPER_CONFIG) and, where an
environment matters, `--env NAME` (one of the config's environments). A command raises a
:class:`~warmkeeper.core.errors.WarmkeeperError` for a problem a person can fix; :mod:`warmkeeper.cli`
prints it as one line naming the file, the key or the argument, with its exit code and no traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from warmkeeper.config import AppConfig, EnvironmentSettings, load_config
from warmkeeper.core.errors import UserError as UserError  # re-exported: commands raise it

err = Console(stderr=True, highlight=False)
out = Console(highlight=False, soft_wrap=True)

T = TypeVar("T")


def environment_name(value: str) -> str:
    """`--env`: the name of an environment. Whether the config declares it is checked when the config is
    read (:meth:`~warmkeeper.config.AppConfig.environment` lists the declared ones).

    A malformed name is a :class:`UserError`, so it reads as one line like every other error (click's
    own usage error would print a help panel).
    """
    if re.fullmatch(r"[a-z][a-z0-9-]{0,30}[a-z0-9]", value):
        return value
    raise UserError(f"--env: {value!r} is not an environment name (lower-case letters, digits and '-')")


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
EnvOption = Annotated[
    str,
    typer.Option(
        "--env",
        "-e",
        parser=environment_name,
        help="Environment: one the config declares under [environments] (local: the twin).",
    ),
]


def checked_option(option: str, check: Callable[[], T]) -> T:
    """The result of a pure check of `option`'s value; its ValueError names the option (exit 2).

    The checks (image tags, digests) are shared with `cdk synth`, where the same value is a context
    key, so they leave naming the argument to their caller.
    """
    try:
        return check()
    except ValueError as exc:
        raise UserError(f"{option}: {exc}") from None


def quiet_node_banners() -> None:
    """Before jsii starts: acknowledge the running Node.js version's deprecation and end-of-life notices.

    jsii prints them as a framed banner that its Python side forwards line by line as ``b'...'`` bytes;
    the supported versions are in the README. The end-of-life variable takes the acknowledged majors.
    """
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    node = shutil.which("node")
    if node is None or "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION" in os.environ:
        return
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return
    major = version.stdout.strip().lstrip("v").split(".")[0]
    if major.isdigit():
        os.environ["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = major


def load(config: Path, env: str) -> tuple[AppConfig, EnvironmentSettings]:
    """Read the config once for this command, and the settings of the environment it runs on."""
    cfg = load_config(config)
    return cfg, cfg.environment(env)
