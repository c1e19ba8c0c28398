"""Where a running twin says how to reach it: ``.warmkeeper/twin-PORT.json`` next to the config.

The twin writes its URL, pid and keep-alive token there (mode 0600) and removes the file at stop;
the CLI (:class:`warmkeeper.local.twin_client.TwinControl`) reads it. Both sides take the path from here.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from warmkeeper.config import AppConfig

STATE_DIR_NAME = ".warmkeeper"


def state_file(cfg: AppConfig, port: int) -> Path:
    """Where a twin serving `cfg` on `port` writes its URL and keep-alive token (mode 0600)."""
    return cfg.base_dir / STATE_DIR_NAME / f"twin-{port}.json"


def write_state_file(path: Path, document: dict[str, Any]) -> None:
    """Write `document` to `path` readable by this user only, replacing it in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 before the token is written: no window where another user can read it.
    temporary = path.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
    temporary.replace(path)
