"""`warmkeeper synth`: bad arguments are refused before anything is synthesized or written; a good
synthesis writes both stacks' templates, with the images the arguments ask for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import EXAMPLE_CONFIG, run_cli
from tests.infra.conftest import API_DIGEST, IMAGE_TAG
from warmkeeper.cli import app
from warmkeeper.config import load_config
from warmkeeper.deploy.synthesis import check_template_images

pytestmark = pytest.mark.infra


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--env", "local"], "--env local: the local environment has no AWS stack"),
        (
            ["--env", "staging", "--image-tag", "release 1"],
            "--image-tag: 'release 1' is not a valid image tag",
        ),
        (
            ["--env", "staging", "--image-digests", "api=latest"],
            "--image-digests: api: 'latest' is not an image digest",
        ),
        (
            ["--env", "staging", "--image-digests", f"db={API_DIGEST}"],
            "--image-digests: 'db' is not a container with `build`",
        ),
    ],
)
def test_synth_refuses_bad_arguments(arguments: list[str], message: str, tmp_path: Path) -> None:
    output = tmp_path / "cdk.out"
    result = run_cli(["synth", "--config", str(EXAMPLE_CONFIG), "--output", str(output), *arguments])
    assert result.returncode == 2
    assert message in one_line(result.stderr)
    assert not output.exists()


@pytest.mark.parametrize("kind", ["below a file", "is a file"])
def test_synth_refuses_an_output_folder_it_cannot_create(kind: str, tmp_path: Path) -> None:
    """Checked before jsii starts: CDK would end in a JavaScript traceback (exit 1)."""
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    output = a_file / "cdk.out" if kind == "below a file" else a_file
    result = run_cli(["synth", "--config", str(EXAMPLE_CONFIG), "--env", "staging", "--output", str(output)])
    assert result.returncode == 2
    assert one_line(result.stderr).startswith(f"error: --output {output}: cannot create the folder")
    assert a_file.read_text() == "not a folder"


def test_synth_writes_both_templates_with_the_images_asked_for(tmp_path: Path) -> None:
    """In-process (the session's jsii is reused): one real synthesis, as `warmkeeper synth` runs it."""
    output = tmp_path / "cdk.out"
    result = CliRunner().invoke(
        app,
        [
            "synth",
            "--config",
            str(EXAMPLE_CONFIG),
            "--env",
            "production",
            "--output",
            str(output),
            "--image-tag",
            IMAGE_TAG,
            "--image-digests",
            json.dumps({"api": API_DIGEST}),
        ],
    )
    assert result.exit_code == 0, result.output + result.stderr
    service = output / "Cityguided-production.template.json"
    images = output / "Cityguided-production-images.template.json"
    # Then the ECS services the template declares, named from the config: the app's, and osrm with no
    # route from the internet.
    assert result.stdout.splitlines() == [
        f"wrote {service}",
        f"wrote {images}",
        "ECS services: 2 in the template: cityguided (public, through the front door); osrm (internal: "
        "from the app's tasks only, no route from the internet)",
    ]
    assert set(json.loads(images.read_text())["Outputs"]) == {
        "RepositoryUriCaddy",
        "RepositoryUriApi",
        "RepositoryUriWeb",
        "RepositoryUriOsrm",  # the internal osrm service's built container
    }
    # api pinned by its digest, caddy and web by the tag, each from its own repository.
    check_template_images(
        service,
        load_config(EXAMPLE_CONFIG),
        IMAGE_TAG,
        {"api": API_DIGEST},
        {name: f"cityguided-production/{name}" for name in ("caddy", "api", "web")},
    )
