"""The config file's reference, generated from the pydantic models of :mod:`warmkeeper.config`.

- :func:`json_schema`: the JSON Schema of a warmkeeper.toml (`warmkeeper schema`), for editors: Even
  Better TOML / Taplo read it through a ``#:schema`` line or their settings;
- :func:`markdown`: docs/config.md, every key with its type, default, allowed values, description and
  an example. A test keeps the file equal to this output.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from warmkeeper.config import (
    _BUILTIN_ENV_DEFAULTS,
    AppConfig,
    AppSection,
    Container,
    CostBudget,
    CostSettings,
    EnvironmentSettings,
    HealthCheck,
    IngressSettings,
    LocalRun,
    ScaleToZeroPolicy,
    ServiceConfig,
    ServiceOverrides,
)

SCHEMA_ID = "https://warmkeeper.dev/schema/warmkeeper.toml.json"

# The file's sections in reading order: (header, model, what it is).
SECTIONS: tuple[tuple[str, type[BaseModel], str], ...] = (
    ("[app]", AppSection, "The app."),
    ("[[containers]]", Container, "One per container of the task; exactly one has `entry = true`."),
    ("[containers.health]", HealthCheck, "The container's health check."),
    (
        "[containers.local]",
        LocalRun,
        "How the twin runs the container as a local process (optional: without it, the twin runs the "
        "image). `{port}` is this container's port in the local task, `{port:NAME}` another's; in the "
        "app's task `{port:SERVICE}` (an internal service's name) is a port of the task's own where the "
        "task calls that service (its caller site; 5000 on ECS).",
    ),
    (
        "[[services]]",
        ServiceConfig,
        "Optional: an internal service with its own task, size and sleep, reached from the app's tasks only "
        "and woken by the first call that needs it. Its containers are `[[services.containers]]`, with the "
        "keys of `[[containers]]`.",
    ),
    (
        "[services.environments.NAME]",
        ServiceOverrides,
        "What environment NAME changes of the service above (every key optional).",
    ),
    ("[ingress]", IngressSettings, "A domain and certificate shared by the AWS environments."),
    ("[scale_to_zero]", ScaleToZeroPolicy, "How the waker answers while cold; guards of the sleep decision."),
    (
        "[cost]",
        CostSettings,
        "Optional. Without it, `warmkeeper cost` prints the figures in USD, with no comparison column "
        "and no budget verdict.",
    ),
    ("[cost.budgets.NAME]", CostBudget, "The budget of environment NAME (modelled figures)."),
    (
        "[defaults] and [environments.NAME]",
        EnvironmentSettings,
        "Every key is optional. An environment's value is, first found: `[environments.NAME]`, "
        "`[defaults]`, the built-in default for that name, the default below. Environments may have any "
        "name; `local` is the twin on this machine and always exists.",
    ),
)

# Examples of the keys that have no default (the others show their default as the example).
EXAMPLES: dict[tuple[str, str], Any] = {
    ("AppSection", "name"): "shop",
    ("Container", "name"): "web",
    ("Container", "port"): 8080,
    ("Container", "image"): "nginx:1.27",
    ("Container", "build"): "web",
    ("Container", "environment"): {"LOG_LEVEL": "info"},
    ("Container", "secrets"): {
        "DATABASE_URL": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf"
    },
    ("Container", "depends_on"): ["api"],
    ("Container", "dependency_conditions"): {"migrate": "success"},
    ("Container", "command"): ["gunicorn", "app:app"],
    ("Container", "entrypoint"): ["/docker-entrypoint.sh"],
    ("HealthCheck", "path"): "/healthz",
    ("HealthCheck", "command"): ["CMD-SHELL", "curl -fsS http://127.0.0.1:8080/healthz || exit 1"],
    ("LocalRun", "command"): ["python", "-m", "http.server", "{port}"],
    ("LocalRun", "environment"): {"API": "127.0.0.1:{port:api}"},
    ("IngressSettings", "domain"): "shop.example.com",
    ("IngressSettings", "certificate_arn"): "arn:aws:acm:eu-west-1:123456789012:certificate/ID",
    ("CostSettings", "compare_with"): "ec2_instance",
    ("CostSettings", "budgets"): {"staging": {"monthly": 9, "idle_month": 7}},
    ("CostBudget", "idle_month"): 7,
    ("ServiceConfig", "name"): "osrm",
    ("ServiceConfig", "wake_with"): ["geocoder"],
    ("ServiceConfig", "architecture"): "x86_64",
    ("ServiceConfig", "spot"): True,
    ("ServiceOverrides", "cpu"): 1024,
    ("ServiceOverrides", "memory"): 4096,
    ("ServiceOverrides", "spot"): False,
    ("ServiceOverrides", "min_tasks"): 1,
    ("ServiceOverrides", "max_tasks"): 2,
    ("ServiceOverrides", "scale_to_zero"): False,
    ("ServiceOverrides", "idle_minutes"): 30,
    ("EnvironmentSettings", "region"): "eu-west-1",
    ("EnvironmentSettings", "account"): "123456789012",
    ("EnvironmentSettings", "alarm_email"): "ops@example.com",
    ("EnvironmentSettings", "domain"): "staging.shop.example.com",
    ("EnvironmentSettings", "certificate_arn"): "arn:aws:acm:eu-west-1:123456789012:certificate/ID",
    ("EnvironmentSettings", "drain_seconds"): 20,
}
# Keys that are sections of their own (documented under their header), not rows.
NESTED = {
    ("Container", "health"),
    ("Container", "local"),
    ("ServiceConfig", "containers"),
    ("ServiceConfig", "environments"),
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a warmkeeper.toml: `[defaults]` and each `[environments.NAME]` take the
    environment keys (in the model they are plain tables, merged and checked per environment)."""
    schema = AppConfig.model_json_schema(mode="validation")
    schema["properties"].pop("source", None)
    environment = EnvironmentSettings.model_json_schema(mode="validation", ref_template="#/$defs/{model}")
    definitions = schema.setdefault("$defs", {})
    definitions.update(environment.pop("$defs", {}))
    definitions["EnvironmentSettings"] = environment
    reference = {"$ref": "#/$defs/EnvironmentSettings"}
    schema["properties"]["defaults"] = {
        **reference,
        "description": schema["properties"]["defaults"].get("description", ""),
    }
    schema["properties"]["environments"] = {
        "type": "object",
        "description": schema["properties"]["environments"].get("description", ""),
        "additionalProperties": reference,
        "propertyNames": {"pattern": "^[a-z][a-z0-9-]{0,30}[a-z0-9]$"},
    }
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "warmkeeper.toml"
    return schema


