"""`warmkeeper` command line: the same commands on a laptop and in CI.

The commands are plain functions in :mod:`warmkeeper.commands`, registered here by name. Every
error reaches the person through one place, :func:`describe_error`: one line ``error: ...`` on
stderr, no traceback, and the exit code of the table in docs/technical/interfaces.md.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from warmkeeper.clikit import err
from warmkeeper.commands import (
    config_commands,
    cost_commands,
    deploy_commands,
    init_commands,
    ops_commands,
    twin_commands,
)
from warmkeeper.core.errors import ExitCode, WarmkeeperError

NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
    "(or run `aws sso login`); CI gets them from the OIDC role"
)
NO_REGION = "no AWS region: set region in the config's environment"


def describe_error(exc: BaseException) -> tuple[str, ExitCode] | None:
    """What the person reads and the exit code for `exc`; None for a bug (its traceback is shown).

    Our own errors carry their exit code. botocore's credential errors come from whichever AWS call
    runs first (a stack lookup, STS, SSM), so they are mapped here once rather than around each call.
    """
    if isinstance(exc, WarmkeeperError):
        return str(exc), exc.exit_code
    # botocore loads only inside the commands that use AWS: if it is not loaded, no error is its.
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None:
        if isinstance(exc, botocore.NoCredentialsError | botocore.PartialCredentialsError):
            return NO_CREDENTIALS, ExitCode.USAGE
        if isinstance(exc, botocore.NoRegionError):
            return NO_REGION, ExitCode.USAGE
        if isinstance(exc, botocore.ProfileNotFound):
            return f"{exc}: check AWS_PROFILE", ExitCode.USAGE
        unusable = (
            botocore.CredentialRetrievalError,
            botocore.TokenRetrievalError,
            botocore.SSOTokenLoadError,
            botocore.UnauthorizedSSOTokenError,
        )
        if isinstance(exc, unusable):
            return (
                f"AWS credentials unusable ({exc}): refresh them (`aws sso login`) and retry",
                ExitCode.USAGE,
            )
    return None


class WarmkeeperCommands(TyperGroup):
    """The command group; it renders every error of a command (or of its options) once."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except Exception as exc:
            described = describe_error(exc)
            if described is None:
                raise
            message, code = described
            err.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
            sys.exit(int(code))


app = typer.Typer(
    name="warmkeeper",
    cls=WarmkeeperCommands,
    help="Run a small web app on ECS Fargate that sleeps at zero tasks and wakes on the first request.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            shown = version("warmkeeper")
        except PackageNotFoundError:  # run from a source tree that was never installed
            shown = "unknown (not installed)"
        typer.echo(f"warmkeeper {shown}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Run a small web app on ECS Fargate that sleeps at zero tasks and wakes on the first request."""


for command in (
    init_commands.init,
    config_commands.validate,
    config_commands.synth,
    config_commands.schema,
    cost_commands.cost,
    deploy_commands.deploy,
    deploy_commands.rollback,
    deploy_commands.destroy,
    deploy_commands.images,
    deploy_commands.smoke,
    ops_commands.status,
    ops_commands.wake,
    ops_commands.sleep,
    ops_commands.keepalive,
    twin_commands.up,
):
    app.command()(command)


def main() -> None:
    """Entry point (`warmkeeper`, `python -m warmkeeper`)."""
    try:
        app()
    except KeyboardInterrupt:  # before a command runs; Typer turns one during a command into 130 too
        sys.exit(int(ExitCode.INTERRUPTED))


if __name__ == "__main__":
    main()
