"""`warmkeeper` command line: the same commands on a laptop and in CI.

Each module of :mod:`warmkeeper.commands` adds its commands to the one Typer app in
:mod:`warmkeeper.clikit`; this module imports them all and turns known problems into one clear line
with exit code 2 instead of a traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from warmkeeper import commands
from warmkeeper.clikit import UserError, app, err
from warmkeeper.config import ConfigError

for _module in pkgutil.iter_modules(commands.__path__):
    importlib.import_module(f"{commands.__name__}.{_module.name}")


def main() -> None:
    """Entry point: turn known problems into one clear line and exit code 2."""
    try:
        app(standalone_mode=True)
    except ConfigError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        sys.exit(2)
    except UserError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
