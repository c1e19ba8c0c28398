"""Errors a person can fix, shared by every layer; the CLI prints them as one line, exit code 2."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the command's input or surroundings: one clear line, exit code 2."""

    exit_code = 2
