"""The one error model of warmkeeper: a base exception that carries the command's exit code.

Every exception a command can raise derives from :class:`WarmkeeperError`; ``warmkeeper.cli``
prints it as one line (``error: ...``, no traceback) and exits with its :attr:`~WarmkeeperError.exit_code`.
It lives in ``core`` (standard library only) so that the pure logic, the Lambda and the CLI share it.
:class:`UserError` is the usual one outside ``core``: bad input or surroundings, exit code 2.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The exit codes of every `warmkeeper` command (docs/technical/interfaces.md has the table)."""

    OK = 0
    FAILED = 1  # the work ran and failed: a deploy rolled back, a build failed, a webhook refused
    USAGE = 2  # bad input or surroundings (config, argument, credentials, no stack): nothing changed
    TIMED_OUT = 3  # the bound passed first (CloudFormation, or the twin's deploy, goes on)
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


class WarmkeeperError(Exception):
    """A problem warmkeeper can explain in one line; :attr:`exit_code` is the command's exit code.

    A subclass sets its usual code as a class attribute; one raise can override it with
    ``exit_code=`` (a publish that timed out exits 3, one that failed 1).
    """

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, *args: object, exit_code: ExitCode | None = None) -> None:
        super().__init__(*args)
        if exit_code is not None:
            self.exit_code = exit_code


class UserError(WarmkeeperError):
    """A problem with the command's input or surroundings: one clear line, exit code 2."""

    exit_code = ExitCode.USAGE
