"""`warmkeeper status / wake / sleep / keepalive` against AWS: the same engine as the Lambda.

Names come from the CloudFormation stack's outputs (the contract's OutputKeys), read through the
injected :class:`~warmkeeper.aws.clients.AwsClients`, which the engine then uses too. Everything a
person can fix (no credentials, no stack, a stack without an output) is a :class:`ControlError`
with one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC
from typing import Any, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from warmkeeper.aws.adapters import RoutingConflictError, ServiceNotFoundError
from warmkeeper.aws.clients import AwsClients
from warmkeeper.aws.engine import Warmkeeper, build_engine
from warmkeeper.aws.http_api_routing import WARM_ROUTE_KEYS, HttpApiRoutingError
from warmkeeper.aws.lambda_settings import Settings, SettingsError, internal_settings
from warmkeeper.aws.stack_outputs import describe_stack
from warmkeeper.aws_limits import RULE_PRIORITIES
from warmkeeper.core import Action, LeaseError, Policy, lease_minutes
from warmkeeper.core.errors import WarmkeeperError
from warmkeeper.core.front_doors import HTTP_API, RouteSwitch, TargetDiscovery, front_door
from warmkeeper.core.report import StatusReport
from warmkeeper.naming import (
    OUTPUT_API_ID,
    OUTPUT_API_STAGE,
    OUTPUT_CLOUD_MAP_FRONT_SERVICE_ID,
    OUTPUT_CLOUD_MAP_SERVICE_ID,
    OUTPUT_CLUSTER,
    OUTPUT_FUNCTION_NAME,
    OUTPUT_IDLE_ALARM_NAME,
    OUTPUT_KEEPALIVE_SECRET_ARN,
    OUTPUT_LISTENER_ARN,
    OUTPUT_LOAD_BALANCER_DIMENSION,
    OUTPUT_PARAMETER_PREFIX,
    OUTPUT_SERVICE,
    OUTPUT_SERVICE_INTEGRATION_ID,
    OUTPUT_SERVICE_TARGET_GROUP_ARN,
    OUTPUT_TARGET_GROUP_DIMENSION,
    OUTPUT_URL,
    OUTPUT_VPC_LINK_ID,
    OUTPUT_WARM_RULE_PRIORITY,
    WARM_RULE_PRIORITY,
    front_door_of_outputs,
)

# OutputKeys of the contract that the engine cannot work without, per front door (a stack with an
# ApiId output is an HTTP API's).
REQUIRED_OUTPUTS = (
    OUTPUT_CLUSTER,
    OUTPUT_SERVICE,
    OUTPUT_LISTENER_ARN,
    OUTPUT_SERVICE_TARGET_GROUP_ARN,
    OUTPUT_PARAMETER_PREFIX,
)
REQUIRED_HTTP_API_OUTPUTS = (
    OUTPUT_CLUSTER,
    OUTPUT_SERVICE,
    OUTPUT_PARAMETER_PREFIX,
    OUTPUT_API_ID,
    OUTPUT_API_STAGE,
    OUTPUT_SERVICE_INTEGRATION_ID,
    OUTPUT_VPC_LINK_ID,
    OUTPUT_CLOUD_MAP_SERVICE_ID,
)

T = TypeVar("T")


class ControlError(WarmkeeperError):
    """A problem a person can fix, in one line (the CLI prints it and exits 2)."""


@contextmanager
def aws_errors(stack_name: str, region: str | None) -> Iterator[None]:
    """Turn botocore's exceptions into one clear line each (missing credentials or region: the CLI
    says it, in one place for every command: warmkeeper.cli.describe_error)."""
    where = f" in {region}" if region else ""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError, NoRegionError):
        raise
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
    except (ServiceNotFoundError, RoutingConflictError, HttpApiRoutingError) as exc:
        raise ControlError(str(exc)) from None
    except BotoCoreError as exc:
        raise ControlError(f"AWS call failed: {exc}") from None


def stack_outputs(clients: AwsClients, stack_name: str) -> dict[str, str]:
    """The deployed stack's outputs; no stack (or no access to it) is a :class:`ControlError`."""
    with aws_errors(stack_name, clients.region):
        stack = describe_stack(clients.cloudformation, stack_name)
    if stack is None:
        raise ControlError(
            f"stack {stack_name} not found in {clients.region}: deploy it first (`warmkeeper deploy`)"
        )
    return stack.outputs


