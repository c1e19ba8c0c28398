"""docs/config.md and `warmkeeper schema` are generated from the config models, and stay so."""

from __future__ import annotations

import json
import tomllib

import jsonschema
import pytest
from pydantic import BaseModel

from tests.conftest import EXAMPLE_CONFIG, ROOT, run_cli
from warmkeeper.config_reference import EXAMPLES, NESTED, SECTIONS, json_schema, markdown

DOCS = ROOT / "docs" / "config.md"


def test_docs_config_md_is_the_generated_reference() -> None:
    assert DOCS.read_text(encoding="utf-8") == markdown() + "\n", (
        "docs/config.md is out of date: run `warmkeeper schema --markdown > docs/config.md`"
    )


@pytest.mark.parametrize(("header", "model"), [(header, model) for header, model, _ in SECTIONS])
def test_every_key_is_described_with_an_example_when_it_has_no_default(
    header: str, model: type[BaseModel]
) -> None:
    for name, info in model.model_fields.items():
        if name == "source" or (model.__name__, name) in NESTED:
            continue  # not keys: sections of their own
        assert info.description, f"{header} {name}: no description (add a docstring under the field)"
        if info.is_required():
            assert (model.__name__, name) in EXAMPLES or info.examples, f"{header} {name}: no example"
        assert f"| `{name}` |" in markdown(), name


def test_the_schema_command_prints_the_schema_that_accepts_the_example_and_refuses_a_typo() -> None:
    result = run_cli(["schema"])
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema == json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    example = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    jsonschema.validate(example, schema)
    # A typo in an environment is caught by the editor too, not only by `validate`.
    example["environments"]["staging"]["idle_minuts"] = 3
    with pytest.raises(jsonschema.ValidationError, match="idle_minuts"):
        jsonschema.validate(example, schema)
    del example["environments"]["staging"]["idle_minuts"]
    example["environments"]["staging"]["front_door"] = "nginx"
    with pytest.raises(jsonschema.ValidationError, match="nginx"):
        jsonschema.validate(example, schema)
