"""The run-time warm route (aws/adapters.py) against what the stack does around it.

An entry-port change makes CloudFormation replace the service's target group; the warm route the
Lambda created still forwards to the old one. It used to raise RoutingConflictError on every request
and reconcile (a permanent 503); the rule carries the tag ``warmkeeper:role=warm-route`` and is
recognised as ours by it, then pointed at the current target group. A rule without the tag is still
never touched.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.aws.conftest import API, World, alb_event, call, scheduled_event
from warmkeeper.aws.adapters import WARM_ROUTE_TAG_KEY, WARM_ROUTE_TAG_VALUE, RoutingConflictError


def old_target_group(world: World) -> str:
    """The target group the stack had before it replaced it (a port change)."""
    groups = world.clients.elbv2.describe_target_groups(Names=["cityguided-staging-service-old"])
    return str(groups["TargetGroups"][0]["TargetGroupArn"])


@pytest.fixture
def replaced(lam: World) -> Any:
    """Warm, with our tagged warm route still forwarding to the replaced target group."""
    elbv2 = lam.clients.elbv2
    try:
        old = old_target_group(lam)
    except elbv2.exceptions.TargetGroupNotFoundException:
        old = elbv2.create_target_group(
            Name="cityguided-staging-service-old",
            Protocol="HTTP",
            Port=80,
            VpcId=lam.vpc_id,
            TargetType="ip",
        )["TargetGroups"][0]["TargetGroupArn"]
    lam.set_desired(1)
    lam.put_lock(requested_ago=timedelta(minutes=3), healthy_ago=timedelta(minutes=2))
    lam.task_healthy()
    elbv2.create_rule(
        ListenerArn=lam.listener_arn,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": old}],
        Tags=[{"Key": WARM_ROUTE_TAG_KEY, "Value": WARM_ROUTE_TAG_VALUE}],
    )
    yield lam
    for rule in lam.warm_rules():
        elbv2.delete_rule(RuleArn=rule["RuleArn"])


def forwards_to(rule: dict[str, Any]) -> str:
    (action,) = rule["Actions"]
    return str(action.get("TargetGroupArn") or action["ForwardConfig"]["TargetGroups"][0]["TargetGroupArn"])


def test_reconcile_points_our_rule_at_the_current_target_group(replaced: World) -> None:
    result = call(scheduled_event())
    assert result["handled"] == "reconcile"
    (rule,) = replaced.warm_rules()
    assert forwards_to(rule) == replaced.service_target_group_arn


def test_a_request_reaching_the_waker_is_answered_not_failed(replaced: World) -> None:
    response = call(alb_event(replaced, path="/api/places", headers=API))
    assert response["statusCode"] == 307, response["body"]
    (rule,) = replaced.warm_rules()
    assert forwards_to(rule) == replaced.service_target_group_arn


def test_an_untagged_rule_forwarding_elsewhere_is_still_not_ours(lam: World) -> None:
    elbv2 = lam.clients.elbv2
    other = elbv2.create_target_group(
        Name="someone-elses", Protocol="HTTP", Port=80, VpcId=lam.vpc_id, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_rule(
        ListenerArn=lam.listener_arn,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": other}],
    )
    try:
        with pytest.raises(RoutingConflictError):
            lam.engine().router.route_to_waker()
        (rule,) = lam.warm_rules()
        assert forwards_to(rule) == other  # untouched
    finally:
        for rule in lam.warm_rules():
            elbv2.delete_rule(RuleArn=rule["RuleArn"])
        elbv2.delete_target_group(TargetGroupArn=other)
