"""The environment as far as cost is concerned: what the model needs from one environment of the config."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from warmkeeper.config import AppConfig, Container, EnvironmentSettings
from warmkeeper.core.front_doors import front_door
from warmkeeper.core.schedule import WarmWindow

FrontDoorName = Literal["load_balancer", "cloudfront", "http_api"]
# What each front door is, for people (the CLI header and the notes).
FRONT_DOOR_LABELS: dict[str, str] = {
    "load_balancer": "internet-facing ALB",
    "cloudfront": "CloudFront -> internal ALB",
    "http_api": "API Gateway HTTP API -> VPC link -> Cloud Map, no load balancer",
}


@dataclass(frozen=True)
class ServiceShape:
    """One internal service ([[services]]) of the environment, as far as cost is concerned."""

    name: str
    cpu_units: int
    memory_mib: int
    architecture: str  # "arm64" or "x86_64"
    spot: bool
    min_tasks: int
    scale_to_zero: bool
    idle_minutes: float
    wakes_with_app: bool = False  # in the app's wake_with: woken by every wake of the app too
    secrets: int = 0  # Secrets Manager secrets its containers read that the app's do not

    @property
    def vcpu(self) -> float:
        return self.cpu_units / 1024.0

    @property
    def memory_gb(self) -> float:
        return self.memory_mib / 1024.0


@dataclass(frozen=True)
class EnvironmentShape:
    """What the cost model needs from one environment of the config (built by :func:`environment_shape`)."""

    name: str
    region: str
    cpu_units: int
    memory_mib: int
    architecture: str  # "arm64" or "x86_64"
    spot: bool
    min_tasks: int
    scale_to_zero: bool
    idle_minutes: float
    min_warm_minutes: float
    log_retention_days: float
    secrets: int = 1  # Secrets Manager secrets: the keep-alive token plus the app's own
    front_door: FrontDoorName = "load_balancer"
    dashboard: bool = True  # the environment has a CloudWatch dashboard
    alarm_topic: bool = True  # an alarm topic, encrypted with its customer managed KMS key
    watched: bool = True  # operational alarms and custom metrics (EnvironmentSettings.is_watched)
    container_insights: bool = True  # Container Insights on the cluster (has_container_insights)
    warm_windows: tuple[WarmWindow, ...] = ()  # warm schedule: kept warm whatever the traffic
    warm_skip_dates: frozenset[date] = frozenset()  # dates on which the windows do not open
    services: tuple[ServiceShape, ...] = ()  # internal services, each priced with its own lines

    def __post_init__(self) -> None:
        if self.front_door not in FRONT_DOOR_LABELS:
            raise ValueError(f"front_door {self.front_door!r}: use one of {sorted(FRONT_DOOR_LABELS)}")

    @property
    def behind_cloudfront(self) -> bool:
        return front_door(self.front_door).cdn

    @property
    def front_door_label(self) -> str:
        return FRONT_DOOR_LABELS[self.front_door]

    @property
    def vcpu(self) -> float:
        return self.cpu_units / 1024.0

    @property
    def memory_gb(self) -> float:
        return self.memory_mib / 1024.0


def _secret_arns(containers: Sequence[Container]) -> set[str]:
    """Each distinct Secrets Manager secret the containers read."""
    secrets: set[str] = set()
    for container in containers:
        for ref in container.secrets.values():
            if ref.startswith("arn:aws:secretsmanager:"):
                # arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME[:json-key:version-stage:version-id]
                secrets.add(":".join(ref.split(":")[:7]))
    return secrets


def _secrets_manager_secrets(cfg: AppConfig) -> int:
    """The keep-alive token plus each distinct Secrets Manager secret the app's containers read."""
    return 1 + len(_secret_arns(cfg.containers))


def service_shapes(cfg: AppConfig, env: str) -> tuple[ServiceShape, ...]:
    """Every internal service of the app in environment ``env`` (its size, Spot and sleep there)."""
    woken_with_app = set(cfg.wakes_with(cfg.app.name))
    counted = _secret_arns(cfg.containers)
    shapes = []
    for service in cfg.services:
        settings = cfg.service_settings(service.name, env)
        shapes.append(
            ServiceShape(
                name=settings.name,
                cpu_units=settings.cpu,
                memory_mib=settings.memory,
                architecture=settings.architecture,
                spot=settings.spot,
                min_tasks=settings.min_tasks,
                scale_to_zero=settings.scale_to_zero,
                idle_minutes=settings.idle_minutes,
                wakes_with_app=settings.name in woken_with_app,
                secrets=len(_secret_arns(service.containers) - counted),
            )
        )
        counted |= _secret_arns(service.containers)
    return tuple(shapes)


def environment_shape(cfg: AppConfig, name: str, settings: EnvironmentSettings) -> EnvironmentShape:
    front_door: FrontDoorName = settings.front_door
    return EnvironmentShape(
        name=name,
        region=settings.aws_region,
        cpu_units=settings.cpu,
        memory_mib=settings.memory,
        architecture=settings.architecture,
        spot=settings.spot,
        min_tasks=settings.min_tasks,
        scale_to_zero=settings.scale_to_zero,
        idle_minutes=settings.idle_minutes,
        min_warm_minutes=cfg.scale_to_zero.min_warm_minutes,
        log_retention_days=settings.log_retention_days,
        secrets=_secrets_manager_secrets(cfg),
        front_door=front_door,
        dashboard=settings.has_dashboard,
        alarm_topic=settings.has_alarm_topic,
        watched=settings.is_watched,
        container_insights=settings.has_container_insights,
        warm_windows=settings.warm_windows,
        warm_skip_dates=settings.warm_skip_dates,
        services=service_shapes(cfg, name),
    )
