"""Entry point of `cdk synth` / `cdk deploy` (see cdk.json).

Context values (`cdk synth -c KEY=VALUE`):
- `config`: the app's warmkeeper.toml (default examples/cityguided/warmkeeper.toml);
- `env`: staging or production (default: both environments);
- `imageTag`: the tag of the built images (default `latest`);
- `imageDigests`: images pinned by digest, as `api=sha256:...,web=sha256:...` or a JSON object
  (`-c 'imageDigests={"api":"sha256:..."}'`); containers not named use `imageTag`.

Each environment has two stacks: `<Stack>-images` (ECR repositories) and `<Stack>` (the service).
"""

from __future__ import annotations

import sys

from aws_cdk import App

from warmkeeper.config import ConfigError, load_config
from warmkeeper.infra.app import add_stacks, new_app
from warmkeeper.naming import check_image_digests, check_image_tag, parse_image_digests

DEFAULT_CONFIG = "examples/cityguided/warmkeeper.toml"
AWS_ENVIRONMENTS = ("staging", "production")


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main(app: App | None = None) -> None:
    """Build the stacks the context asks for; exit 2 with one line on a bad context value."""
    app = app or new_app()  # the CDK CLI passes the output folder and the context (environment)
    config_path = str(app.node.try_get_context("config") or DEFAULT_CONFIG)
    env = app.node.try_get_context("env")
    image_tag = str(app.node.try_get_context("imageTag") or "latest")
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        return _fail(str(exc))
    if env is not None and env not in AWS_ENVIRONMENTS:
        return _fail(f"-c env: {env!r} has no AWS stack; use one of {list(AWS_ENVIRONMENTS)}")
    try:
        check_image_tag(image_tag)
    except ValueError as exc:
        return _fail(f"-c imageTag: {exc}")
    try:
        given = parse_image_digests(app.node.try_get_context("imageDigests"))
        image_digests = check_image_digests(cfg, given)
    except ValueError as exc:
        return _fail(f"-c imageDigests: {exc}")
    for name in [env] if env is not None else AWS_ENVIRONMENTS:
        add_stacks(app, cfg, name, image_tag, image_digests)
    app.synth()


if __name__ == "__main__":
    main()
