"""Entry point of `cdk synth` / `cdk deploy` (see cdk.json).

Context values (`cdk synth -c KEY=VALUE`):
- `config`: the app's warmkeeper.toml (default examples/cityguided/warmkeeper.toml);
- `env`: staging or production (default: both stacks);
- `imageTag`: the tag of the built images (default `latest`).
"""

from __future__ import annotations

import sys

from warmkeeper.config import ConfigError, load_config
from warmkeeper.infra.app import add_stack, new_app

DEFAULT_CONFIG = "examples/cityguided/warmkeeper.toml"
AWS_ENVIRONMENTS = ("staging", "production")


def main() -> None:
    app = new_app()  # the CDK CLI passes the output folder and the context
    config_path = str(app.node.try_get_context("config") or DEFAULT_CONFIG)
    env = app.node.try_get_context("env")
    image_tag = str(app.node.try_get_context("imageTag") or "latest")
    try:
        cfg = load_config(config_path)
        if env is not None and env not in AWS_ENVIRONMENTS:
            raise ConfigError(
                cfg.source, "-c env", f"{env!r} has no AWS stack; use one of {list(AWS_ENVIRONMENTS)}"
            )
        for name in [env] if env is not None else AWS_ENVIRONMENTS:
            add_stack(app, cfg, name, image_tag)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ValueError as exc:  # an invalid image tag
        print(f"error: -c imageTag: {exc}", file=sys.stderr)
        sys.exit(2)
    app.synth()


if __name__ == "__main__":
    main()
