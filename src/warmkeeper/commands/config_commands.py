"""Commands about the config file and the CloudFormation template."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from warmkeeper.clikit import (
    ConfigOption,
    EnvOption,
    UserError,
    checked_option,
    err,
    load,
    out,
    quiet_node_banners,
)
from warmkeeper.config import LOCAL_ENVIRONMENT, AppConfig, load_config


def validate(
    config: ConfigOption = Path("warmkeeper.toml"),
) -> None:
    """Check the config file and print each environment's front door, task size and scaling."""
    cfg = load_config(config)
    services = f", {len(cfg.services) + 1} services" if cfg.services else ""
    out.print(f"{config}: valid ({cfg.app.name}, {len(cfg.containers)} containers{services})")
    for name in cfg.environment_names:
        out.print(f"  {environment_summary(cfg, name)}")
        for service in cfg.services:
            out.print(f"    {service_summary(cfg, service.name, name)}")
    if cfg.services:
        out.print(f"  services: {cfg.app.name} (public: {', '.join(c.name for c in cfg.containers)})")
        for service in cfg.services:
            woken = f"; woken with {cfg.app.name}" if service.name in cfg.app.wake_with else ""
            out.print(
                f"            {service.name} (internal, port {service.port}, from the app's tasks only: "
                f"{', '.join(c.name for c in service.containers)}{woken})"
            )
    # A declared environment serving plain HTTP to the internet is refused when the file loads, unless
    # it says allow_plain_http: then it is warned about here.
    for name in cfg.plain_http_environments():
        err.print(
            f"warning: environments.{name} serves plain HTTP to the internet (allow_plain_http = true): "
            "requests, cookies and the keep-alive token travel in clear"
        )


def environment_summary(cfg: AppConfig, name: str) -> str:
    """One line per environment: where it runs, its front door, its task size and how it scales."""
    settings = cfg.environment(name)
    if settings.scale_to_zero:
        scaling = f"tasks 0-1, scale to zero after {settings.idle_minutes} min idle"
    elif settings.min_tasks == settings.max_tasks:
        scaling = f"tasks {settings.min_tasks}, always on"
    else:
        scaling = (
            f"tasks {settings.min_tasks}-{settings.max_tasks}, always on, autoscaled at "
            f"{settings.target_cpu_percent} % CPU / {settings.target_requests_per_task} requests/min per task"
        )
    spot = " spot" if settings.spot else ""
    size = f"{settings.cpu} CPU / {settings.memory} MiB {settings.architecture}{spot}"
    if name == LOCAL_ENVIRONMENT:
        where = f"this machine ({settings.runtime}), http://localhost:{settings.edge_port}"
        declared = "" if name in cfg.environments else " (not declared: built-in defaults)"
        return f"{name:<10} {where}{declared}  {size}  {scaling}"
    return f"{name:<10} {settings.aws_region}  front door {settings.front_door}  {size}  {scaling}"


def service_summary(cfg: AppConfig, service: str, env: str) -> str:
    """One line per internal service and environment: its task size and its own sleep."""
    settings = cfg.service_settings(service, env)
    if settings.scale_to_zero:
        scaling = f"tasks 0-1, scale to zero after {settings.idle_minutes} min without a call"
    else:
        scaling = f"tasks {settings.min_tasks}-{settings.max_tasks}, always on"
    spot = " spot" if settings.spot else ""
    size = f"{settings.cpu} CPU / {settings.memory} MiB {settings.architecture}{spot}"
    return f"+ {service:<8} internal  {size}  {scaling}"


def _writable_folder(output: Path) -> bool:
    """Create `output` (and its parents) unless it exists; True when this call created it.

    Checked before jsii starts: a folder CDK cannot write ends in a JavaScript traceback otherwise.
    """
    existed = output.is_dir()
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--output {output}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(output, os.W_OK | os.X_OK):
        raise UserError(f"--output {output}: the folder is not writable")
    return not existed


def synth(
    config: ConfigOption = Path("warmkeeper.toml"),
    env: EnvOption = "staging",
    output: Annotated[Path, typer.Option("--output", "-o", help="Cloud assembly folder.")] = Path("cdk.out"),
    image_tag: Annotated[
        str, typer.Option("--image-tag", help="Tag of the built images the task definition uses.")
    ] = "latest",
    image_digests: Annotated[
        str,
        typer.Option(
            "--image-digests",
            help="Pin images by digest: api=sha256:...,web=sha256:... or a JSON object "
            "(as cdk.json's imageDigests); the others use --image-tag.",
        ),
    ] = "",
) -> None:
    """Synthesize the environment's two CloudFormation templates (no AWS credentials needed)."""
    # No CDK import before the arguments are checked: jsii takes seconds to start.
    from warmkeeper.naming import check_image_digests, check_image_tag, parse_image_digests

    cfg, _settings = load(config, env)
    if env == "local":
        raise UserError("--env local: the local environment has no AWS stack; use staging or production")
    checked_option("--image-tag", lambda: check_image_tag(image_tag))
    digests = checked_option(
        "--image-digests", lambda: check_image_digests(cfg, parse_image_digests(image_digests))
    )
    cfg.require_https(env)  # before anything is written
    created = _writable_folder(output)

    quiet_node_banners()
    from warmkeeper.infra.app import synthesize_stack

    try:
        # A SynthesisError (cdk-nag or CDK errors) names the written template that must not be deployed.
        synthesized = synthesize_stack(cfg, env, output, image_tag=image_tag, image_digests=digests)
    except (OSError, RuntimeError) as exc:  # jsii reports a failed write (and any CDK error) so
        if created:
            shutil.rmtree(output, ignore_errors=True)  # nothing half-written left behind
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"--output {output}: synthesis failed: {first_line}") from None
    out.print(f"wrote {synthesized.template}")
    if synthesized.images_template is not None:
        out.print(f"wrote {synthesized.images_template}")
    out.print(services_summary(cfg, synthesized.template))


def services_summary(cfg: AppConfig, template: Path) -> str:
    """The ECS services the written template declares, named from the config: the app's own, public
    through the front door, then each internal one, reachable from the app's tasks only."""
    resources = json.loads(template.read_text(encoding="utf-8")).get("Resources", {})
    declared = sum(1 for r in resources.values() if r.get("Type") == "AWS::ECS::Service")
    names = [f"{cfg.app.name} (public, through the front door)"] + [
        f"{s.name} (internal: from the app's tasks only, no route from the internet)" for s in cfg.services
    ]
    return f"ECS services: {declared} in the template: {'; '.join(names)}"


def schema(
    as_markdown: Annotated[
        bool, typer.Option("--markdown", help="The reference as Markdown (docs/config.md) instead.")
    ] = False,
) -> None:
    """Print the JSON Schema of warmkeeper.toml, for editors (Even Better TOML / Taplo)."""
    from warmkeeper.config_reference import json_schema, markdown

    text = markdown() if as_markdown else json.dumps(json_schema(), indent=2)
    out.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)