def _toml(value: Any) -> str:
    """A value as it is written in the file (inline TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }" if value else "{}"
    return str(value)


def _type_of(prop: dict[str, Any]) -> str:
    if "anyOf" in prop:
        kinds = [_type_of(option) for option in prop["anyOf"] if option.get("type") != "null"]
        return " or ".join(kinds) + " (optional)"
    if "enum" in prop or "const" in prop:
        return "string"
    kind = prop.get("type", "table")
    if kind == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    if kind == "object":
        inner = prop.get("additionalProperties")
        return f"table of {_type_of(inner)}" if isinstance(inner, dict) and inner else "table"
    return str(kind)


def _allowed(prop: dict[str, Any]) -> str:
    options = list(prop.get("anyOf", [prop]))
    for nested in ("additionalProperties", "items"):
        if isinstance(prop.get(nested), dict):
            options.append(prop[nested])
    parts: list[str] = []
    for option in options:
        if "enum" in option:
            parts.append(", ".join(_toml(v) for v in option["enum"]))
        if "const" in option:
            parts.append(_toml(option["const"]))
        low = option.get("minimum", option.get("exclusiveMinimum"))
        high = option.get("maximum", option.get("exclusiveMaximum"))
        if low is not None or high is not None:
            left = "" if low is None else f"{low} {'<' if 'exclusiveMinimum' in option else '≤'} "
            right = "" if high is None else f" {'<' if 'exclusiveMaximum' in option else '≤'} {high}"
            parts.append(f"{left}value{right}")
        if option.get("minItems"):
            parts.append(f"at least {option['minItems']}")
    return "; ".join(parts)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _rows(model: type[BaseModel]) -> list[str]:
    properties = model.model_json_schema(mode="validation")["properties"]
    rows = []
    for name, info in model.model_fields.items():
        if (model.__name__, name) in NESTED or name == "source":
            continue
        prop = properties.get(name, {})
        required = info.default is PydanticUndefined and info.default_factory is None
        if required:
            default = "required"
        elif info.default_factory is not None:
            default = f"`{_toml(info.default_factory())}`"  # type: ignore[call-arg]
        elif info.default is None:
            default = "unset"
        else:
            default = f"`{_toml(info.default)}`"
        example = EXAMPLES.get((model.__name__, name), info.examples[0] if info.examples else None)
        if example is None and not required and info.default is not None:
            example = info.default if info.default_factory is None else info.default_factory()  # type: ignore[call-arg]
        shown = f"`{name} = {_toml(example)}`" if example not in (None, [], {}) else ""
        allowed = _allowed(prop)
        rows.append(
            f"| `{name}` | {_cell(_type_of(prop))} | {default} | {_cell(allowed)} | "
            f"{_cell(info.description or '')} | {_cell(shown)} |"
        )
    return rows


def markdown() -> str:
    """docs/config.md."""
    lines = [
        "# warmkeeper.toml reference",
        "",
        "Generated from the pydantic models in `src/warmkeeper/config.py` by",
        "`warmkeeper schema --markdown`; a test keeps this file equal to that output. For editors,",
        "`warmkeeper schema > warmkeeper.schema.json` gives the JSON Schema (Even Better TOML / Taplo: put",
        "`#:schema ./warmkeeper.schema.json` as the file's first line). `warmkeeper init` writes a",
        "commented starting file; `warmkeeper validate` checks one and prints what each environment",
        "resolves to.",
        "",
        "Unknown keys are errors (a typo never falls back to a default silently). Relative paths are read",
        "from the config file's folder. Beyond each key's own rules, the file is checked as a whole: one",
        "entry container, distinct ports and names, a task size Fargate offers that holds the containers'",
        "reservations, what each front door needs (a certificate's region, a health command on every",
        "container behind an HTTP API, a hold that fits the front door's timeout), the entry container's",
        "stop timeout above its drain window, and at most one task for an environment that scales to zero.",
        "",
    ]
    for header, model, what in SECTIONS:
        lines += [
            f"## `{header}`",
            "",
            what,
            "",
            "| key | type | default | allowed | description | example |",
            "|---|---|---|---|---|---|",
            *_rows(model),
            "",
        ]
        if model is EnvironmentSettings:
            lines.append("Built-in defaults by environment name (under `[defaults]` in precedence):")
            lines.append("")
            for name, values in _BUILTIN_ENV_DEFAULTS.items():
                shown = ", ".join(f"`{key} = {_toml(value)}`" for key, value in values.items())
                lines.append(f"- `{name}`: {shown}")
            lines += [
                "",
                "`region` unset: the AWS configuration's region (`AWS_REGION`, `AWS_DEFAULT_REGION`, then",
                "the profile's `region` in `~/.aws/config`); an AWS environment with neither is an error.",
                "",
            ]
    return "\n".join(lines)
