"""`warmkeeper destroy --env E`: delete an environment's service stack, the run-time routing first.

The warm route (listener rule ``warmkeeper:role=warm-route``) is created by the Lambda at run time,
so CloudFormation does not own it. While it references the service's target group, CloudFormation
cannot delete that target group (``ResourceInUse``) and `cdk destroy` of a warm environment fails
half-way. So, in this order:

1. the waker Lambda is throttled (reserved concurrency 0): no reconcile or request can create the
   warm route again while the stack goes (tasks stay healthy for a while during the deletion);
2. every rule of the listener tagged as a warm route is deleted; behind an HTTP API
   (`front_door = "http_api"`, the stack's `ApiId` output) the run-time warm routes (`ANY /`,
   `ANY /{proxy+}`) are deleted instead, since API Gateway will not delete the service integration
   they target;
3. behind an HTTP API, the Cloud Map instances the waker registered (`wk-<task id>`, in the service
   API Gateway reads: its `CloudMapFrontServiceId` output, or the tasks' own service in stacks built
   before it) are deregistered: Cloud Map refuses to delete a service that still has instances, and
   CloudFormation owns none of them;
4. `cdk destroy` of the service stack, with the pinned CLI.

If `cdk destroy` fails, the waker's concurrency is put back as it was, so the environment answers
again. The images stack (ECR repositories and images), the release history and the waker's small
state in SSM stay: they are not part of the service stack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from warmkeeper.aws.adapters import WARM_ROUTE_TAG_KEY, WARM_ROUTE_TAG_VALUE
from warmkeeper.aws.http_api_routing import OWN_INSTANCE_PREFIX, WARM_ROUTE_KEYS
from warmkeeper.aws.stack_outputs import describe_stack
from warmkeeper.config import AppConfig
from warmkeeper.core.errors import ExitCode
from warmkeeper.deploy.cdk import run_to_end
from warmkeeper.deploy.context import ReleaseContext
from warmkeeper.deploy.preflight import PreflightError
from warmkeeper.naming import (
    OUTPUT_API_ID,
    OUTPUT_CLOUD_MAP_FRONT_SERVICE_ID,
    OUTPUT_CLOUD_MAP_SERVICE_ID,
    OUTPUT_FUNCTION_NAME,
    OUTPUT_LISTENER_ARN,
)

DEFAULT_TIMEOUT_SECONDS = 1800.0
# Any tag synthesizes the stack: `cdk destroy` only needs its name from the assembly.
DESTROY_IMAGE_TAG = "destroy"

DestroySynthesizer = Callable[[AppConfig, str, Path, str, dict[str, str]], Path]


@dataclass(frozen=True)
class DestroyResult:
    exit_code: ExitCode
    message: str


def destroy_args(assembly: Path, stack_name: str) -> list[str]:
    # --exclusively: the service stack only; the images stack (repositories, images) stays.
    # --force: no prompt (the command itself is the confirmation, as in CI).
    return [
        "destroy",
        stack_name,
        "--exclusively",
        "--app",
        str(assembly),
        "--force",
        "--no-color",
        "--no-notices",
    ]


def http_api_warm_routes(apigatewayv2: Any, api_id: str) -> list[str]:
    """Ids of the HTTP API's run-time warm routes (the route keys the waker creates; the stack's own
    `$default` and `/_warmkeeper` routes are never among them)."""
    found: list[str] = []
    for page in apigatewayv2.get_paginator("get_routes").paginate(ApiId=api_id):
        found.extend(str(r["RouteId"]) for r in page.get("Items", []) if r.get("RouteKey") in WARM_ROUTE_KEYS)
    return found


def waker_instances(servicediscovery: Any, service_id: str) -> list[str]:
    """Ids of the Cloud Map instances the waker registered in a service (``wk-<task id>``); ECS's own
    instances (named by the task id alone) are ECS's to remove."""
    found: list[str] = []
    for page in servicediscovery.get_paginator("list_instances").paginate(ServiceId=service_id):
        found.extend(
            str(i["Id"]) for i in page.get("Instances", []) if str(i["Id"]).startswith(OWN_INSTANCE_PREFIX)
        )
    return found


def warm_route_rules(elbv2: Any, listener_arn: str) -> list[str]:
    """ARNs of the listener's rules tagged as warmkeeper's run-time warm route."""
    arns: list[str] = []
    for page in elbv2.get_paginator("describe_rules").paginate(ListenerArn=listener_arn):
        arns.extend(str(rule["RuleArn"]) for rule in page.get("Rules", []) if not rule.get("IsDefault"))
    ours: list[str] = []
    for start in range(0, len(arns), 20):  # DescribeTags takes at most 20 ARNs
        for description in elbv2.describe_tags(ResourceArns=arns[start : start + 20]).get(
            "TagDescriptions", []
        ):
            tags = {tag.get("Key"): tag.get("Value") for tag in description.get("Tags", [])}
            if tags.get(WARM_ROUTE_TAG_KEY) == WARM_ROUTE_TAG_VALUE:
                ours.append(str(description["ResourceArn"]))
    return ours


