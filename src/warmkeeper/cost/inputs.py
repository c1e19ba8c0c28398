"""Reading the cost model's input files: one error type that names the file and the key, and pydantic's
validation errors turned into it, worded for a person who edits a TOML file."""

from __future__ import annotations

import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from warmkeeper.core.errors import WarmkeeperError

# The value types of every input file: TOML gives ints and floats; a string or a boolean is a mistake,
# not something to coerce, and neither is an infinite or NaN figure.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
NonNegative = Annotated[Number, Field(ge=0)]
Positive = Annotated[Number, Field(ge=0), Field(gt=0)]
Text = Annotated[str, Field(strict=True)]

T = TypeVar("T")

# An unknown key in a model (extra="forbid") and in a pydantic dataclass.
_UNKNOWN_KEY = ("extra_forbidden", "unexpected_keyword_argument")


class CostInputError(WarmkeeperError):
    """A price table or traffic profile a person can fix: which file, which key, what is wrong."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")


def read_toml(path: Path) -> dict[str, Any]:
    """Read one TOML file; every problem becomes a :class:`CostInputError` naming the file."""
    if not path.exists():
        raise CostInputError(str(path), "", "file not found")
    if not path.is_file():
        raise CostInputError(str(path), "", "is not a file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CostInputError(str(path), "", f"not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise CostInputError(str(path), "", "not a UTF-8 text file") from None


def validate(schema: type[T], data: object, file: str) -> T:
    """``data`` (parsed TOML) as ``schema`` (a pydantic model or dataclass), or the first problem of it
    as a :class:`CostInputError`: an unknown key first (most often a typo), then the others in order."""
    try:
        return TypeAdapter(schema).validate_python(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        error = next((item for item in errors if item["type"] in _UNKNOWN_KEY), errors[0])
        loc = [str(part) for part in error["loc"]]
        raise CostInputError(file, ".".join(loc), _problem(error, schema, loc)) from None


def _got(value: object) -> str:
    return f"got {value!r} ({type(value).__name__})"


def _problem(error: ErrorDetails, schema: type[Any], loc: list[str]) -> str:
    kind = error["type"]
    value = error["input"]
    ctx = error.get("ctx") or {}
    if kind in ("missing", "missing_argument"):
        return "required key is missing"
    if kind in _UNKNOWN_KEY:
        return f"unknown key; known keys: {', '.join(sorted(_fields_at(schema, loc[:-1])))}"
    if kind in ("float_type", "int_type", "float_parsing", "int_parsing"):
        return f"must be a number, {_got(value)}"
    if kind == "finite_number":
        return f"must be a finite number, got {value!r}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']:g}, got {value!r}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']:g}, got {value!r}"
    if kind == "greater_than":
        return f"must be greater than {ctx['gt']:g}, got {value!r}"
    if kind == "literal_error":
        return f"must be {ctx['expected']}, got {value!r}"
    if kind == "string_type":
        return f"must be a string, {_got(value)}"
    if kind in ("model_type", "dataclass_type", "dict_type", "model_attributes_type"):
        return f"must be a table, {_got(value)}"
    return str(error["msg"])


def _fields_at(schema: type[Any], path: list[str]) -> set[str]:
    """The keys the table at ``path`` of ``schema`` knows (for the "known keys" of an unknown key)."""
    current: Any = schema
    for part in path:
        if typing.get_origin(current) is dict:
            # A table of named tables (``[services.NAME]``): the part is a name, not a key.
            current = _table_type(typing.get_args(current)[1])
            continue
        annotation = current.__pydantic_fields__[part].annotation
        current = annotation if typing.get_origin(annotation) is dict else _table_type(annotation)
    return set(current.__pydantic_fields__)


def _table_type(annotation: Any) -> Any:
    """The model inside ``annotation`` (``Model``, ``Model | None``)."""
    if hasattr(annotation, "__pydantic_fields__"):
        return annotation
    for arg in typing.get_args(annotation):
        if hasattr(arg, "__pydantic_fields__"):
            return arg
    raise LookupError(annotation)
