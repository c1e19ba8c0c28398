"""TOML values as text: the generated files are written by hand so that they keep their comments."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence


def toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string (the same escapes), for any text.
    return json.dumps(value, ensure_ascii=False)


def toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(toml_string(value) for value in values) + "]"


def toml_table(values: Mapping[str, str]) -> str:
    """An inline table; keys that are not bare TOML keys are quoted."""
    parts = []
    for key, value in values.items():
        bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
        parts.append(f"{key if bare else toml_string(key)} = {toml_string(value)}")
    return "{ " + ", ".join(parts) + " }" if parts else "{}"
