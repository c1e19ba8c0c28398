"""`warmkeeper deploy/rollback` on AWS: pre-flight checks, `cdk deploy`, then follow ECS to the end.

Nothing changes in AWS before every check passed: credentials and account, region, the images
stack and the images of the tag in its repositories (resolved to digests), the stack not busy, the
CDK bootstrap, synthesis (images pinned by digest) and cdk-nag. Then the pinned CDK CLI deploys the
checked cloud assembly (the service stack only) while :func:`follow` reports progress. The
service's desired count is never touched: the template has none, so a cold service stays cold and
a warm one rolls (minimum healthy 100 %, circuit breaker with rollback).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from warmkeeper.config import AppConfig, EnvironmentSettings
from warmkeeper.deploy.cdk import CdkRunner, deploy_args, diff_args, run_to_end
from warmkeeper.deploy.clients import AwsClients
from warmkeeper.deploy.follow import Observer, Outcome, follow
from warmkeeper.deploy.history import Release, ReleaseHistory, parameter_name
from warmkeeper.deploy.preflight import (
    PreflightError,
    built_containers,
    check_bootstrap,
    check_credentials,
    check_image_tag,
    check_images_stack,
    check_region,
    resolve_image_digests,
)
from warmkeeper.deploy.stack import OUTPUT_PARAMETER_PREFIX, describe_stack
from warmkeeper.deploy.synthesis import Synthesizer, check_assembly, check_template_images

DEFAULT_TIMEOUT_SECONDS = 1200.0


@dataclass(frozen=True)
class DeployResult:
    exit_code: int
    message: str
    outcome: Outcome | None = None  # None for a dry run


class AwsDeployer:
    def __init__(
        self,
        cfg: AppConfig,
        env: str,
        settings: EnvironmentSettings,
        clients: AwsClients,
        *,
        runner: CdkRunner,
        synthesize: Synthesizer,
        assembly_dir: Path,
        console: Console,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        poll_seconds: float = 5.0,
    ):
        self.cfg = cfg
        self.env = env
        self.settings = settings
        self.clients = clients
        self.runner = runner
        self.synthesize = synthesize
        self.assembly_dir = assembly_dir
        self.console = console
        self.clock = clock
        self.sleep = sleep
        self.poll_seconds = poll_seconds
        self.stack_name = cfg.stack_name(env)

    def _ok(self, text: str) -> None:
        self.console.print(f"[green]✓[/] {text}", highlight=False)

    # ---- deploy -------------------------------------------------------------------------------

    def deploy(
        self,
        image_tag: str,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        dry_run: bool = False,
        expected_digests: Mapping[str, str] | None = None,
        record: bool = True,
    ) -> DeployResult:
        """Check, deploy (or diff), follow. Raises :class:`PreflightError` before any change."""
        tag = check_image_tag(image_tag)
        identity = check_credentials(self.clients.sts, self.settings.account, self.env)
        self._ok(f"credentials: {identity.arn} (account {identity.account})")
        check_region(self.settings.region, self.clients, self.env)
        self._ok(f"region: {self.settings.region}")
        repositories = (
            check_images_stack(self.clients.cloudformation, self.cfg, self.env, tag)
            if built_containers(self.cfg)
            else {}
        )
        digests = resolve_image_digests(self.clients.ecr, repositories, tag, expected_digests)
        if digests:
            self._ok(
                f"images {tag}: " + ", ".join(f"{name} {digest[:19]}…" for name, digest in digests.items())
            )
        stack = describe_stack(self.clients.cloudformation, self.stack_name)
        if stack is not None and stack.busy:
            raise PreflightError(
                f"stack {self.stack_name} is {stack.status}: another deploy is running; wait for it to end"
            )
        self._ok(f"stack {self.stack_name}: {stack.status if stack else 'not created yet (first deploy)'}")
        version = check_bootstrap(self.clients.ssm, identity.account, self.settings.region)
        self._ok(f"CDK bootstrap version {version}")

        if self.assembly_dir.exists():
            shutil.rmtree(self.assembly_dir)  # a stale asset must not slip into this deploy
        self.synthesize(self.cfg, self.env, self.assembly_dir, tag, digests)
        template, warnings = check_assembly(self.assembly_dir, self.stack_name)
        # Every built image by the digest resolved above: what runs is what was checked, even if
        # the tag moves during or after the deploy (and a rollback gets the recorded images).
        check_template_images(template, self.cfg, tag, digests, repositories)
        self._ok(
            f"synthesized {template.name}: no cdk-nag error, {warnings} warning(s); "
            + ("images pinned by digest" if digests else "no image built from source")
        )

        if dry_run:
            return self._diff(timeout_seconds)

        observer = Observer(self.clients, self.stack_name)
        baseline = observer.observe()
        started_at = datetime.now(UTC)
        self.console.print(f"→ cdk deploy {self.stack_name} (image tag {tag})", highlight=False)
        process = self.runner.start(deploy_args(self.assembly_dir, self.stack_name))
        result = follow(
            process,
            observer,
            baseline,
            image_tag=tag,
            timeout_seconds=timeout_seconds,
            clock=self.clock,
            sleep=self.sleep,
            console=self.console,
            poll_seconds=self.poll_seconds,
            started_at=started_at,
        )
        if result.exit_code == 0 and record:
            self._record(
                Release(tag, dict(digests), started_at.isoformat(timespec="seconds"), result.outcome)
            )
        return DeployResult(result.exit_code, result.message, result.outcome)

    def _record(self, release: Release) -> None:
        stack = describe_stack(self.clients.cloudformation, self.stack_name)
        prefix = stack.outputs.get(OUTPUT_PARAMETER_PREFIX) if stack else None
        if not prefix:
            self.console.print(
                f"[yellow]warning:[/] the stack has no {OUTPUT_PARAMETER_PREFIX} output: release not "
                "recorded, `warmkeeper rollback` will not know it"
            )
            return
        ReleaseHistory(self.clients.ssm, prefix).record(release)
        self._ok(f"recorded release {release.tag} in {parameter_name(prefix)}")

    def _diff(self, timeout_seconds: float) -> DeployResult:
        self.console.print(f"→ cdk diff {self.stack_name} (dry run: nothing changes)", highlight=False)
        process = self.runner.start(diff_args(self.assembly_dir, self.stack_name))
        code = run_to_end(process, timeout_seconds, clock=self.clock, sleep=self.sleep, console=self.console)
        if code is None:
            return DeployResult(3, f"cdk diff did not finish within {timeout_seconds:.0f} s")
        if code != 0:
            return DeployResult(1, f"cdk diff exited with code {code}")
        return DeployResult(0, "dry run: diff shown above, nothing was changed")

    # ---- rollback -----------------------------------------------------------------------------

    def rollback(self, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> DeployResult:
        """Redeploy the release before the current one (by digest), then forget the current one."""
        stack = describe_stack(self.clients.cloudformation, self.stack_name)
        if stack is None:
            raise PreflightError(f"stack {self.stack_name} does not exist: nothing to roll back")
        prefix = stack.outputs.get(OUTPUT_PARAMETER_PREFIX)
        if not prefix:
            raise PreflightError(
                f"stack {self.stack_name} has no {OUTPUT_PARAMETER_PREFIX} output: no history"
            )
        history = ReleaseHistory(self.clients.ssm, prefix)
        try:
            releases = history.read()
        except ValueError as exc:
            raise PreflightError(str(exc)) from None
        if len(releases) < 2:
            raise PreflightError(
                f"no earlier release recorded in SSM parameter {history.name} "
                f"({len(releases)} recorded; the history starts with the first `warmkeeper deploy`)"
            )
        current, previous = releases[0], releases[1]
        self.console.print(
            f"rolling back {self.env}: {current.tag} -> {previous.tag} (deployed {previous.deployed_at})",
            highlight=False,
        )
        result = self.deploy(
            previous.tag, timeout_seconds=timeout_seconds, expected_digests=previous.digests, record=False
        )
        if result.exit_code == 0:
            history.write(releases[1:])
            self._ok(f"{current.tag} dropped from the release history; {previous.tag} is current")
        return result
