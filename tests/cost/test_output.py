"""The report for people with internal services: a group per service, each with its subtotal."""

from __future__ import annotations

import io
import re

from rich.console import Console

from tests.conftest import EXAMPLE_CONFIG, EXAMPLE_DIR
from warmkeeper.config import load_config
from warmkeeper.cost import CostView, environment_shape, estimate, load_prices, load_profile, render

CONFIG = load_config(EXAMPLE_CONFIG)
REPORT = estimate(
    environment_shape(CONFIG, "staging", CONFIG.environment("staging")),
    load_profile(EXAMPLE_DIR / "traffic-staging.toml"),
    load_prices("eu-west-3"),
)


def rendered(width: int) -> str:
    buffer = io.StringIO()
    render(REPORT, Console(file=buffer, width=width, color_system=None), CostView())
    return buffer.getvalue()


def test_each_group_has_a_subtotal_and_they_add_up_to_the_total() -> None:
    text = rendered(160)
    rows = {row.split("│")[1].strip(): row.split("│")[2].strip() for row in text.splitlines() if "│" in row}
    subtotals = [float(rows[name]) for name in ("app subtotal", "osrm subtotal", "services' shared subtotal")]
    assert abs(sum(subtotals) - float(rows["total"])) <= 0.011  # each rounded to the cent
    assert float(rows["osrm subtotal"]) == round(REPORT.configured.group_usd("osrm"), 2)
    # The routing-request profile the figures come from, and the service's own lines, are shown.
    assert re.search(r"Internal service osrm: 512 CPU / 3072 MiB x86_64 Spot, sleeps after 10 idle min", text)
    assert "2.5 min start, 2 GB of data" in " ".join(text.split())
    for label in (
        "osrm: Fargate vCPU (x86_64, Spot)",
        "osrm: idle alarm",
        "osrm: S3 Standard storage (data)",
    ):
        assert label in rows, label
    flat = " ".join(text.split())  # the summary lines wrap at the console's width
    assert "osrm: 24.5 task-h, 60 wakes" in flat
    assert "osrm asleep all month: only its storage and idle alarm remain" in flat