def _warm_rule_priority(outputs: Mapping[str, str], stack_name: str) -> int:
    # Stacks deployed before the output existed used the Lambda's default priority.
    text = outputs.get(OUTPUT_WARM_RULE_PRIORITY) or str(WARM_RULE_PRIORITY)
    if not text.isdigit() or int(text) not in RULE_PRIORITIES:
        raise ControlError(
            f"stack {stack_name}: output {OUTPUT_WARM_RULE_PRIORITY} is {text!r}, not a listener rule "
            "priority (1 to 50000)"
        )
    return int(text)


def settings_from_outputs(
    outputs: Mapping[str, str],
    *,
    stack_name: str,
    app: str,
    env: str,
    policy: Policy,
    cloud_map_names: tuple[str, str] | None = None,
) -> Settings:
    """The Lambda's settings, from the stack's outputs; an HTTP API stack also needs its Cloud Map
    namespace and service names (``cloud_map_names``, looked up by :func:`cloud_map_names`)."""
    door = front_door(front_door_of_outputs(outputs))
    return _SETTINGS_FROM_OUTPUTS[door.route_switch](
        outputs, stack_name=stack_name, app=app, env=env, policy=policy, names=cloud_map_names
    )


def _require_outputs(outputs: Mapping[str, str], keys: Sequence[str], stack_name: str) -> None:
    missing = [key for key in keys if not outputs.get(key)]
    if missing:
        raise ControlError(
            f"stack {stack_name} has no output {', '.join(missing)}: it was not deployed by this "
            "version of warmkeeper (deploy again)"
        )


def _listener_rule_settings(
    outputs: Mapping[str, str],
    *,
    stack_name: str,
    app: str,
    env: str,
    policy: Policy,
    names: tuple[str, str] | None,
) -> Settings:
    _require_outputs(outputs, REQUIRED_OUTPUTS, stack_name)
    try:
        return Settings(
            app=app,
            env=env,
            cluster=outputs[OUTPUT_CLUSTER],
            service=outputs[OUTPUT_SERVICE],
            listener_arn=outputs[OUTPUT_LISTENER_ARN],
            service_target_group_arn=outputs[OUTPUT_SERVICE_TARGET_GROUP_ARN],
            parameter_prefix=outputs[OUTPUT_PARAMETER_PREFIX],
            policy=policy,
            warm_rule_priority=_warm_rule_priority(outputs, stack_name),
            keepalive_secret_arn=outputs.get(OUTPUT_KEEPALIVE_SECRET_ARN) or None,
            load_balancer_dimension=outputs.get(OUTPUT_LOAD_BALANCER_DIMENSION) or None,
            target_group_dimension=outputs.get(OUTPUT_TARGET_GROUP_DIMENSION) or None,
            idle_alarm_name=outputs.get(OUTPUT_IDLE_ALARM_NAME) or None,
        )
    except SettingsError as exc:  # named after the Lambda's variable; the CLI read an output
        raise ControlError(f"stack {stack_name}: {exc}") from None


