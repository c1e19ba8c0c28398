"""`warmkeeper deploy / rollback / images / smoke`: releases, the same on a laptop and in CI."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from warmkeeper.clikit import ConfigOption, EnvOption, UserError, err, load, out, quiet_node_banners
from warmkeeper.config import AppConfig, EnvironmentSettings
from warmkeeper.core.errors import ExitCode

# boto3, jsii and the deploy code load inside the commands: every other command starts without them.
if TYPE_CHECKING:
    from warmkeeper.deploy.context import ReleaseContext

TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=1,
        max=86400,
        help="Give up (exit 3) after this many seconds; CloudFormation goes on.",
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Cloud assembly folder (default: cdk.out/deploy-ENV)."),
]


def _context(
    cfg: AppConfig, env: str, settings: EnvironmentSettings, assembly_dir: Path, console: Console
) -> tuple[ReleaseContext, Path]:
    """The edge of a release: AWS clients, the pinned CDK CLI (and its path), the real clock."""
    from warmkeeper.aws.clients import AwsClients
    from warmkeeper.deploy.cdk import SubprocessCdkRunner, find_cdk
    from warmkeeper.deploy.context import ReleaseContext

    cdk = find_cdk(Path.cwd())
    context = ReleaseContext(
        cfg=cfg,
        env=env,
        settings=settings,
        clients=AwsClients.for_region(settings.aws_region),
        runner=SubprocessCdkRunner(cdk, cwd=Path.cwd(), region=settings.aws_region),
        assembly_dir=assembly_dir,
        console=console,
        clock=time.monotonic,
        sleep=time.sleep,
    )
    return context, cdk


def _deployer(cfg: AppConfig, env: str, settings: EnvironmentSettings, output: Path | None) -> Any:
    from warmkeeper.deploy.release import AwsDeployer
    from warmkeeper.deploy.synthesis import synthesize_with_infra

    quiet_node_banners()

    context, _cdk = _context(cfg, env, settings, output or Path("cdk.out") / f"deploy-{env}", out)
    return AwsDeployer(context, synthesize=synthesize_with_infra)


def _deploy_local(
    cfg: AppConfig,
    settings: EnvironmentSettings,
    timeout: float,
    dry_run: bool,
    image_tag: str | None,
    *,
    verify: bool = True,
) -> None:
    if dry_run:
        raise UserError(
            "--dry-run: the local twin has no template to diff; use it with staging or production"
        )
    from warmkeeper.commands.twin_deploy_commands import (
        deploy_local,
    )  # the twin's client: only for --env local

    code = deploy_local(cfg, settings, timeout_seconds=timeout, image_tag=image_tag, verify=verify)
    raise typer.Exit(int(code) if isinstance(code, int) else ExitCode.OK)


def _finish(result: Any) -> None:
    if result.exit_code == ExitCode.OK:
        out.print(f"[bold green]done:[/] {result.message}", highlight=False)
    else:
        err.print(f"[bold red]error:[/] {result.message}", highlight=False, soft_wrap=True)
    raise typer.Exit(int(result.exit_code))


def deploy(
    config: ConfigOption = Path("warmkeeper.toml"),
    env: EnvOption = "staging",
    image_tag: Annotated[
        str | None, typer.Option("--image-tag", "-t", help="Image tag pushed by `make images` (AWS).")
    ] = None,
    timeout: TimeoutOption = 1200,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Run the checks and show `cdk diff` only.")
    ] = False,
    output: OutputOption = None,
    no_verify: Annotated[
        bool,
        typer.Option(
            "--no-verify",
            help="A sleeping environment: do not run the new revision once to check it (the next wake does).",
        ),
    ] = False,
) -> None:
    """Deploy a version: checks first, then `cdk deploy`, then follow ECS until it is done.

    A sleeping environment's new revision is started once and must pass its health checks, then it
    sleeps again; a revision that fails is taken out of service.

    Exit codes: 0 deployed (checked, if the environment sleeps), 1 failed, rolled back, or the new
    revision failed its check, 2 a check failed before anything changed, 3 timed out.
    """
    cfg, settings = load(config, env)
    if env == "local":
        _deploy_local(cfg, settings, timeout, dry_run, image_tag or None, verify=not no_verify)
        return
    if not image_tag:
        raise UserError(
            "--image-tag is required for an AWS environment (the tag `make images TAG=...` pushed)"
        )
    deployer = _deployer(cfg, env, settings, output)
    _finish(deployer.deploy(image_tag, timeout_seconds=timeout, dry_run=dry_run, verify=not no_verify))


def rollback(
    config: ConfigOption = Path("warmkeeper.toml"),
    env: EnvOption = "staging",
    timeout: TimeoutOption = 1200,
    output: OutputOption = None,
) -> None:
    """Redeploy the previous release (its recorded image digests), with the same checks as a deploy."""
    cfg, settings = load(config, env)
    if env == "local":
        raise UserError("--env local: the twin keeps no release history; deploy the version you want instead")
    _finish(_deployer(cfg, env, settings, output).rollback(timeout_seconds=timeout))


def destroy(
    # No default: deleting an environment names it.
    env: EnvOption,
    config: ConfigOption = Path("warmkeeper.toml"),
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=1,
            max=86400,
            help="Give up (exit 3) after this many seconds; CloudFormation goes on.",
        ),
    ] = 1800,
    output: OutputOption = None,
) -> None:
    """Delete ENV's service stack: the waker's run-time routing first, then `cdk destroy`.

    The images stack (ECR repositories and their images) stays. Use this, not `cdk destroy`: the
    warm route the waker created at run time keeps the service's target group in use, and
    CloudFormation's delete of it fails while it exists.

    Exit codes: 0 destroyed, 1 cdk destroy failed, 2 nothing to destroy or a check failed (nothing
    changed), 3 timed out.
    """
    cfg, settings = load(config, env)
    if env == "local":
        raise UserError("--env local: the twin has no stack to destroy; stop it with Ctrl-C")
    from warmkeeper.deploy.destroy import Destroyer
    from warmkeeper.deploy.synthesis import synthesize_with_infra

    quiet_node_banners()

    context, _cdk = _context(cfg, env, settings, output or Path("cdk.out") / f"destroy-{env}", out)
    _finish(Destroyer(context, synthesize=synthesize_with_infra).destroy(timeout_seconds=timeout))


def images(
    tag: Annotated[
        str | None, typer.Option("--tag", "-t", help="Image tag to build and push (e.g. the commit).")
    ] = None,
    config: ConfigOption = Path("warmkeeper.toml"),
    env: EnvOption = "staging",
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Build here (Docker if a daemon answers, else Podman) and print the sizes; push nothing.",
        ),
    ] = False,
    bases: Annotated[
        str,
        typer.Option(
            "--bases",
            help="--local: auto (public bases if they can be pulled, else local ones), public or local.",
        ),
    ] = "auto",
    zstd: Annotated[
        bool,
        typer.Option(
            "--zstd/--no-zstd",
            help="Push zstd-compressed layers (default: AWS reports up to 27 % faster Fargate task starts) "
            "or gzip ones.",
        ),
    ] = True,
    budget_mb: Annotated[
        float,
        typer.Option("--budget-mb", min=1, help="--local: exit 1 when the task's images exceed this (gzip)."),
    ] = 100.0,
    print_only: Annotated[bool, typer.Option("--print", help="Print the commands, run nothing.")] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=1, help="Bound on the images stack's deploy, in seconds (exit 3)."),
    ] = 600,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Cloud assembly folder (default: cdk.out/images-ENV)."),
    ] = None,
) -> None:
    """Deploy ENV's images stack (ECR repositories), then build and push TAG's images to it.

    Run it before every `warmkeeper deploy`, the first one of a new environment included.

    With --local: build every container's image on this machine and print each image's size as a
    registry stores it and the task's total (shared layers once); exit 1 when a build fails or the
    total is over --budget-mb.

    Exit codes: 0 pushed, 1 the stack deploy or a build failed, 2 a check failed (nothing changed),
    3 the stack deploy timed out.
    """
    if local:
        _images_local(config, env, bases, budget_mb)
        return
    if not tag:
        raise UserError("--tag is required to push images (or --local to build and measure them here)")
    from warmkeeper.deploy.publish import ImagePublisher
    from warmkeeper.deploy.synthesis import synthesize_images_with_infra

    cfg, settings = load(config, env)
    if env == "local":
        raise UserError(
            "--env local: the twin runs the containers' local commands; there is no image to build"
        )
    context, cdk = _context(
        cfg,
        env,
        settings,
        output or Path("cdk.out") / f"images-{env}",
        err if print_only else out,  # --print: stdout carries the commands only
    )
    publisher = ImagePublisher(
        context, synthesize=synthesize_images_with_infra, cdk_command=os.path.relpath(cdk)
    )
    if print_only:
        for line in publisher.preview(tag, zstd=zstd):
            out.print(line, markup=False, highlight=False, soft_wrap=True)
        return
    published = publisher.publish(tag, timeout_seconds=timeout, zstd=zstd)
    for name, digest in published.digests.items():
        out.print(f"pushed {published.images[name]} {digest}", highlight=False)


def _images_local(config: Path, env: str, bases: str, budget_mb: float) -> None:
    from warmkeeper.images.bases import BaseMode
    from warmkeeper.images.local import run_local_images

    try:
        mode = BaseMode(bases)
    except ValueError:
        raise UserError(f"--bases {bases!r}: use auto, public or local") from None
    cfg, settings = load(config, env)
    # A failed build, a base that cannot be had, no engine: one line naming the image and the step, exit 1.
    code = run_local_images(cfg, settings, mode, budget_mb, Path("cdk.out") / "images-local", out)
    raise typer.Exit(code)


def smoke(
    config: ConfigOption = Path("warmkeeper.toml"),
    env: EnvOption = "staging",
) -> None:
    """Check a real deployment: forced sleep, timed cold start, waiting page, hold, keep-alive, sleep."""
    from warmkeeper.aws.clients import AwsClients, has_credentials

    cfg, settings = load(config, env)
    if env == "local":
        raise UserError("--env local: the smoke test checks an AWS deployment; the e2e tests cover the twin")
    if not has_credentials():
        out.print(
            f"skipped: no AWS credentials (set AWS_PROFILE, or use the CI OIDC role, to smoke-test {env})",
            markup=False,
        )
        return

    import httpx

    from warmkeeper.commands.ops_commands import (
        aws_control,
    )  # the AWS ServiceControl `warmkeeper status` uses
    from warmkeeper.deploy.smoke import Smoke

    control = aws_control(cfg, env, settings, AwsClients.for_region(settings.aws_region))
    if not control.url:
        raise UserError(f"stack {cfg.stack_name(env)} has no Url output: deploy it with this version first")
    out.print(f"smoke test of {control.url} ({settings.aws_region}); times are measured on AWS")
    with httpx.Client(timeout=30) as http:
        report = Smoke(
            control,
            http,
            control.url,
            cfg.scale_to_zero,
            clock=time.monotonic,
            sleep=time.sleep,
            console=out,
        ).run()  # a problem on the way is a SmokeError: the smoke test stopped (exit 1)
    if not report.ok:
        raise typer.Exit(ExitCode.FAILED)
