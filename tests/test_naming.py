"""The names shared by the CDK app, the deploy tooling, the CLI and the Lambda (warmkeeper.naming)."""

from __future__ import annotations

from pathlib import Path

import warmkeeper
from tests.conftest import EXAMPLE_CONFIG
from warmkeeper import config, naming
from warmkeeper.aws.lambda_settings import Settings
from warmkeeper.aws_limits import RULE_PRIORITIES
from warmkeeper.config import load_config
from warmkeeper.infra.bundle import bundle_files, imported_names
from warmkeeper.infra.stack_settings import (
    SERVICE_ANCHOR_RULE_PRIORITY,
    WAKER_DEFAULT_RULE_PRIORITY,
    WAKER_PATHS_RULE_PRIORITY,
    StackSettings,
)

SOURCE_ROOT = Path(warmkeeper.__file__).resolve().parent.parent


def test_imports_only_the_standard_library_and_the_front_doors() -> None:
    imported = imported_names(Path(naming.__file__), "warmkeeper.naming")
    ours = {name for name in imported if name.split(".")[0] == "warmkeeper"}
    assert {name.split(".")[0] for name in imported - ours} <= {
        "__future__",
        "json",
        "re",
        "collections",
        "typing",
    }
    # warmkeeper.core.front_doors is standard library only itself (tests/repository/test_imports.py).
    assert {name for name in ours if not name.startswith("warmkeeper.core.front_doors.")} == {
        "warmkeeper.core.front_doors"
    }


def test_a_deployed_stack_tells_its_front_door_by_its_outputs() -> None:
    assert naming.front_door_of_outputs({naming.OUTPUT_LISTENER_ARN: "arn"}) == "load_balancer"
    assert naming.front_door_of_outputs({naming.OUTPUT_DISTRIBUTION_ID: "E1"}) == "cloudfront"
    assert naming.front_door_of_outputs({naming.OUTPUT_API_ID: "a1"}) == "http_api"


def test_the_lambda_bundle_holds_it() -> None:
    assert "warmkeeper/naming.py" in bundle_files(SOURCE_ROOT, "warmkeeper.aws.lambda_handler")


def test_the_warm_rule_lies_between_the_stacks_rules_and_is_the_lambdas_default() -> None:
    assert naming.WARM_RULE_PRIORITY in RULE_PRIORITIES
    assert WAKER_PATHS_RULE_PRIORITY < naming.WARM_RULE_PRIORITY < SERVICE_ANCHOR_RULE_PRIORITY
    assert SERVICE_ANCHOR_RULE_PRIORITY < WAKER_DEFAULT_RULE_PRIORITY
    assert Settings.__dataclass_fields__["warm_rule_priority"].default == naming.WARM_RULE_PRIORITY


def test_names_of_one_environment() -> None:
    cfg = load_config(EXAMPLE_CONFIG)
    assert naming.images_stack_name(cfg, "staging") == "Cityguided-staging-images"
    assert naming.repository_name(cfg, "production", "api") == "cityguided-production/api"
    assert naming.function_name(cfg, "staging") == "cityguided-staging-warmkeeper"
    stack = StackSettings.create(cfg, "staging")
    assert stack.function_name == naming.function_name(cfg, "staging")
    assert stack.images_stack_name == naming.images_stack_name(cfg, "staging")
    # Every service's built containers, each with its repository; osrm-data uses a public image.
    assert [c.name for c in naming.built_containers(cfg)] == ["caddy", "api", "web", "osrm"]
    assert naming.repository_name(cfg, "staging", "osrm") == "cityguided-staging/osrm"


def test_output_keys_are_distinct_and_pascal_case() -> None:
    keys = {name: value for name, value in vars(naming).items() if name.startswith("OUTPUT_")}
    assert len(set(keys.values())) == len(keys) == 20
    assert all(value[0].isupper() and value.isalnum() for value in keys.values())
    assert naming.repository_output_key("my-web") == "RepositoryUriMyWeb"
    assert config.pascal is naming.pascal  # the config names its stacks with the same function
