"""Which target group a request reaches: the listener's CloudFormation-owned rules.

Scale-to-zero on (the contract's "default to the waker"):

- priority 1, path `/_warmkeeper/*`: the warmkeeper Lambda (CloudFormation);
- priority 10, path `/*`, the warm route: the service. Created and deleted by the Lambda at run
  time, only while the service has a healthy target; CloudFormation never owns it;
- priority 49999, header `X-Warmkeeper-Route: service`: the service. The anchor ECS needs (it
  refuses a target group no listener uses), handy to test the service directly;
- priority 50000, path `/*`: the warmkeeper Lambda (CloudFormation): the effective default;
- default action: a fixed 503, never reached (`/*` matches every path).

The Lambda's function references the listener (its ARN is in the Lambda's environment), and the
Lambda target group references the function; a listener default action pointing at that target group
would close a dependency cycle CloudFormation refuses. The last-priority `/*` rule is that default
without the cycle. CloudFormation never owns the warm route, so `cdk deploy` cannot change where
traffic goes, whatever state the service is in.

Scale-to-zero off (production): the default action forwards to the service; `/_warmkeeper/*` still
reaches the Lambda (status).
"""

from __future__ import annotations

from aws_cdk import Tags
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from warmkeeper.infra.stack_settings import (
    SERVICE_ANCHOR_RULE_PRIORITY,
    SERVICE_ROUTE_HEADER,
    WAKER_DEFAULT_RULE_PRIORITY,
    WAKER_PATHS_RULE_PRIORITY,
    StackSettings,
)

# The Lambda tags the warm route it creates `warmkeeper:role=warm-route`; the stack's rules say what
# they are the same way, so a person (or the Lambda) listing the rules can tell them apart.
ROLE_TAG = "warmkeeper:role"
NO_ROUTE_BODY = '{"error": "no route", "source": "warmkeeper"}'


class ListenerRouting(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        listener: elbv2.ApplicationListener,
        service_target_group: elbv2.ApplicationTargetGroup,
        waker_target_group: elbv2.ApplicationTargetGroup,
    ) -> None:
        super().__init__(scope, construct_id)
        waker_paths = elbv2.ApplicationListenerRule(
            self,
            "WarmkeeperPaths",
            listener=listener,
            priority=WAKER_PATHS_RULE_PRIORITY,
            conditions=[elbv2.ListenerCondition.path_patterns(["/_warmkeeper/*"])],
            action=elbv2.ListenerAction.forward([waker_target_group]),
        )
        Tags.of(waker_paths).add(ROLE_TAG, "waker-paths")
        if not settings.env.scale_to_zero:
            listener.add_action("Default", action=elbv2.ListenerAction.forward([service_target_group]))
            return
        listener.add_action(
            "Default",
            action=elbv2.ListenerAction.fixed_response(
                503, content_type="application/json", message_body=NO_ROUTE_BODY
            ),
        )
        anchor = elbv2.ApplicationListenerRule(
            self,
            "ServiceAnchor",
            listener=listener,
            priority=SERVICE_ANCHOR_RULE_PRIORITY,
            conditions=[elbv2.ListenerCondition.http_header(SERVICE_ROUTE_HEADER, ["service"])],
            action=elbv2.ListenerAction.forward([service_target_group]),
        )
        Tags.of(anchor).add(ROLE_TAG, "service-anchor")
        waker_default = elbv2.ApplicationListenerRule(
            self,
            "WakerDefault",
            listener=listener,
            priority=WAKER_DEFAULT_RULE_PRIORITY,
            conditions=[elbv2.ListenerCondition.path_patterns(["/*"])],
            action=elbv2.ListenerAction.forward([waker_target_group]),
        )
        Tags.of(waker_default).add(ROLE_TAG, "waker-default")
