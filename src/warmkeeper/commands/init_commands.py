"""`warmkeeper init`: a first warmkeeper.toml, from flags, a Dockerfile or a compose file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

import typer

from warmkeeper.clikit import UserError, out
from warmkeeper.config import ConfigError, aws_configured_region, parse_config
from warmkeeper.onboard.starter import (
    FALLBACK_REGION,
    AppSpec,
    ContainerSpec,
    HealthSpec,
    app_name_from,
    exposed_port,
    render_config,
)


def _region(region: str | None) -> tuple[str, str]:
    """The region to write, and where it came from (said in the file and on the terminal)."""
    if region:
        return region, "from --region"
    configured = aws_configured_region()
    if configured:
        return configured, "from the AWS configuration when `init` ran"
    return FALLBACK_REGION, "no --region and no AWS configuration region: CHANGE IT to yours"


def _write(target: Path, text: str, force: bool, files: dict[Path, bytes] | None = None) -> None:
    """Validate the text as the file it becomes, then write it in one step (nothing half-written)."""
    if target.exists() and not force:
        raise UserError(f"{target} exists: pass --force to overwrite it")
    try:
        parse_config(tomllib.loads(text), target.resolve())
    except ConfigError as exc:
        # The generated file must validate: a failure here is a problem of the input, named by its key.
        raise UserError(f"the generated {target} would not validate: {exc.key}: {exc.problem}") from None
    for path, content in (files or {}).items():
        # The images the config builds from (a mounted file baked in): written before the config names them.
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)


def init(
    name: Annotated[str | None, typer.Option("--name", help="App name (default: this folder's).")] = None,
    image: Annotated[
        str | None, typer.Option("--image", help="The container's image, e.g. nginx:1.27.")
    ] = None,
    build: Annotated[
        str | None, typer.Option("--build", help="Folder with a Dockerfile to build the image from.")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Port the container listens on.")
    ] = None,
    health_path: Annotated[str, typer.Option("--health-path", help="Path answering 200 when ready.")] = "/",
    region: Annotated[
        str | None, typer.Option("--region", help="AWS region (default: the AWS configuration's).")
    ] = None,
    from_compose: Annotated[
        Path | None,
        typer.Option("--from", help="A compose file (compose.yaml, docker-compose.yml) to import."),
    ] = None,
    entry: Annotated[
        str | None, typer.Option("--entry", help="With --from: the service the front door reaches.")
    ] = None,
    external: Annotated[
        list[str] | None,
        typer.Option(
            "--external",
            help="With --from: NAME=URL, an existing service (database, cache) used instead of service NAME.",
        ),
    ] = None,
    config: Annotated[
        Path, typer.Option("--config", "-c", help="The file to write.", show_default=True)
    ] = Path("warmkeeper.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented warmkeeper.toml: from --image/--build and --port, a Dockerfile here, or --from."""
    if config.exists() and not force:
        raise UserError(f"{config} exists: pass --force to overwrite it")
    chosen_region, region_source = _region(region)
    if from_compose is not None:
        if image or build or port:
            raise UserError("--from: give a compose file or --image/--build/--port, not both")
        from warmkeeper.onboard.compose_import import import_compose

        result = import_compose(
            from_compose,
            app_name=name,
            entry=entry,
            externals=external or [],
            region=chosen_region,
            region_source=region_source,
            config_dir=config.resolve().parent,
        )
        _write(config, result.text, force, result.files)
        for line in result.report:
            out.print(line, markup=False, highlight=False)
        out.print(
            f"wrote {config} ({len(result.app.containers)} containers, "
            f"region {chosen_region}: {region_source})"
        )
        _next_steps(config)
        return
    if external or entry:
        raise UserError("--entry and --external go with --from COMPOSE_FILE")
    if image and build:
        raise UserError("--image and --build: give one (an image to run, or a folder to build one from)")
    if not image and not build:
        dockerfile = Path("Dockerfile")
        if not dockerfile.is_file():
            raise UserError(
                "nothing to describe: pass --image IMAGE or --build DIR with --port, run it where a "
                "Dockerfile is, or --from compose.yaml"
            )
        build = "."
        if port is None:
            port = exposed_port(dockerfile)
            if port is None:
                raise UserError("--port: the Dockerfile EXPOSEs no port; pass the port the app listens on")
    if port is None:
        raise UserError("--port: the port the container listens on is needed")
    if not health_path.startswith("/"):
        raise UserError(f"--health-path: {health_path!r} must start with '/'")
    app_name = name or app_name_from(Path.cwd())
    container = ContainerSpec(
        name="web" if app_name != "web" else "app",
        image=image,
        build=build,
        port=port,
        entry=True,
        health=HealthSpec(path=health_path),
    )
    spec = AppSpec(name=app_name, region=chosen_region, region_source=region_source, containers=[container])
    _write(config, render_config(spec), force)
    out.print(f"wrote {config} for {app_name} (region {chosen_region}: {region_source})")
    _next_steps(config)


def _next_steps(config: Path) -> None:
    flag = "" if config == Path("warmkeeper.toml") else f" -c {config}"
    out.print(
        "front door: CloudFront (HTTPS on *.cloudfront.net) in front of an internal load balancer, "
        "billed by the hour even while the app sleeps; front_door = 'http_api' in [environments.staging] "
        "has no hourly charge and needs a health command in every container (see the comments in the "
        "file, and `warmkeeper cost --compare-front-doors`)",
        markup=False,
        highlight=False,
    )
    out.print(
        f"next: warmkeeper validate{flag}; warmkeeper synth{flag} --env staging; "
        f"warmkeeper cost{flag} --env staging; warmkeeper up{flag} (on this machine)"
    )
