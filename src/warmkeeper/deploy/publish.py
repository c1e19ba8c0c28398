"""`warmkeeper images` / `make images TAG=...`: the images stack first, then build and push.

The ECR repositories live in their own stack, `<Stack>-images`, so that they exist, with TAG's
images in them, before the service's stack is first created (CloudFormation starts a new service
at one task, which must find its image). Steps, nothing changing in AWS before the checks passed:

1. checks: tag, credentials and account, region, the images stack not busy, the CDK bootstrap;
2. synthesize the images stack alone and check it (cdk-nag errors stop here);
3. `cdk deploy <Stack>-images --exclusively --app <assembly>` through the pinned CDK CLI (the same
   injected runner as `warmkeeper deploy`): creates the repositories on an environment's first
   run, reports "no changes" afterwards;
4. the repository URIs from its outputs `RepositoryUri<Container>`; `docker buildx build --push`
   per built container (:mod:`warmkeeper.deploy.image_push`);
5. the pushed images' digests, read back from ECR: what `warmkeeper deploy` will pin.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from warmkeeper.aws.stack_outputs import describe_stack, first_failure_reason
from warmkeeper.core.errors import ExitCode, WarmkeeperError
from warmkeeper.deploy.cdk import deploy_args, run_to_end
from warmkeeper.deploy.context import ReleaseContext
from warmkeeper.deploy.image_push import (
    CommandRunner,
    ImagePlan,
    execute,
    plan_images,
    registry_password,
    run_command,
)
from warmkeeper.deploy.preflight import (
    PreflightError,
    check_tag_argument,
    pushed_digests,
    repository_of,
    repository_uris,
    resolve_image_digests,
)
from warmkeeper.deploy.synthesis import ImagesSynthesizer
from warmkeeper.naming import built_containers, images_stack_name, repository_name

DEFAULT_TIMEOUT_SECONDS = 600.0


class PublishError(WarmkeeperError):
    """The images stack or a build failed after the checks passed (exit 1; 3 when timed out)."""

    exit_code = ExitCode.FAILED


@dataclass(frozen=True)
class Published:
    images: Mapping[str, str]  # container -> <repository uri>:<tag>
    digests: Mapping[str, str]  # container -> sha256:...


def ecr_registry(account: str, region: str) -> str:
    """The account's registry host, as the images stack's RepositoryUri outputs will name it."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}"


class ImagePublisher:
    def __init__(
        self,
        context: ReleaseContext,
        *,
        synthesize: ImagesSynthesizer,
        run: CommandRunner = run_command,
        host_machine: str | None = None,
        cdk_command: str = "cdk",  # how the CLI is shown in --print output
    ):
        self.context = context
        self.synthesize = synthesize
        self.run = run
        self.host_machine = host_machine
        self.cdk_command = cdk_command
        self.stack_name = images_stack_name(context.cfg, context.env)

    def _fix(self, tag: str) -> str:
        return f"run `make images TAG={tag} ENV={self.context.env}` again"

    def _check(self, tag: str) -> str:
        """The checks both a run and a preview make; the account id."""
        check_tag_argument(tag, option="--tag")
        if not built_containers(self.context.cfg):
            raise PreflightError("no container has `build`: there is no image to build")
        return self.context.check_account().account

    def preview(self, tag: str, zstd: bool = True) -> list[str]:
        """The commands a run would execute, changing nothing (`warmkeeper images --print`)."""
        context = self.context
        account = self._check(tag)
        stack = describe_stack(context.clients.cloudformation, self.stack_name)
        if stack is not None and stack.outputs:
            uris = repository_uris(context.cfg, stack, self._fix(tag))
        else:  # first run: the URIs the stack's outputs will have
            registry = ecr_registry(account, context.settings.aws_region)
            uris = {
                container.name: f"{registry}/{repository_name(context.cfg, context.env, container.name)}"
                for container in built_containers(context.cfg)
            }
        plan = plan_images(context.cfg, context.settings, uris, tag, self.host_machine, zstd=zstd)
        deploy = shlex.join([self.cdk_command, *deploy_args(context.assembly_dir, self.stack_name)])
        return [deploy, *(command.shell() for command in plan.commands)]

    def publish(
        self, tag: str, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS, zstd: bool = True
    ) -> Published:
        """Deploy the images stack, build and push TAG, return the pushed digests.

        Raises PreflightError before any change, PublishError after.
        """
        context = self.context
        account = self._check(tag)
        context.check_settled(
            self.stack_name,
            busy="another `warmkeeper images` is running",
            absent="not created yet (first run)",
        )
        context.check_bootstrap(account)
        template, warnings = context.synthesize_checked(
            lambda output: self.synthesize(context.cfg, context.env, output), self.stack_name
        )
        context.ok(f"synthesized {template.name}: no cdk-nag error, {warnings} warning(s)")

        self._deploy_stack(timeout_seconds)
        deployed = describe_stack(context.clients.cloudformation, self.stack_name)
        if deployed is None:
            raise PublishError(f"cdk deploy reported success but stack {self.stack_name} does not exist")
        try:
            uris = repository_uris(context.cfg, deployed, self._fix(tag))
        except PreflightError as exc:
            raise PublishError(str(exc)) from None
        repositories = {name: repository_of(uri) for name, uri in uris.items()}
        # Tags are immutable (the images stack): a tag already pushed (a re-run of this tag) cannot
        # be pushed again. Those images are the release; they are kept, not rebuilt.
        already = pushed_digests(context.clients.ecr, repositories, tag)
        for name, digest in already.items():
            context.ok(
                f"{name}: {repositories[name]}:{tag} is already in ECR ({digest[:19]}…); tags are immutable, "
                "so it is kept, not rebuilt (new content needs a new tag, e.g. the commit)"
            )
        plan = plan_images(
            context.cfg, context.settings, uris, tag, self.host_machine, zstd=zstd, already_pushed=already
        )
        self._push(plan)
        try:
            digests = resolve_image_digests(context.clients.ecr, repositories, tag)
        except PreflightError as exc:  # pushed, yet not there: say so as a failure of this run
            raise PublishError(str(exc)) from None
        return Published(images=plan.images, digests=digests)

    def _deploy_stack(self, timeout_seconds: float) -> None:
        context = self.context
        started_at = datetime.now(UTC)
        context.console.print(f"→ cdk deploy {self.stack_name} (ECR repositories)", highlight=False)
        process = context.runner.start(deploy_args(context.assembly_dir, self.stack_name))
        code = run_to_end(
            process,
            timeout_seconds,
            clock=context.clock,
            sleep=context.sleep,
            console=context.console,
            prefix="cdk  ",
        )
        if code is None:
            raise PublishError(
                f"cdk deploy {self.stack_name} did not finish within {timeout_seconds:.0f} s (the CLI was "
                "stopped; CloudFormation goes on in AWS); no image was pushed",
                exit_code=ExitCode.TIMED_OUT,
            )
        if code != 0:
            reason = first_failure_reason(context.clients.cloudformation, self.stack_name, started_at)
            raise PublishError(
                f"cdk deploy {self.stack_name} exited with code {code}"
                + (f": {reason}" if reason else "")
                + "; no image was pushed"
            )
        context.ok(f"stack {self.stack_name} deployed")

    def _push(self, plan: ImagePlan) -> None:
        def announce(text: str) -> None:
            self.context.console.print(f"→ {text}", markup=False, highlight=False)

        try:
            execute(plan, lambda: registry_password(self.context.clients.ecr), self.run, announce)
        except RuntimeError as exc:
            raise PublishError(str(exc)) from None