class Destroyer:
    def __init__(self, context: ReleaseContext, *, synthesize: DestroySynthesizer) -> None:
        self.context = context
        self.synthesize = synthesize
        self.stack_name = context.cfg.stack_name(context.env)

    def destroy(self, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> DestroyResult:
        """Raises :class:`PreflightError` (nothing changed) when there is nothing to destroy."""
        context = self.context
        context.check_account()
        stack = describe_stack(context.clients.cloudformation, self.stack_name)
        if stack is None:
            raise PreflightError(f"stack {self.stack_name} does not exist: nothing to destroy")
        if stack.busy:
            raise PreflightError(f"stack {self.stack_name} is {stack.status}: wait for that change to end")
        context.ok(f"stack {self.stack_name}: {stack.status}")
        context.synthesize_checked(
            lambda output: self.synthesize(context.cfg, context.env, output, DESTROY_IMAGE_TAG, {}),
            self.stack_name,
        )

        function = stack.outputs.get(OUTPUT_FUNCTION_NAME)
        previous = self._throttle(function) if function else None
        listener = stack.outputs.get(OUTPUT_LISTENER_ARN)
        if listener:
            self._remove_warm_routes(listener)
        api_id = stack.outputs.get(OUTPUT_API_ID)
        if api_id:
            # Behind an HTTP API the warm routes use the stack's service integration: API Gateway
            # refuses to delete an integration a route still targets, so they go first too.
            self._remove_http_api_warm_routes(api_id)
            services = [
                stack.outputs[key]
                for key in (OUTPUT_CLOUD_MAP_FRONT_SERVICE_ID, OUTPUT_CLOUD_MAP_SERVICE_ID)
                if stack.outputs.get(key)
            ]
            self._deregister_waker_instances(services)

        context.console.print(f"→ cdk destroy {self.stack_name}", highlight=False)
        process = context.runner.start(destroy_args(context.assembly_dir, self.stack_name))
        code = run_to_end(
            process, timeout_seconds, clock=context.clock, sleep=context.sleep, console=context.console
        )
        if code == 0:
            return DestroyResult(ExitCode.OK, f"stack {self.stack_name} destroyed (the images stack stays)")
        if function:
            self._restore(function, previous)
        if code is None:
            return DestroyResult(
                ExitCode.TIMED_OUT,
                f"cdk destroy did not finish within {timeout_seconds:.0f} s (CloudFormation goes on); "
                "the waker answers again; run `warmkeeper destroy` again to finish",
            )
        return DestroyResult(ExitCode.FAILED, f"cdk destroy exited with code {code}; the waker answers again")

    def _throttle(self, function: str) -> int | None:
        """Reserved concurrency 0; returns the reservation it had (None: none)."""
        lambda_ = self.context.clients.client("lambda")
        try:
            previous = lambda_.get_function_concurrency(FunctionName=function).get(
                "ReservedConcurrentExecutions"
            )
            lambda_.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=0)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None  # already gone: nothing can re-create the route
            raise
        self.context.ok(f"waker {function} throttled (reserved concurrency 0): no new warm route")
        return int(previous) if previous is not None else None

    def _restore(self, function: str, previous: int | None) -> None:
        lambda_ = self.context.clients.client("lambda")
        try:
            if previous is None:
                lambda_.delete_function_concurrency(FunctionName=function)
            else:
                lambda_.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=previous)
        except ClientError as exc:
            self.context.console.print(
                f"[yellow]warning:[/] could not restore the waker's concurrency ({exc}); set it with "
                f"`aws lambda put-function-concurrency --function-name {function} "
                f"--reserved-concurrent-executions {previous or 20}`"
            )

    def _remove_warm_routes(self, listener_arn: str) -> None:
        elbv2 = self.context.clients.elbv2
        rules = warm_route_rules(elbv2, listener_arn)
        for arn in rules:
            try:
                elbv2.delete_rule(RuleArn=arn)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "RuleNotFound":
                    raise
        self.context.ok(
            f"run-time warm route removed ({len(rules)} rule(s))" if rules else "no run-time warm route"
        )

    def _remove_http_api_warm_routes(self, api_id: str) -> None:
        apigatewayv2 = self.context.clients.apigatewayv2
        routes = http_api_warm_routes(apigatewayv2, api_id)
        for route_id in routes:
            try:
                apigatewayv2.delete_route(ApiId=api_id, RouteId=route_id)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NotFoundException":
                    raise
        self.context.ok(
            f"run-time warm routes removed ({len(routes)} route(s))" if routes else "no run-time warm route"
        )

    def _deregister_waker_instances(self, service_ids: list[str]) -> None:
        servicediscovery = self.context.clients.client("servicediscovery")
        removed = 0
        for service_id in service_ids:
            for instance_id in waker_instances(servicediscovery, service_id):
                try:
                    servicediscovery.deregister_instance(ServiceId=service_id, InstanceId=instance_id)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "InstanceNotFound":
                        raise
                    continue
                removed += 1
        self.context.ok(
            f"the waker's Cloud Map instances deregistered ({removed})"
            if removed
            else "no Cloud Map instance of the waker's"
        )