def _http_api_settings(
    outputs: Mapping[str, str],
    *,
    stack_name: str,
    app: str,
    env: str,
    policy: Policy,
    names: tuple[str, str] | None,
) -> Settings:
    _require_outputs(outputs, REQUIRED_HTTP_API_OUTPUTS, stack_name)
    if names is None:
        raise ControlError(f"stack {stack_name}: the Cloud Map service's names were not looked up")
    namespace, service_name = names
    try:
        return Settings(
            app=app,
            env=env,
            cluster=outputs[OUTPUT_CLUSTER],
            service=outputs[OUTPUT_SERVICE],
            parameter_prefix=outputs[OUTPUT_PARAMETER_PREFIX],
            policy=policy,
            keepalive_secret_arn=outputs.get(OUTPUT_KEEPALIVE_SECRET_ARN) or None,
            idle_alarm_name=outputs.get(OUTPUT_IDLE_ALARM_NAME) or None,
            front_door=HTTP_API,
            api_id=outputs[OUTPUT_API_ID],
            api_stage=outputs[OUTPUT_API_STAGE],
            service_integration_id=outputs[OUTPUT_SERVICE_INTEGRATION_ID],
            warm_route_keys=WARM_ROUTE_KEYS,
            vpc_link_id=outputs[OUTPUT_VPC_LINK_ID],
            cloud_map_namespace=namespace,
            cloud_map_service_id=outputs[OUTPUT_CLOUD_MAP_SERVICE_ID],
            cloud_map_service_name=service_name,
        )
    except SettingsError as exc:
        raise ControlError(f"stack {stack_name}: {exc}") from None


_SettingsFromOutputs = Callable[..., Settings]
# How the Lambda's settings are read from a stack's outputs, by how its front door switches routes.
_SETTINGS_FROM_OUTPUTS: dict[RouteSwitch, _SettingsFromOutputs] = {
    RouteSwitch.LISTENER_RULE: _listener_rule_settings,
    RouteSwitch.API_ROUTES: _http_api_settings,
}


def cloud_map_names(clients: AwsClients, service_id: str) -> tuple[str, str]:
    """(namespace name, service name) of a Cloud Map service: what DiscoverInstances asks for."""
    service = clients.servicediscovery.get_service(Id=service_id)["Service"]
    namespace = clients.servicediscovery.get_namespace(Id=str(service.get("NamespaceId", "")))["Namespace"]
    return str(namespace.get("Name", "")), str(service.get("Name", ""))


def function_variables(clients: AwsClients, function: str) -> dict[str, str]:
    """The waker's environment variables; empty when they cannot be read (no permission to read the
    function, or it is gone): the app's own commands work without them."""
    try:
        configuration = clients.client("lambda").get_function_configuration(FunctionName=function)
    except ClientError:
        return {}
    return dict(configuration.get("Environment", {}).get("Variables", {}))


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
        clients: AwsClients,
        **engine_options: Any,
    ) -> AwsControl:
        outputs = stack_outputs(clients, stack_name)
        names = None
        door = front_door(front_door_of_outputs(outputs))
        if door.discovery is TargetDiscovery.CLOUD_MAP and outputs.get(OUTPUT_CLOUD_MAP_SERVICE_ID):
            with aws_errors(stack_name, clients.region):
                names = cloud_map_names(clients, outputs[OUTPUT_CLOUD_MAP_SERVICE_ID])
        settings = settings_from_outputs(
            outputs, stack_name=stack_name, app=app, env=env, policy=policy, cloud_map_names=names
        )
        front_id = outputs.get(OUTPUT_CLOUD_MAP_FRONT_SERVICE_ID)
        if names is not None and front_id:
            # The service API Gateway reads, where the waker registers the ready tasks (same namespace).
            with aws_errors(stack_name, clients.region):
                _, front_name = cloud_map_names(clients, front_id)
            settings = replace(
                settings, cloud_map_front_service_id=front_id, cloud_map_front_service_name=front_name
            )
        function = outputs.get(OUTPUT_FUNCTION_NAME)
        if function:
            # The internal services, their wake secret and wake_with are in the waker's variables only.
            settings = replace(settings, **internal_settings(function_variables(clients, function)))
        engine = build_engine(settings, clients, **engine_options)
        return cls(engine, stack_name=stack_name, region=clients.region, url=outputs.get(OUTPUT_URL) or None)

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
