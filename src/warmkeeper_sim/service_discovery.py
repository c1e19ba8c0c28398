"""Simulated AWS Cloud Map: the service ECS registers the tasks in (SRV records, the custom health
status ECS reports from the container's health check), as API Gateway discovers it. The task
discovery of the ``http_api`` front door."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from warmkeeper.aws.http_api_routing import INSTANCE_IPV4, INSTANCE_PORT
from warmkeeper_sim.control_plane import client_error
from warmkeeper_sim.figures import figure
from warmkeeper_sim.identifiers import CLOUD_MAP_NAMESPACE, CLOUD_MAP_SERVICE, ENTRY_PORT

if TYPE_CHECKING:
    from warmkeeper_sim.ecs import Task
    from warmkeeper_sim.world import World


@dataclass
class Instance:
    task: Task
    health: str = "UNHEALTHY"  # ECS's custom health status: healthy once the container is


class CloudMap:
    """The Cloud Map service ECS registers the tasks in (SRV records, custom health)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.instances: dict[str, Instance] = {}
        self.healthy_since: list[float] = []  # each time the service went from 0 to 1+ healthy

    def register(self, task: Task) -> None:
        self.instances[task.arn] = Instance(task)
        task.registered = True

    def container_healthy(self, task: Task) -> None:
        """ECS reports the container's health to Cloud Map, which applies it a moment later."""
        kernel = self.world.kernel

        def update() -> None:
            instance = self.instances.get(task.arn)
            if instance is None or instance.health == "HEALTHY":
                return
            before = self.healthy_count()
            instance.health = "HEALTHY"
            if before == 0:
                self.healthy_since.append(kernel.now)

        kernel.at(figure("cloudmap.health_update").draw(kernel.random), update)

    def deregister(self, task: Task) -> None:
        self.instances.pop(task.arn, None)

    def healthy(self) -> list[Instance]:
        return [i for i in self.instances.values() if i.health == "HEALTHY"]

    def healthy_count(self) -> int:
        return len(self.healthy())

    def task_healthy(self, task: Task) -> bool:
        instance = self.instances.get(task.arn)
        return instance is not None and instance.health == "HEALTHY"

    def release(self, task: Task, *, spot_interruption: bool, bounded: Callable[[float], float]) -> None:
        # ECS deregisters the task from Cloud Map and sends SIGTERM at once (no deregistration delay:
        # aws/containers-roadmap#1639); the entry container keeps accepting for its drain window,
        # since API Gateway may still send it requests from its discovery cache.
        self.deregister(task)
        self.world.kernel.sleep(bounded(self.world.config.drain_window))

    # the API --------------------------------------------------------------------------------------

    def discover_instances(
        self, NamespaceName: str, ServiceName: str, HealthStatus: str = "ALL", **_: Any
    ) -> dict[str, Any]:
        if NamespaceName != CLOUD_MAP_NAMESPACE or ServiceName != CLOUD_MAP_SERVICE:
            raise client_error("ServiceNotFound", "service not found", "DiscoverInstances")
        chosen = [
            i
            for i in self.instances.values()
            if HealthStatus in ("ALL", "HEALTHY_OR_ELSE_ALL") or i.health == HealthStatus
        ]
        return {
            "Instances": [
                {
                    "InstanceId": i.task.arn.rsplit("/", 1)[-1],
                    "NamespaceName": NamespaceName,
                    "ServiceName": ServiceName,
                    "HealthStatus": i.health,
                    "Attributes": {INSTANCE_IPV4: i.task.ip, INSTANCE_PORT: str(ENTRY_PORT)},
                }
                for i in chosen
            ]
        }
