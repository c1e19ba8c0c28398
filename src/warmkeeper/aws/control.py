"""`warmkeeper status / wake / sleep / keepalive` against AWS: the same engine as the Lambda.

Names come from the CloudFormation stack's outputs (the contract's OutputKeys), read through an
injected CloudFormation client; the other clients are injected too. Everything a person can fix
(no credentials, no stack, a stack without an output) is a :class:`ControlError` with one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from warmkeeper.aws.adapters import RoutingConflictError, ServiceNotFoundError
from warmkeeper.aws.engine import Warmkeeper
from warmkeeper.aws.lambda_handler import AwsClients, build_engine
from warmkeeper.aws.settings import DEFAULT_WARM_RULE_PRIORITY, Settings
from warmkeeper.control import StatusReport
from warmkeeper.core import Action, LeaseError, Policy, lease_minutes

if TYPE_CHECKING:
    from mypy_boto3_cloudformation.client import CloudFormationClient

# OutputKeys of the contract that the engine needs.
REQUIRED_OUTPUTS = (
    "ClusterName",
    "ServiceName",
    "ListenerArn",
    "ServiceTargetGroupArn",
    "ParameterPrefix",
)
OPTIONAL_OUTPUTS = (
    "Url",
    "KeepaliveSecretArn",
    "LoadBalancerDimension",
    "TargetGroupDimension",
    "IdleAlarmName",
)

T = TypeVar("T")


class ControlError(Exception):
    """A problem a person can fix, in one line (the CLI prints it and exits 2)."""


@contextmanager
def aws_errors(stack_name: str, region: str | None) -> Iterator[None]:
    """Turn botocore's exceptions into one clear line each."""
    where = f" in {region}" if region else ""
    try:
        yield
    except NoCredentialsError:
        raise ControlError(
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "(or run `aws sso login`)"
        ) from None
    except NoRegionError:
        raise ControlError("no AWS region: set region in the config's environment") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", exc))
        if code == "ValidationError" and "does not exist" in message:
            raise ControlError(
                f"stack {stack_name} not found{where}: deploy it first (`warmkeeper deploy`)"
            ) from None
        if code in (
            "ExpiredToken",
            "ExpiredTokenException",
            "InvalidClientTokenId",
            "UnrecognizedClientException",
        ):
            raise ControlError(f"AWS credentials rejected ({code}): refresh them and retry") from None
        if code in ("AccessDenied", "AccessDeniedException"):
            raise ControlError(f"AWS denied {exc.operation_name}: {message}") from None
        raise ControlError(f"AWS {exc.operation_name} failed ({code}): {message}") from None
    except (ServiceNotFoundError, RoutingConflictError) as exc:
        raise ControlError(str(exc)) from None
    except BotoCoreError as exc:
        raise ControlError(f"AWS call failed: {exc}") from None


def stack_outputs(cloudformation: CloudFormationClient, stack_name: str) -> dict[str, str]:
    region = cloudformation.meta.region_name
    with aws_errors(stack_name, region):
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    if not stacks:
        raise ControlError(f"stack {stack_name} not found in {region}: deploy it first (`warmkeeper deploy`)")
    return {
        o["OutputKey"]: o.get("OutputValue", "") for o in stacks[0].get("Outputs", []) if "OutputKey" in o
    }


def settings_from_outputs(
    outputs: Mapping[str, str], *, stack_name: str, app: str, env: str, policy: Policy
) -> Settings:
    missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
    if missing:
        raise ControlError(
            f"stack {stack_name} has no output {', '.join(missing)}: it was not deployed by this "
            "version of warmkeeper (deploy again)"
        )
    return Settings(
        app=app,
        env=env,
        cluster=outputs["ClusterName"],
        service=outputs["ServiceName"],
        listener_arn=outputs["ListenerArn"],
        service_target_group_arn=outputs["ServiceTargetGroupArn"],
        parameter_prefix=outputs["ParameterPrefix"],
        policy=policy,
        warm_rule_priority=DEFAULT_WARM_RULE_PRIORITY,
        keepalive_secret_arn=outputs.get("KeepaliveSecretArn") or None,
        load_balancer_dimension=outputs.get("LoadBalancerDimension") or None,
        target_group_dimension=outputs.get("TargetGroupDimension") or None,
        idle_alarm_name=outputs.get("IdleAlarmName") or None,
    )


class AwsControl:
    """:class:`warmkeeper.control.ServiceControl` for an AWS environment."""

    def __init__(self, engine: Warmkeeper, *, stack_name: str, region: str | None, url: str | None = None):
        self.engine = engine
        self.stack_name = stack_name
        self.region = region
        self.url = url

    @classmethod
    def from_stack(
        cls,
        *,
        stack_name: str,
        app: str,
        env: str,
        policy: Policy,
        cloudformation: CloudFormationClient,
        clients: AwsClients,
        **engine_options: Any,
    ) -> AwsControl:
        outputs = stack_outputs(cloudformation, stack_name)
        settings = settings_from_outputs(outputs, stack_name=stack_name, app=app, env=env, policy=policy)
        engine = build_engine(settings, clients, **engine_options)
        return cls(
            engine,
            stack_name=stack_name,
            region=cloudformation.meta.region_name,
            url=outputs.get("Url") or None,
        )

    def _run(self, operation: Callable[[], T]) -> T:
        with aws_errors(self.stack_name, self.region):
            return operation()

    def status(self) -> StatusReport:
        return self._run(lambda: self.engine.status(with_tasks=True, url=self.url))

    def wake(self) -> str:
        result = self._run(self.engine.wake)
        observed = result.snapshot.observation
        if Action.SCALE_UP in result.decision.actions:
            return f"{'; '.join(result.applied)} ({result.decision.state.value} -> WAKING)"
        if result.decision.actions:
            return f"already awake ({result.decision.state.value}): {'; '.join(result.applied)}"
        return (
            f"already awake ({result.decision.state.value}): desired {observed.desired}, "
            f"healthy {observed.healthy}, traffic to the {observed.routing.value}"
        )

    def sleep(self, force: bool = False) -> str:
        result = self._run(lambda: self.engine.sleep_now(force=force))
        if result.decision.sleeping:
            return "; ".join(result.applied)
        if result.decision.blocked_by:
            raise ControlError(result.decision.reason)
        return result.decision.reason

    def keepalive(self, minutes: int) -> str:
        try:
            granted = lease_minutes(minutes, self.engine.policy)
        except LeaseError as exc:
            raise ControlError(f"--minutes: {exc}") from None
        until, result = self._run(lambda: self.engine.keepalive(granted))
        bounded = (
            f" (bounded by max_lease_minutes {self.engine.policy.max_lease_minutes})"
            if granted < minutes
            else ""
        )
        woke = " ; ".join(a for a in result.applied if a.startswith("scale-up"))
        return f"lease until {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC{bounded}" + (
            f"; {woke}" if woke else ""
        )
