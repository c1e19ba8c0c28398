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
from warmkeeper_sim.identifiers import (
    CLOUD_MAP_FRONT_SERVICE,
    CLOUD_MAP_FRONT_SERVICE_ID,
    CLOUD_MAP_NAMESPACE,
    CLOUD_MAP_SERVICE,
    CLOUD_MAP_SERVICE_ID,
    ENTRY_PORT,
)

if TYPE_CHECKING:
    from warmkeeper_sim.ecs import Task
    from warmkeeper_sim.world import World


@dataclass
class Instance:
    instance_id: str
    ip: str
    task: Task | None  # None: registered through the API (RegisterInstance), not by ECS
    health: str = "UNHEALTHY"
    port: int = ENTRY_PORT
    pending_health: str | None = None  # a custom health status reported, not applied yet
    healthy_at: float | None = None  # when Cloud Map last made it HEALTHY
    reported_at: float | None = None  # when ECS last reported it healthy
    service_id: str = CLOUD_MAP_SERVICE_ID  # the Cloud Map service it is registered in


class CloudMap:
    """The Cloud Map service ECS registers the tasks in (SRV records, custom health).

    ECS registers a task in ACTIVATING with a first health status that AWS does not document (both
    variants run: ``SimConfig.initial_health``) and reports its container health as the instance's
    custom health status, which Cloud Map applies about 30 s later (``cloudmap.health_update``). An
    instance registered through the API with ``AWS_INIT_HEALTH_STATUS`` starts with that status
    (HEALTHY when not given), discoverable once the asynchronous registration is done.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        # The services: ECS's (the tasks, registered by ECS) and, when the stack has one, the front
        # service only the waker registers in; API Gateway's integration reads the latter then.
        self.services = {CLOUD_MAP_SERVICE: CLOUD_MAP_SERVICE_ID}
        if world.config.front_service:
            self.services[CLOUD_MAP_FRONT_SERVICE] = CLOUD_MAP_FRONT_SERVICE_ID
        self.front_service_id = self.services.get(CLOUD_MAP_FRONT_SERVICE, CLOUD_MAP_SERVICE_ID)
        self.instances: dict[str, Instance] = {}
        self.healthy_since: list[float] = []  # each time the service went from 0 to 1+ healthy
        self.operations = 0
        self._registering: set[str] = set()
        self.registered_by_api = 0

    def _set_health(self, instance: Instance, health: str) -> None:
        before = self.healthy_count()
        instance.health = health
        if health == "HEALTHY":
            instance.healthy_at = self.world.kernel.now
        if before == 0 and self.healthy_count() > 0:
            self.healthy_since.append(self.world.kernel.now)

    def _add(self, instance: Instance) -> None:
        health, instance.health = instance.health, "UNHEALTHY"
        self.instances[instance.instance_id] = instance
        self._set_health(instance, health)

    def register(self, task: Task) -> None:
        first = "HEALTHY" if self.world.config.initial_health == "healthy" else "UNHEALTHY"
        self._add(Instance(task.arn.rsplit("/", 1)[-1], task.ip, task, health=first))
        task.registered = True

    def container_healthy(self, task: Task) -> None:
        """ECS reports the container's health (UpdateInstanceCustomHealthStatus); Cloud Map applies
        it about 30 s later, and a second report of the same value does not hasten it."""
        instance = self.instances.get(task.arn.rsplit("/", 1)[-1])
        if instance is None or instance.health == "HEALTHY" or instance.pending_health == "HEALTHY":
            return
        instance.pending_health = "HEALTHY"
        instance.reported_at = self.world.kernel.now
        kernel = self.world.kernel

        def update() -> None:
            if self.instances.get(instance.instance_id) is instance:
                instance.pending_health = None
                self._set_health(instance, "HEALTHY")

        kernel.at(figure("cloudmap.health_update").draw(kernel.random), update)

    def deregister(self, task: Task) -> None:
        self.instances.pop(task.arn.rsplit("/", 1)[-1], None)

    def healthy(self) -> list[Instance]:
        """The healthy instances of the service API Gateway's integration reads."""
        front = self.front_service_id
        return [i for i in self.instances.values() if i.health == "HEALTHY" and i.service_id == front]

    def healthy_count(self) -> int:
        return len(self.healthy())

    def task_healthy(self, task: Task) -> bool:
        # ECS's rolling deploy and its own view go by the container's health, not Cloud Map's.
        return task.health_status == "HEALTHY"

    def release(self, task: Task, *, spot_interruption: bool, bounded: Callable[[float], float]) -> None:
        # ECS deregisters the task from Cloud Map and sends SIGTERM at once (no deregistration delay:
        # aws/containers-roadmap#1639); the entry container keeps accepting for its drain window,
        # since API Gateway may still send it requests from its discovery cache.
        self.deregister(task)
        self.world.kernel.sleep(bounded(self.world.config.drain_window))

    def task_at(self, ip: str) -> Task | None:
        return next((t for t in self.world.ecs.tasks if t.ip == ip), None)

    # the API --------------------------------------------------------------------------------------

    def _check_service(self, ServiceId: str, operation: str) -> None:
        if ServiceId not in self.services.values():
            raise client_error("ServiceNotFound", f"service {ServiceId} not found", operation)

    def register_instance(
        self, ServiceId: str, InstanceId: str, Attributes: dict[str, str], **_: Any
    ) -> dict[str, Any]:
        self._check_service(ServiceId, "RegisterInstance")
        if INSTANCE_IPV4 not in Attributes:
            raise client_error(
                "InvalidInput", "AWS_INSTANCE_IPV4 is required for SRV records", "RegisterInstance"
            )
        first = Attributes.get("AWS_INIT_HEALTH_STATUS", "HEALTHY")
        ip = Attributes[INSTANCE_IPV4]
        port = int(Attributes.get(INSTANCE_PORT, ENTRY_PORT))
        if InstanceId in self._registering:
            # "One RegisterInstance request must complete before you can submit another request and
            # specify the same service ID and instance ID" (RegisterInstance reference).
            raise client_error(
                "DuplicateRequest", f"operation on {InstanceId} in progress", "RegisterInstance"
            )
        kernel = self.world.kernel
        self.operations += 1
        self._registering.add(InstanceId)
        self.registered_by_api += 1

        def done() -> None:
            self._registering.discard(InstanceId)
            self._add(
                Instance(InstanceId, ip, self.task_at(ip), health=first, port=port, service_id=ServiceId)
            )

        kernel.at(figure("cloudmap.register_instance").draw(kernel.random), done)
        return {"OperationId": f"op-{self.operations}"}

    def deregister_instance(self, ServiceId: str, InstanceId: str, **_: Any) -> dict[str, Any]:
        self._check_service(ServiceId, "DeregisterInstance")
        found = self.instances.get(InstanceId)
        if found is None or found.service_id != ServiceId:
            raise client_error("InstanceNotFound", f"instance {InstanceId} not found", "DeregisterInstance")
        self.instances.pop(InstanceId, None)
        self.operations += 1
        return {"OperationId": f"op-{self.operations}"}

    def discover_instances(
        self, NamespaceName: str, ServiceName: str, HealthStatus: str = "HEALTHY", **_: Any
    ) -> dict[str, Any]:
        if NamespaceName != CLOUD_MAP_NAMESPACE or ServiceName not in self.services:
            raise client_error("ServiceNotFound", "service not found", "DiscoverInstances")
        service_id = self.services[ServiceName]
        of_service = [i for i in self.instances.values() if i.service_id == service_id]
        healthy = [i for i in of_service if i.health == "HEALTHY"]
        if HealthStatus == "ALL" or (HealthStatus == "HEALTHY_OR_ELSE_ALL" and not healthy):
            chosen = of_service
        else:
            chosen = [i for i in of_service if i.health == HealthStatus]
        return {
            "Instances": [
                {
                    "InstanceId": i.instance_id,
                    "NamespaceName": NamespaceName,
                    "ServiceName": ServiceName,
                    "HealthStatus": i.health,
                    "Attributes": {INSTANCE_IPV4: i.ip, INSTANCE_PORT: str(i.port)},
                }
                for i in chosen
            ]
        }
