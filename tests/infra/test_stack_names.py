"""Image digests as `cdk synth -c imageDigests=...` passes them, and the names both stacks share."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_CONFIG
from tests.infra.conftest import API_DIGEST
from warmkeeper.config import AppConfig
from warmkeeper.naming import (
    check_image_digests,
    images_stack_name,
    parse_image_digests,
    repository_name,
    repository_output_key,
)

WEB_DIGEST = "sha256:" + "0a" * 32


@pytest.mark.parametrize(
    "value",
    [
        f"api={API_DIGEST},web={WEB_DIGEST}",
        f" api = {API_DIGEST} , web={WEB_DIGEST},",
        json.dumps({"api": API_DIGEST, "web": WEB_DIGEST}),
        {"api": API_DIGEST, "web": WEB_DIGEST},  # an object in cdk.json's context
    ],
    ids=["pairs", "pairs with spaces", "json", "object"],
)
def test_digests_context_forms(value: object) -> None:
    assert parse_image_digests(value) == {"api": API_DIGEST, "web": WEB_DIGEST}


def test_no_digests_context_means_tags_only() -> None:
    assert parse_image_digests(None) == {} == parse_image_digests("")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("api", "'api' is not name=sha256:..."),
        ("api=", "'api=' is not name=sha256:..."),
        ('{"api": ', "not valid JSON"),
        ('["api"]', """'["api"]' is not name=sha256:..."""),  # not an object: read as pairs
        (42, "expected a JSON object or name=digest pairs, got int"),
    ],
)
def test_bad_digests_context_is_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_image_digests(value)


@pytest.mark.parametrize(
    ("digests", "message"),
    [
        ({"db": API_DIGEST}, "'db' is not a container with `build`"),
        ({"api": "latest"}, "api: 'latest' is not an image digest"),
        ({"api": "sha256:" + "A" * 64}, "is not an image digest"),
    ],
)
def test_digests_must_name_built_containers_and_be_digests(
    example_config: AppConfig, digests: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_image_digests(example_config, digests)


def test_names_shared_by_both_stacks_and_the_deploy_tooling(example_config: AppConfig) -> None:
    assert images_stack_name(example_config, "staging") == "Cityguided-staging-images"
    assert repository_name(example_config, "production", "api") == "cityguided-production/api"
    assert repository_output_key("my-web") == "RepositoryUriMyWeb"


@pytest.mark.infra
@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"imageDigests": "api=latest"}, "error: -c imageDigests: api: 'latest' is not an image digest"),
        ({"imageDigests": f"db={API_DIGEST}"}, "error: -c imageDigests: 'db' is not a container"),
        ({"imageTag": "a b"}, "error: -c imageTag: 'a b' is not a valid image tag"),
        ({"env": "local"}, "error: -c env: 'local' has no AWS stack"),
    ],
)
def test_cdk_app_refuses_bad_context_before_synthesizing(
    context: dict[str, str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What `cdk synth -c KEY=VALUE` runs (cdk.json), with the context set as the CLI would."""
    from warmkeeper.infra.app import new_app
    from warmkeeper.infra.main import main

    app = new_app(tmp_path / "cdk.out")
    for key, value in {"config": str(EXAMPLE_CONFIG), **context}.items():
        app.node.set_context(key, value)
    with pytest.raises(SystemExit) as stopped:
        main(app)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith(message)
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()
