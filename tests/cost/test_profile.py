"""The traffic profile's internal-service sections (``[services.NAME]``): checked, named when wrong."""

from __future__ import annotations

from typing import Any

import pytest

from warmkeeper.cost import CostInputError, ServiceUse, check_profile_services, parse_profile

BASE: dict[str, Any] = {"active_hours_per_day": 6, "days_per_month": 22, "requests_per_active_hour": 300}


def test_a_service_section_is_read_with_its_defaults() -> None:
    profile = parse_profile({**BASE, "services": {"osrm": {"data_gb": 2, "wakes_per_month": 40}}}, "p.toml")
    use = profile.services["osrm"]
    assert (use.wakes_per_month, use.data_gb, use.data_storage_class) == (40, 2, "STANDARD")
    # What is not given is what osrm.md models for CityGuided's routing.
    assert (use.use_minutes_per_wake, use.start_minutes) == (10, 2.5)
    assert ServiceUse() == ServiceUse(wakes_per_month=60, use_minutes_per_wake=10, start_minutes=2.5)
    assert parse_profile(BASE, "p.toml").services == {}


@pytest.mark.parametrize(
    ("services", "key", "problem"),
    [
        ({"osrm": {"wakes_per_month": -1}}, "services.osrm.wakes_per_month", "must be at least 0, got -1"),
        ({"osrm": {"start_minutes": 90}}, "services.osrm.start_minutes", "must be at most 60, got 90"),
        ({"osrm": {"data_gb": "2 GB"}}, "services.osrm.data_gb", "must be a number, got '2 GB' (str)"),
        ({"osrm": {"data_gb": float("nan")}}, "services.osrm.data_gb", "must be a finite number"),
        (
            {"osrm": {"data_storage_class": "GLACIER"}},
            "services.osrm.data_storage_class",
            "must be 'STANDARD', got 'GLACIER'",
        ),
        ({"osrm": {"wakes": 3}}, "services.osrm.wakes", "unknown key; known keys: calls_while_waking,"),
        ({"osrm": 3}, "services.osrm", "must be a table, got 3 (int)"),
        ({"osrm": {"use_minutes_per_wake": True}}, "services.osrm.use_minutes_per_wake", "must be a number"),
    ],
)
def test_bad_service_input_names_the_file_and_the_key(services: Any, key: str, problem: str) -> None:
    with pytest.raises(CostInputError) as raised:
        parse_profile({**BASE, "services": services}, "traffic-staging.toml")
    assert raised.value.file == "traffic-staging.toml"
    assert raised.value.key == key
    assert problem in raised.value.problem


def test_a_section_for_a_service_the_config_lacks_is_refused() -> None:
    profile = parse_profile({**BASE, "services": {"routing": {}}}, "p.toml")
    check_profile_services(profile, ["routing"], "p.toml")  # declared: fine
    with pytest.raises(CostInputError) as raised:
        check_profile_services(profile, ["osrm"], "p.toml")
    assert (
        str(raised.value)
        == "p.toml: services.routing: no internal service 'routing' in the config (services: osrm)"
    )
    with pytest.raises(CostInputError, match=r"none: the config has no \[\[services\]\]"):
        check_profile_services(profile, [], "p.toml")
