"""What `warmkeeper deploy / rollback` and `warmkeeper images` both work with, and the checks they share.

One environment of one app, the AWS clients and the CDK CLI runner injected by the command, where
the cloud assembly goes, where progress is printed, and the clock (tests pass a fake one). The
checks every release starts with live here once: credentials and account, region, the stack not
busy, the CDK bootstrap, and a fresh, checked cloud assembly.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from warmkeeper.aws.clients import AwsClients
from warmkeeper.aws.stack_outputs import StackInfo, describe_stack
from warmkeeper.config import AppConfig, EnvironmentSettings
from warmkeeper.deploy.cdk import CdkRunner
from warmkeeper.deploy.preflight import (
    Identity,
    PreflightError,
    check_bootstrap,
    check_credentials,
    check_region,
    ensure_service_linked_roles,
)
from warmkeeper.deploy.synthesis import check_assembly


@dataclass(frozen=True)
class ReleaseContext:
    cfg: AppConfig
    env: str
    settings: EnvironmentSettings
    clients: AwsClients
    runner: CdkRunner
    assembly_dir: Path
    console: Console
    clock: Callable[[], float]
    sleep: Callable[[float], None]

    def ok(self, text: str) -> None:
        """One passed check or finished step."""
        self.console.print(f"[green]✓[/] {text}", highlight=False)

    def check_account(self) -> Identity:
        """Who runs this (the config's account, if it names one), in a region that offers the services."""
        identity = check_credentials(self.clients.sts, self.settings.account, self.env)
        self.ok(f"credentials: {identity.arn} (account {identity.account})")
        check_region(self.settings.aws_region, self.clients, self.env)
        self.ok(f"region: {self.settings.aws_region}")
        return identity

    def check_settled(self, stack_name: str, busy: str, absent: str) -> StackInfo | None:
        """The stack (None: not created yet); PreflightError while another change runs on it.

        `busy` says who is probably changing it, `absent` what a missing stack means here.
        """
        try:
            stack = describe_stack(self.clients.cloudformation, stack_name)
        except (ClientError, BotoCoreError) as exc:  # denied, throttled past the retries, unreachable
            raise PreflightError(f"stack {stack_name}: cannot read it: {exc}") from None
        if stack is not None and stack.busy:
            raise PreflightError(f"stack {stack_name} is {stack.status}: {busy}")
        self.ok(f"stack {stack_name}: {stack.status if stack else absent}")
        return stack

    def check_bootstrap(self, account: str) -> None:
        version = check_bootstrap(self.clients.ssm, account, self.settings.aws_region)
        self.ok(f"CDK bootstrap version {version}")

    def ensure_service_linked_roles(self, *, dry_run: bool) -> None:
        """The ECS and Application Auto Scaling service-linked roles exist once this returns (a dry
        run only says which a deploy would create). IAM is global: any region's client does."""
        services = ensure_service_linked_roles(self.clients.client("iam"), create=not dry_run)
        for service in services:
            verb = "would create" if dry_run else "created"
            self.ok(f"{verb} service-linked role for {service} (first deploy in this account)")

    def synthesize_checked(self, synthesize: Callable[[Path], Path], stack_name: str) -> tuple[Path, int]:
        """Synthesize into a clean assembly folder (a stale asset must not slip into this release),
        then check it: the stack's template and its warning count; cdk-nag errors raise."""
        if self.assembly_dir.exists():
            shutil.rmtree(self.assembly_dir)
        synthesize(self.assembly_dir)
        return check_assembly(self.assembly_dir, stack_name)
