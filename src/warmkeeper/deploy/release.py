"""`warmkeeper deploy/rollback` on AWS: pre-flight checks, `cdk deploy`, then follow ECS to the end.

Nothing changes in AWS before every check passed: credentials and account, region, the images
stack and the images of the tag in its repositories (resolved to digests), the stack not busy, the
CDK bootstrap, synthesis (images pinned by digest) and cdk-nag. Then the pinned CDK CLI deploys the
checked cloud assembly (the service stack only) while :func:`follow` reports progress. The
service's desired count is never touched: the template has none, so a cold service stays cold and
a warm one rolls (minimum healthy 100 %, circuit breaker with rollback). A cold service's new
revision is then run once on its own and must pass its health checks (:mod:`.trial_run`); one that
fails is taken out of service and the deploy fails (``--no-verify`` skips the check).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from warmkeeper.aws.stack_outputs import describe_stack
from warmkeeper.core.errors import ExitCode
from warmkeeper.deploy.cdk import deploy_args, diff_args, run_to_end
from warmkeeper.deploy.context import ReleaseContext
from warmkeeper.deploy.follow import DeployOutcome, Observer, follow
from warmkeeper.deploy.history import Release, ReleaseHistory, parameter_name
from warmkeeper.deploy.preflight import (
    PreflightError,
    check_front_door,
    check_images_stack,
    check_reserved_concurrency,
    check_tag_argument,
    resolve_image_digests,
)
from warmkeeper.deploy.synthesis import Synthesizer, check_template_images
from warmkeeper.deploy.trial_run import TrialResult, TrialRun
from warmkeeper.naming import OUTPUT_PARAMETER_PREFIX, built_containers, function_name

DEFAULT_TIMEOUT_SECONDS = 1200.0


@dataclass(frozen=True)
class DeployResult:
    exit_code: ExitCode
    message: str
    outcome: DeployOutcome | None = None  # None for a dry run


class AwsDeployer:
    def __init__(self, context: ReleaseContext, *, synthesize: Synthesizer, poll_seconds: float = 5.0):
        self.context = context
        self.synthesize = synthesize
        self.poll_seconds = poll_seconds
        self.stack_name = context.cfg.stack_name(context.env)

    # ---- deploy -------------------------------------------------------------------------------

    def deploy(
        self,
        image_tag: str,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        dry_run: bool = False,
        expected_digests: Mapping[str, str] | None = None,
        record: bool = True,
        verify: bool = True,
    ) -> DeployResult:
        """Check, deploy (or diff), follow. Raises :class:`PreflightError` before any change."""
        context = self.context
        cfg, env, clients = context.cfg, context.env, context.clients
        tag = check_tag_argument(image_tag)
        identity = context.check_account()
        repositories = (
            check_images_stack(clients.cloudformation, cfg, env, tag) if built_containers(cfg) else {}
        )
        digests = resolve_image_digests(clients.ecr, repositories, tag, expected_digests)
        if digests:
            context.ok(
                f"images {tag}: " + ", ".join(f"{name} {digest[:19]}…" for name, digest in digests.items())
            )
        stack = context.check_settled(
            self.stack_name,
            busy="another deploy is running; wait for it to end",
            absent="not created yet (first deploy)",
        )
        check_front_door(stack, env, context.settings.front_door)
        context.ok(
            check_reserved_concurrency(
                clients.client("lambda"),
                function_name(cfg, env),
                context.settings.waker_reserved_concurrency,
                env,
            )
        )
        context.check_bootstrap(identity.account)
        template, warnings = context.synthesize_checked(
            lambda output: self.synthesize(cfg, env, output, tag, digests), self.stack_name
        )
        # Every built image by the digest resolved above: what runs is what was checked, even if
        # the tag moves during or after the deploy (and a rollback gets the recorded images).
        check_template_images(template, cfg, tag, digests, repositories)
        context.ok(
            f"synthesized {template.name}: no cdk-nag error, {warnings} warning(s); "
            + ("images pinned by digest" if digests else "no image built from source")
        )

        # Every check passed: the first change is the account's service-linked roles, if missing.
        context.ensure_service_linked_roles(dry_run=dry_run)
        if dry_run:
            return self._diff(timeout_seconds)

        observer = Observer(clients, self.stack_name)
        baseline = observer.observe()
        previous = self._task_definition(observer)
        started_at = datetime.now(UTC)
        context.console.print(f"→ cdk deploy {self.stack_name} (image tag {tag})", highlight=False)
        process = context.runner.start(deploy_args(context.assembly_dir, self.stack_name))
        result = follow(
            process,
            observer,
            baseline,
            image_tag=tag,
            timeout_seconds=timeout_seconds,
            clock=context.clock,
            sleep=context.sleep,
            console=context.console,
            poll_seconds=self.poll_seconds,
            started_at=started_at,
        )
        if result.outcome == DeployOutcome.COLD and verify:
            trial = self._verify(observer, previous, timeout_seconds)
            if not trial.passed:
                return DeployResult(ExitCode.FAILED, trial.message, DeployOutcome.FAILED)
            result_message = f"{result.message} (checked: {trial.message})"
        else:
            result_message = result.message
        if result.exit_code == 0 and record:
            self._record(
                Release(tag, dict(digests), started_at.isoformat(timespec="seconds"), result.outcome)
            )
        return DeployResult(result.exit_code, result_message, result.outcome)

    def _task_definition(self, observer: Observer) -> str | None:
        """The service's task definition now (None: no service yet)."""
        if not observer.cluster or not observer.service:
            return None
        found = self.context.clients.ecs.describe_services(
            cluster=observer.cluster, services=[observer.service]
        )
        services = [s for s in found.get("services", []) if s.get("status") != "INACTIVE"]
        return str(services[0]["taskDefinition"]) if services else None

    def _verify(self, observer: Observer, previous: str | None, timeout_seconds: float) -> TrialResult:
        current = self._task_definition(observer)
        assert current is not None and observer.cluster and observer.service  # COLD: the service exists
        trial = TrialRun(
            self.context.clients.ecs,
            cluster=observer.cluster,
            service=observer.service,
            console=self.context.console,
            clock=self.context.clock,
            sleep=self.context.sleep,
            # As long as a wake may take before it counts as failed.
            timeout_seconds=min(timeout_seconds, float(self.context.cfg.scale_to_zero.wake_timeout_seconds)),
            poll_seconds=self.poll_seconds,
        )
        return trial.verify(current, previous if previous != current else None)

    def _record(self, release: Release) -> None:
        stack = describe_stack(self.context.clients.cloudformation, self.stack_name)
        prefix = stack.outputs.get(OUTPUT_PARAMETER_PREFIX) if stack else None
        if not prefix:
            self.context.console.print(
                f"[yellow]warning:[/] the stack has no {OUTPUT_PARAMETER_PREFIX} output: release not "
                "recorded, `warmkeeper rollback` will not know it"
            )
            return
        ReleaseHistory(self.context.clients.ssm, prefix).record(release)
        self.context.ok(f"recorded release {release.tag} in {parameter_name(prefix)}")

    def _diff(self, timeout_seconds: float) -> DeployResult:
        context = self.context
        context.console.print(f"→ cdk diff {self.stack_name} (dry run: nothing changes)", highlight=False)
        process = context.runner.start(diff_args(context.assembly_dir, self.stack_name))
        code = run_to_end(
            process, timeout_seconds, clock=context.clock, sleep=context.sleep, console=context.console
        )
        if code is None:
            return DeployResult(ExitCode.TIMED_OUT, f"cdk diff did not finish within {timeout_seconds:.0f} s")
        if code != 0:
            return DeployResult(ExitCode.FAILED, f"cdk diff exited with code {code}")
        return DeployResult(ExitCode.OK, "dry run: diff shown above, nothing was changed")

    # ---- rollback -----------------------------------------------------------------------------

    def rollback(self, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> DeployResult:
        """Redeploy the release before the current one (by digest), then forget the current one."""
        stack = describe_stack(self.context.clients.cloudformation, self.stack_name)
        if stack is None:
            raise PreflightError(f"stack {self.stack_name} does not exist: nothing to roll back")
        prefix = stack.outputs.get(OUTPUT_PARAMETER_PREFIX)
        if not prefix:
            raise PreflightError(
                f"stack {self.stack_name} has no {OUTPUT_PARAMETER_PREFIX} output: no history"
            )
        history = ReleaseHistory(self.context.clients.ssm, prefix)
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
        self.context.console.print(
            f"rolling back {self.context.env}: {current.tag} -> {previous.tag} "
            f"(deployed {previous.deployed_at})",
            highlight=False,
        )
        result = self.deploy(
            previous.tag, timeout_seconds=timeout_seconds, expected_digests=previous.digests, record=False
        )
        if result.exit_code == 0:
            history.write(releases[1:])
            self.context.ok(f"{current.tag} dropped from the release history; {previous.tag} is current")
        return result
