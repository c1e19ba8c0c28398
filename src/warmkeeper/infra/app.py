"""Synthesize one environment's stack into a cloud assembly, with cdk-nag checking every resource.

`synthesize()` is what `warmkeeper synth` calls; `warmkeeper.infra.main` is what `cdk synth` runs
(through cdk.json). Both build the same stack the same way, so both give the same template.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import App, Aspects, cx_api
from cdk_nag import AwsSolutionsChecks

from warmkeeper.config import AppConfig
from warmkeeper.infra.settings import StackSettings
from warmkeeper.infra.stack import WarmkeeperStack


class SynthesisError(Exception):
    """The template was written but cdk-nag or CDK reported errors: it must not be deployed."""


@dataclass(frozen=True)
class Synthesized:
    stack: WarmkeeperStack
    template: Path


def add_stack(app: App, cfg: AppConfig, env: str, image_tag: str = "latest") -> WarmkeeperStack:
    """Add `env`'s stack to `app`; AwsSolutions checks run on it when the app synthesizes."""
    stack = WarmkeeperStack(app, StackSettings.create(cfg, env, image_tag))
    Aspects.of(stack).add(AwsSolutionsChecks(verbose=True, reports=False))
    return stack


def new_app(output: Path | None = None) -> App:
    """An app that synthesizes the same template as the CDK CLI does through cdk.json."""
    return App(
        outdir=str(output) if output is not None else None,
        # No version-reporting resource (cdk.json says the same to the CLI).
        analytics_reporting=False,
        # Construct paths in each resource's metadata, as the CLI writes them: the console shows
        # which construct a resource comes from.
        context={"aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True},
    )


def synthesize_stack(cfg: AppConfig, env: str, output: Path, image_tag: str = "latest") -> Synthesized:
    app = new_app(output)
    stack = add_stack(app, cfg, env, image_tag)
    assembly = app.synth()
    artifact = assembly.get_stack_by_name(stack.stack_name)
    errors = [m for m in artifact.messages if m.level == cx_api.SynthesisMessageLevel.ERROR]
    if errors:
        details = "; ".join(f"{m.id}: {m.entry.data}" for m in errors[:5])
        raise SynthesisError(f"{stack.stack_name}: {len(errors)} synthesis error(s): {details}")
    return Synthesized(stack=stack, template=Path(artifact.template_full_path))


def synthesize(cfg: AppConfig, env: str, output: Path, image_tag: str = "latest") -> Path:
    """Synthesize `env` into the cloud assembly folder `output`; return the template's path."""
    return synthesize_stack(cfg, env, output, image_tag).template
