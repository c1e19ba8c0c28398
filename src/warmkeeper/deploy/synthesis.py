"""Synthesis as a pre-flight check: the cloud assembly that `cdk deploy` gets is the one checked.

The deploy synthesizes in-process through :func:`warmkeeper.infra.app.synthesize` (the CDK app owns
the cdk-nag checks), then reads the cloud assembly: an error annotation (cdk-nag's unsuppressed
findings are errors) stops the deploy before anything changes. `cdk deploy --app <assembly>` then
deploys exactly this assembly, without synthesizing again.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from warmkeeper.config import AppConfig
from warmkeeper.deploy.preflight import PreflightError, built_containers

# (cfg, env, output folder, image tag, container -> digest) -> template file
Synthesizer = Callable[[AppConfig, str, Path, str, Mapping[str, str]], Path]

ERROR = "aws:cdk:error"
WARNING = "aws:cdk:warning"


def synthesize_with_infra(
    cfg: AppConfig, env: str, output: Path, image_tag: str, digests: Mapping[str, str]
) -> Path:
    """Synthesize ENV with the project's CDK app, pinning image digests when the app supports it."""
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    try:
        # CDK is slow to import: only when deploying.
        from warmkeeper.infra.app import SynthesisError, synthesize
    except ModuleNotFoundError as exc:
        raise PreflightError(
            f"cannot synthesize: {exc.name} is not importable (install the infra extra: make setup)"
        ) from None
    parameters = inspect.signature(synthesize).parameters
    kwargs: dict[str, Any] = {"image_tag": image_tag}
    if "image_digests" in parameters:
        kwargs["image_digests"] = dict(digests)
    try:
        template: Path = synthesize(cfg, env, output, **kwargs)
    except SynthesisError as exc:  # cdk-nag or CDK errors: the template must not be deployed
        raise PreflightError(f"synthesis/cdk-nag: {exc}") from None
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


def check_template_images(template: Path, cfg: AppConfig, image_tag: str, digests: Mapping[str, str]) -> bool:
    """Every built container's image in the template uses TAG or its digest; True when by digest.

    This catches a CDK app that ignored the tag (and would deploy `latest`).
    """
    resources = json.loads(template.read_text(encoding="utf-8")).get("Resources", {})
    images: dict[str, str] = {}
    for resource in resources.values():
        if resource.get("Type") != "AWS::ECS::TaskDefinition":
            continue
        for definition in resource.get("Properties", {}).get("ContainerDefinitions", []):
            # Images are usually Fn::Join of the repository URI and ":tag": compare as text.
            images[str(definition.get("Name"))] = json.dumps(definition.get("Image"))
    by_digest = True
    for container in built_containers(cfg):
        image = images.get(container.name)
        if image is None:
            raise PreflightError(f"the synthesized template has no container {container.name!r}")
        digest = digests.get(container.name)
        if digest and f"@{digest}" in image:
            continue
        by_digest = False
        if f":{image_tag}" not in image:
            raise PreflightError(
                f"the synthesized template does not use image tag {image_tag} for container "
                f"{container.name} (is the imageTag context wired in warmkeeper.infra?)"
            )
    return by_digest
