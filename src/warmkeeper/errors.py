"""The error model, for every layer outside ``core``: one base exception carrying its exit code.

:class:`WarmkeeperError` and :class:`ExitCode` live in :mod:`warmkeeper.core.errors` (``core``
imports only the standard library); ``warmkeeper.cli`` maps them to one line and an exit code.
"""

from __future__ import annotations

from warmkeeper.core.errors import ExitCode as ExitCode
from warmkeeper.core.errors import WarmkeeperError as WarmkeeperError


class UserError(WarmkeeperError):
    """A problem with the command's input or surroundings: one clear line, exit code 2."""

    exit_code = ExitCode.USAGE
