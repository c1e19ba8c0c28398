"""What the CDK app and the deploy tooling share: stack and repository names, output keys, which
containers are built, and the image tag and digest rules.

No CDK import here: the deploy commands read these without paying for jsii. One place derives them,
so `warmkeeper synth / images / deploy`, `cdk synth` and both stacks always agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from warmkeeper.config import AppConfig, Container, pascal

IMAGES_STACK_SUFFIX = "-images"
REPOSITORY_OUTPUT_PREFIX = "RepositoryUri"
# Docker's reference grammar for a tag: what `docker push` and ECR accept.
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# An image digest as ECR reports it (`imageDigest`): the sha256 of the manifest.
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def images_stack_name(cfg: AppConfig, env: str) -> str:
    """The stack that owns the environment's ECR repositories: `Cityguided-staging-images`."""
    return cfg.stack_name(env) + IMAGES_STACK_SUFFIX


def repository_name(cfg: AppConfig, env: str, container: str) -> str:
    """`<app>-<env>/<container>`: staging and production may share an account and region."""
    return f"{cfg.app.name}-{env}/{container}"


def repository_output_key(container: str) -> str:
    """`RepositoryUri<Container>` (api -> RepositoryUriApi), an output of the images stack."""
    return REPOSITORY_OUTPUT_PREFIX + pascal(container)


def built_containers(cfg: AppConfig) -> list[Container]:
    """Containers whose image this project builds (the others use a fixed `image`)."""
    return [container for container in cfg.containers if container.build is not None]


def check_image_tag(tag: str) -> str:
    """`tag`, unless Docker and ECR would refuse it (ValueError; the caller names the argument)."""
    if not _IMAGE_TAG.match(tag):
        raise ValueError(f"{tag!r} is not a valid image tag (letters, digits, '_', '.', '-'; at most 128)")
    return tag


def check_image_digests(cfg: AppConfig, digests: Mapping[str, str]) -> dict[str, str]:
    """Raise ValueError unless every entry is a built container and an ECR image digest."""
    built = [container.name for container in built_containers(cfg)]
    for name, digest in digests.items():
        if name not in built:
            known = ", ".join(built) or "none"
            raise ValueError(
                f"{name!r} is not a container with `build` (containers built from source: {known})"
            )
        if not _DIGEST.match(digest):
            raise ValueError(f"{name}: {digest!r} is not an image digest (sha256: and 64 lowercase hex)")
    return dict(digests)


def parse_image_digests(value: object) -> dict[str, str]:
    """The `imageDigests` context value: a JSON object, `api=sha256:...,web=sha256:...`, or a dict.

    `cdk synth -c imageDigests=...` passes a string; a `context` entry in cdk.json may be an object.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return {str(name): str(digest) for name, digest in value.items()}
    if not isinstance(value, str):
        raise ValueError(f"expected a JSON object or name=digest pairs, got {type(value).__name__}")
    text = value.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc.msg}") from None
        if not isinstance(parsed, dict):
            raise ValueError("expected a JSON object of container name -> digest")
        return {str(name): str(digest) for name, digest in parsed.items()}
    digests: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        name, separator, digest = pair.partition("=")
        if not separator or not name.strip() or not digest.strip():
            raise ValueError(f"{pair!r} is not name=sha256:... (pairs separated by commas)")
        digests[name.strip()] = digest.strip()
    return digests
