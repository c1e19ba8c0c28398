"""The traffic profile: how much an environment is used in a month (``traffic-<env>.toml`` beside the
config). Checked on load; every problem names the file and the key."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError

from warmkeeper.cost.inputs import CostInputError, NonNegative, Number, Text, read_toml, validate


def _whole_number(value: object) -> object:
    # TOML may spell a count as 2.0; 1.5 periods a day is a mistake worth saying so.
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError(
            "finite_number", "must be a finite number, got {value}", {"value": repr(value)}
        )
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, float):
        raise PydanticCustomError(
            "whole_number", "must be a whole number, got {value}", {"value": f"{value:g}"}
        )
    return value


# What an internal service's section of the profile assumes when the profile does not say: CityGuided's
# routing (OSRM) as docs/technical/osrm.md models it, about two routing sessions a working day.
ASSUMED_SERVICE_USE: dict[str, Any] = {
    "wakes_per_month": 60,
    "use_minutes_per_wake": 10,
    "start_minutes": 2.5,
}


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class ServiceUse:
    """How much one internal service is used in a month (``[services.NAME]`` of the traffic profile): its
    wakes, how long each is used, how long it takes to start, and the data it loads from S3."""

    wakes_per_month: Annotated[
        NonNegative, Field(le=50_000, description="times a month a call wakes the sleeping service")
    ] = ASSUMED_SERVICE_USE["wakes_per_month"]
    use_minutes_per_wake: Annotated[
        NonNegative,
        Field(
            le=44_640, description="minutes from the first call of a wake to the last, before the idle time"
        ),
    ] = ASSUMED_SERVICE_USE["use_minutes_per_wake"]
    start_minutes: Annotated[
        NonNegative,
        Field(le=60, description="billed minutes from the wake to the first answer (image pull, data, load)"),
    ] = ASSUMED_SERVICE_USE["start_minutes"]
    calls_while_waking: Annotated[
        NonNegative, Field(description="calls the waker answers with a retry while one wake is under way")
    ] = 10.0
    log_mb_per_task_hour: Annotated[
        NonNegative, Field(description="the service's own log volume per running hour, in MB")
    ] = 1.0
    image_size_mb: Annotated[
        NonNegative, Field(description="one version of the images it builds and pushes to ECR, in MB")
    ] = 0.0
    data_gb: Annotated[
        NonNegative, Field(description="size of the data the service copies from S3 at each start, in GB")
    ] = 0.0
    data_storage_class: Literal["STANDARD"] = "STANDARD"
    description: Text = ""


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class TrafficProfile:
    """How much an environment is used in a month."""

    active_hours_per_day: Annotated[Number, Field(ge=0, le=24, description="hours a day the app is used")]
    days_per_month: Annotated[Number, Field(ge=0, le=31, description="days a month the app is used")]
    requests_per_active_hour: Annotated[
        NonNegative, Field(description="requests reaching the load balancer per active hour")
    ]
    active_periods_per_day: Annotated[
        int,
        BeforeValidator(_whole_number),
        Field(strict=True, ge=1, le=24, description="separate active periods (wakes) per active day"),
    ] = 1
    avg_response_kb: Annotated[
        NonNegative, Field(description="average response size in KB (ALB processed bytes, transfer out)")
    ] = 30.0
    log_mb_per_active_hour: Annotated[
        NonNegative, Field(description="application log volume per active hour, in MB")
    ] = 1.0
    image_size_mb: Annotated[
        NonNegative, Field(description="size of one version of all the task's images, in MB")
    ] = 300.0
    cold_requests_per_wake: Annotated[
        NonNegative, Field(description="requests the Lambda answers while a wake is under way")
    ] = 20.0
    description: Text = ""
    services: dict[str, ServiceUse] = Field(
        default_factory=dict, description="internal service name -> how much it is used"
    )

    @property
    def active_hours(self) -> float:
        return self.active_hours_per_day * self.days_per_month

    @property
    def requests(self) -> float:
        return self.requests_per_active_hour * self.active_hours


def parse_profile(data: Mapping[str, Any], file: str) -> TrafficProfile:
    """Validate a traffic profile; errors name the file and the key."""
    return validate(TrafficProfile, data, file)


def check_profile_services(profile: TrafficProfile, services: Sequence[str], file: str) -> None:
    """Every ``[services.NAME]`` of the profile names an internal service of the config."""
    for name in profile.services:
        if name not in services:
            known = ", ".join(services) if services else "none: the config has no [[services]]"
            raise CostInputError(
                file, f"services.{name}", f"no internal service {name!r} in the config (services: {known})"
            )


def load_profile(path: Path) -> TrafficProfile:
    return parse_profile(read_toml(path), str(path))


def default_profile_path(config: Path, env: str) -> Path:
    return config.parent / f"traffic-{env}.toml"


# The profile `warmkeeper cost` assumes when there is no file, for the figures a flag does not give: a
# small team's app used on working days (an assumption to replace, and said so in the report).
ASSUMED_PROFILE: dict[str, Any] = {
    "active_hours_per_day": 8,
    "days_per_month": 22,
    "requests_per_active_hour": 200,
    "active_periods_per_day": 2,
}


def assumed_profile(overrides: Mapping[str, Any]) -> TrafficProfile:
    """A profile from the flags given (`overrides`, keys of :class:`TrafficProfile`), the rest assumed;
    its description names which figures were assumed."""
    given = {key: value for key, value in overrides.items() if value is not None}
    assumed = [key for key in ASSUMED_PROFILE if key not in given]
    if assumed:
        description = (
            "assumed "
            + ", ".join(f"{key} = {ASSUMED_PROFILE[key]}" for key in assumed)
            + (" (no traffic profile file; set the figures with flags or --profile FILE)")
        )
    else:
        description = "from the command's flags"
    return parse_profile({**ASSUMED_PROFILE, **given, "description": description}, "the command's flags")
