"""Simulated Amazon EventBridge: the stack's rules that target the Lambda (the reconcile schedule,
the idle alarm's state changes, the service's stopping tasks), their delivery delay, and fault
injection (lose or duplicate the next events of a detail type); the events themselves, shaped as
AWS sends them."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC
from typing import TYPE_CHECKING, Any

from warmkeeper_sim.figures import figure
from warmkeeper_sim.identifiers import ACCOUNT, ALARM_NAME, CLUSTER, REGION, SERVICE

if TYPE_CHECKING:
    from warmkeeper_sim.ecs import Task
    from warmkeeper_sim.kernel import Kernel
    from warmkeeper_sim.world import World


class EventBus:
    """EventBridge with fault injection: lose or duplicate the next events of a detail type."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.lose: dict[str, int] = defaultdict(int)
        self.duplicate: dict[str, int] = defaultdict(int)
        self.delivered: list[tuple[float, str]] = []

    def put(self, event: dict[str, Any]) -> None:
        detail_type = str(event.get("detail-type"))
        if not self._routed(event):
            return
        if self.lose[detail_type] > 0:
            self.lose[detail_type] -= 1
            self.world.traffic_note(f"event_lost:{detail_type}")
            return
        copies = 1
        if self.duplicate[detail_type] > 0:
            self.duplicate[detail_type] -= 1
            copies = 2
        kernel = self.world.kernel
        for _ in range(copies):

            def deliver() -> None:
                self.delivered.append((kernel.now, detail_type))
                self.world.function.invoke_async(event)

            kernel.at(figure("eventbridge.delivery_delay").draw(kernel.random), deliver)

    def _routed(self, event: dict[str, Any]) -> bool:
        """The stack's EventBridge rules that target the Lambda."""
        detail_type = event.get("detail-type")
        if detail_type == "Scheduled Event":
            return self.world.config.reconcile_schedule
        if detail_type == "CloudWatch Alarm State Change":
            return True
        if detail_type == "ECS Task State Change":
            # The rule's pattern: lastStatus STOPPING/STOPPED or desiredStatus STOPPED.
            detail = event.get("detail") or {}
            stopping = (
                detail.get("lastStatus") in ("STOPPING", "STOPPED")
                or detail.get("desiredStatus") == "STOPPED"
            )
            return self.world.config.task_state_events_to_lambda and stopping
        return False


# --- the events, as AWS sends them ----------------------------------------------------------------


def aws_event(
    kernel: Kernel, detail_type: str, source: str, detail: dict[str, Any], resources: list[str]
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"sim-{kernel.now:.3f}-{detail_type}",
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": kernel.datetime().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": resources,
        "detail": detail,
    }


def scheduled_event(kernel: Kernel) -> dict[str, Any]:
    """The reconcile schedule's event."""
    return aws_event(
        kernel, "Scheduled Event", "aws.events", {}, [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/reconcile"]
    )


def alarm_event(kernel: Kernel, state: str, previous: str) -> dict[str, Any]:
    """The idle alarm's state change."""
    return aws_event(
        kernel,
        "CloudWatch Alarm State Change",
        "aws.cloudwatch",
        {
            "alarmName": ALARM_NAME,
            "state": {
                "value": state,
                "reason": "simulated",
                "timestamp": kernel.datetime().isoformat(),
            },
            "previousState": {"value": previous},
        },
        [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{ALARM_NAME}"],
    )


def task_state_change_event(kernel: Kernel, task: Task) -> dict[str, Any]:
    """ECS's task state change of one of the service's tasks."""
    detail = {
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
        "group": f"service:{SERVICE}",
        "taskArn": task.arn,
        "lastStatus": task.last_status,
        "desiredStatus": task.desired_status,
        "stoppedReason": task.stopped_reason,
        "capacityProviderName": task.capacity_provider,
    }
    return aws_event(kernel, "ECS Task State Change", "aws.ecs", detail, [task.arn])
