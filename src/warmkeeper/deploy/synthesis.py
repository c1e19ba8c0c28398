"""Synthesis as a pre-flight check: the cloud assembly that `cdk deploy` gets is the one checked.

The deploy synthesizes in-process through :func:`warmkeeper.infra.app.synthesize` (the CDK app owns
the cdk-nag checks), then reads the cloud assembly: an error annotation (cdk-nag's unsuppressed
findings are errors) stops the deploy before anything changes. `cdk deploy --app <assembly>` then
deploys exactly this assembly, without synthesizing again. `warmkeeper images` does the same with
the images stack alone (:func:`warmkeeper.infra.app.synthesize_images`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from warmkeeper.config import AppConfig
from warmkeeper.deploy.preflight import PreflightError
from warmkeeper.naming import built_containers

# (cfg, env, output folder, image tag, container -> digest) -> the service stack's template file
Synthesizer = Callable[[AppConfig, str, Path, str, Mapping[str, str]], Path]
# (cfg, env, output folder) -> the images stack's template file
ImagesSynthesizer = Callable[[AppConfig, str, Path], Path]

ERROR = "aws:cdk:error"
WARNING = "aws:cdk:warning"


def _infra() -> Any:
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    try:
        # CDK is slow to import: only when deploying.
        from warmkeeper.infra import app
    except ModuleNotFoundError as exc:
        raise PreflightError(
            f"cannot synthesize: {exc.name} is not importable (install the infra extra: make setup)"
        ) from None
    return app


def synthesize_with_infra(
    cfg: AppConfig, env: str, output: Path, image_tag: str, digests: Mapping[str, str]
) -> Path:
    """Synthesize ENV with the project's CDK app, every built image pinned by its digest."""
    infra = _infra()
    try:
        template: Path = infra.synthesize(cfg, env, output, image_tag=image_tag, image_digests=dict(digests))
    except infra.SynthesisError as exc:  # cdk-nag or CDK errors: the template must not be deployed
        raise PreflightError(f"synthesis/cdk-nag: {exc.problem}") from None
    return template


def synthesize_images_with_infra(cfg: AppConfig, env: str, output: Path) -> Path:
    """Synthesize ENV's images stack (the ECR repositories) with the project's CDK app."""
    infra = _infra()
    try:
        template: Path = infra.synthesize_images(cfg, env, output)
    except infra.SynthesisError as exc:
        raise PreflightError(f"synthesis/cdk-nag: {exc.problem}") from None
    return template


def _stack_artifact(manifest: Mapping[str, Any], stack_name: str) -> tuple[str, Mapping[str, Any]]:
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        if stack_name in (artifact_id, artifact.get("properties", {}).get("stackName")):
            return artifact_id, artifact
    raise PreflightError(f"the cloud assembly has no stack named {stack_name}")


def _metadata(assembly: Path, artifact: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    entries: dict[str, list[Mapping[str, Any]]] = {
        path: list(items) for path, items in artifact.get("metadata", {}).items()
    }
    # Large assemblies move metadata to a side file (cloud assembly schema >= 36).
    extra = artifact.get("additionalMetadataFile")
    if extra:
        for path, items in json.loads((assembly / extra).read_text(encoding="utf-8")).items():
            entries.setdefault(path, []).extend(items)
    return entries


def check_assembly(assembly: Path, stack_name: str) -> tuple[Path, int]:
    """The stack's template path and warning count; any error annotation (cdk-nag) is a failure."""
    manifest_file = assembly / "manifest.json"
    if not manifest_file.is_file():
        raise PreflightError(f"synthesis wrote no cloud assembly: {manifest_file} is missing")
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    _artifact_id, artifact = _stack_artifact(manifest, stack_name)
    errors: list[str] = []
    warnings = 0
    for path, items in _metadata(assembly, artifact).items():
        for item in items:
            if item.get("type") == ERROR:
                errors.append(f"{path}: {item.get('data')}")
            elif item.get("type") == WARNING:
                warnings += 1
    if errors:
        first = errors[0] if len(errors[0]) <= 300 else errors[0][:297] + "..."
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise PreflightError(f"synthesis/cdk-nag: {len(errors)} error(s) in {stack_name}: {first}{more}")
    template_file = artifact.get("properties", {}).get("templateFile")
    if not template_file:
        raise PreflightError(f"the cloud assembly names no template for {stack_name}")
    return assembly / template_file, warnings


def check_template_images(
    template: Path,
    cfg: AppConfig,
    image_tag: str,
    digests: Mapping[str, str],
    repositories: Mapping[str, str],
) -> None:
    """Every built container's image in the template is `<its repository>@<its digest>`.

    `digests` and `repositories` map containers to what the pre-flight resolved from ECR and the
    images stack. A container without a digest must use IMAGE_TAG. This catches a CDK app that
    ignored the digests (and would deploy whatever the tag means when ECS resolves it), the tag
    (and would deploy `latest`), or pulls from another repository than the one the images are in.
    """
    resources = json.loads(template.read_text(encoding="utf-8")).get("Resources", {})
    images: dict[str, str] = {}
    for resource in resources.values():
        if resource.get("Type") != "AWS::ECS::TaskDefinition":
            continue
        for definition in resource.get("Properties", {}).get("ContainerDefinitions", []):
            # Images are usually Fn::Join of the account, region and "/<repository>@<digest>":
            # compare as text.
            images[str(definition.get("Name"))] = json.dumps(definition.get("Image"))
    for container in built_containers(cfg):
        image = images.get(container.name)
        if image is None:
            raise PreflightError(f"the synthesized template has no container {container.name!r}")
        repository = repositories.get(container.name)
        if repository and f"/{repository}" not in image:
            raise PreflightError(
                f"the synthesized template does not pull container {container.name} from repository "
                f"{repository} (the images stack's RepositoryUri output)"
            )
        digest = digests.get(container.name)
        if digest:
            if f"@{digest}" not in image:
                raise PreflightError(
                    f"the synthesized template does not pin container {container.name} to {digest} "
                    "(is image_digests wired in warmkeeper.infra?)"
                )
        elif f":{image_tag}" not in image:
            raise PreflightError(
                f"the synthesized template does not use image tag {image_tag} for container "
                f"{container.name} (is the imageTag context wired in warmkeeper.infra?)"
            )
