"""Synthesize one environment's stacks into a cloud assembly, with cdk-nag checking every resource.

`synthesize()` is what `warmkeeper synth` and `warmkeeper deploy` call; `synthesize_images()` what
`warmkeeper images` calls; `warmkeeper.infra.main` is what `cdk synth` runs (through cdk.json). All
build the stacks the same way (`add_stacks`), so all give the same templates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import App, Aspects, Stack, cx_api
from cdk_nag import AwsSolutionsChecks

from warmkeeper.config import AppConfig
from warmkeeper.core.errors import WarmkeeperError
from warmkeeper.infra.stack import ImagesStack, WarmkeeperStack
from warmkeeper.infra.stack_settings import StackSettings


class SynthesisError(WarmkeeperError):
    """Nothing to synthesize, or the template was written but cdk-nag or CDK reported errors.

    `problem` is what went wrong; the message adds the folder of the written template, if any.
    """

    def __init__(self, problem: str, template_dir: Path | None = None) -> None:
        where = f" (the template in {template_dir} must not be deployed)" if template_dir is not None else ""
        super().__init__(problem + where)
        self.problem = problem


@dataclass(frozen=True)
class EnvironmentStacks:
    images: ImagesStack | None  # None when no container is built from source
    service: WarmkeeperStack


@dataclass(frozen=True)
class Synthesized:
    stack: WarmkeeperStack
    template: Path
    images_stack: ImagesStack | None
    images_template: Path | None


def _checked(stack: Stack) -> None:
    """AwsSolutions checks run on `stack` when the app synthesizes."""
    Aspects.of(stack).add(AwsSolutionsChecks(verbose=True, reports=False))


def add_images_stack(app: App, settings: StackSettings) -> ImagesStack | None:
    if not settings.built_containers:
        return None  # a stack must have a resource; nothing to push either
    stack = ImagesStack(app, settings)
    _checked(stack)
    return stack


def add_stacks(
    app: App,
    cfg: AppConfig,
    env: str,
    image_tag: str = "latest",
    image_digests: Mapping[str, str] | None = None,
) -> EnvironmentStacks:
    """Add `env`'s images stack and service stack to `app`. Raises ValueError on a bad tag or digest."""
    settings = StackSettings.create(cfg, env, image_tag, image_digests)
    images = add_images_stack(app, settings)
    service = WarmkeeperStack(app, settings)
    _checked(service)
    if images is not None:
        # Deploy order for `cdk deploy --all`; no reference crosses the stacks (no export).
        service.add_stack_dependency(images, "the task definition pulls from the images stack's repositories")
    return EnvironmentStacks(images=images, service=service)


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


def _synth(app: App, stacks: list[Stack], output: Path | None = None) -> list[Path]:
    """Synthesize `app` (into `output`); each stack's template path. Raises SynthesisError on any
    error annotation."""
    assembly = app.synth()
    templates: list[Path] = []
    for stack in stacks:
        artifact = assembly.get_stack_by_name(stack.stack_name)
        errors = [m for m in artifact.messages if m.level == cx_api.SynthesisMessageLevel.ERROR]
        if errors:
            details = "; ".join(f"{m.id}: {m.entry.data}" for m in errors[:5])
            raise SynthesisError(f"{stack.stack_name}: {len(errors)} synthesis error(s): {details}", output)
        templates.append(Path(artifact.template_full_path))
    return templates


def synthesize_stack(
    cfg: AppConfig,
    env: str,
    output: Path,
    image_tag: str = "latest",
    image_digests: Mapping[str, str] | None = None,
) -> Synthesized:
    app = new_app(output)
    stacks = add_stacks(app, cfg, env, image_tag, image_digests)
    if stacks.images is None:
        (template,) = _synth(app, [stacks.service], output)
        return Synthesized(stacks.service, template, None, None)
    images_template, template = _synth(app, [stacks.images, stacks.service], output)
    return Synthesized(stacks.service, template, stacks.images, images_template)


def synthesize(
    cfg: AppConfig,
    env: str,
    output: Path,
    image_tag: str = "latest",
    image_digests: Mapping[str, str] | None = None,
) -> Path:
    """Synthesize `env` into the cloud assembly folder `output`; return the service stack's template.

    `image_digests` (container -> `sha256:...`) pins those containers' images by digest
    (`<repository uri>@sha256:...`); the others use `<repository uri>:<image_tag>`. The assembly
    also holds the images stack (`<Stack>-images`).
    """
    return synthesize_stack(cfg, env, output, image_tag, image_digests).template


def synthesize_images(cfg: AppConfig, env: str, output: Path) -> Path:
    """Synthesize only `env`'s images stack (the ECR repositories) into `output`; return its template."""
    app = new_app(output)
    stack = add_images_stack(app, StackSettings.create(cfg, env))
    if stack is None:
        raise SynthesisError(f"{cfg.stack_name(env)}: no container has `build`, so there is no images stack")
    (template,) = _synth(app, [stack])
    return template
