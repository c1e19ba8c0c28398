"""Commands about the config file and the CloudFormation template."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from warmkeeper.clikit import ConfigOption, EnvOption, app, fail, load, out
from warmkeeper.config import load_config


@app.command()
def validate(
    config: ConfigOption = Path("warmkeeper.toml"),
) -> None:
    """Check the config file and print each environment's resolved settings."""
    cfg = load_config(config)
    out.print(f"{config}: valid ({cfg.app.name}, {len(cfg.containers)} containers)")
    for name in ("local", "staging", "production"):
        settings = cfg.environment(name)
        mode = f"scale to zero after {settings.idle_minutes} min" if settings.scale_to_zero else "always on"
        out.print(
            f"  {name:<10} {settings.region}  {settings.cpu} CPU / {settings.memory} MiB "
            f"{settings.architecture}{' spot' if settings.spot else ''}  "
            f"tasks {settings.min_tasks}-{settings.max_tasks}  {mode}"
        )


@app.command()
def synth(
    config: ConfigOption = Path("warmkeeper.toml"),
    env: EnvOption = "staging",
    output: Annotated[Path, typer.Option("--output", "-o", help="Cloud assembly folder.")] = Path("cdk.out"),
    image_tag: Annotated[
        str, typer.Option("--image-tag", help="Tag of the built images the task definition uses.")
    ] = "latest",
) -> None:
    """Synthesize the environment's CloudFormation template (no AWS credentials needed)."""
    from warmkeeper.infra.settings import check_image_tag  # no CDK import: cheap

    cfg, _settings = load(config, env)
    if env == "local":
        raise fail("--env local: the local environment has no AWS stack; use staging or production")
    try:
        check_image_tag(image_tag)
    except ValueError as exc:
        raise fail(f"--image-tag: {exc}") from None
    from warmkeeper.infra.app import (
        SynthesisError,
        synthesize,
    )  # CDK is slow to import: only when synthesizing

    try:
        template = synthesize(cfg, env, output, image_tag=image_tag)
    except SynthesisError as exc:
        raise fail(f"{exc} (the template in {output} must not be deployed)") from None
    out.print(f"wrote {template}")
