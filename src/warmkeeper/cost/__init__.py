"""The monthly cost of one environment (`warmkeeper cost`): MODELLED from list prices, never measured.

- ``prices``: the price tables (``tables/<region>.toml``) as pydantic models, and ``--prices`` overrides;
- ``profile``: the traffic profile (``traffic-<env>.toml`` beside the config, or flags);
- ``environment``: what the model needs from one environment of the config;
- ``model``: the model, one small function per cost line, the three scenarios, the idle month and
  the front doors side by side;
- ``output``: the table for people and the plain data for scripts (``--json``).

Not part of the Lambda bundle: the deployed waker never imports it.
"""

from warmkeeper.cost.environment import FRONT_DOOR_LABELS, EnvironmentShape, FrontDoorName, environment_shape
from warmkeeper.cost.inputs import CostInputError, read_toml
from warmkeeper.cost.model import (
    FARGATE_LINES,
    FRONT_DOORS,
    LEGACY_LINES,
    CostLine,
    CostReport,
    FrontDoorComparison,
    FrontDoorCost,
    Scenario,
    ScenarioContext,
    compare_front_doors,
    estimate,
    idle_profile,
    lcu_per_active_hour,
    running_task_hours,
    wakes_per_month,
)
from warmkeeper.cost.output import (
    STAGING_GOAL_EUR,
    STAGING_IDLE_GOAL_EUR,
    STAGING_TARGET_EUR,
    CostView,
    comparison_to_dict,
    render,
    render_comparison,
    report_to_dict,
)
from warmkeeper.cost.prices import (
    ASSUMPTION_KEYS,
    DEFAULT_REGION,
    PRICE_KEYS,
    PRICE_TABLE_DIR,
    Assumption,
    FxRate,
    Price,
    PriceTable,
    apply_price_override,
    load_prices,
    parse_price_table,
    shipped_regions,
)
from warmkeeper.cost.profile import (
    TrafficProfile,
    assumed_profile,
    default_profile_path,
    load_profile,
    parse_profile,
)

__all__ = [
    "ASSUMPTION_KEYS",
    "DEFAULT_REGION",
    "FARGATE_LINES",
    "FRONT_DOORS",
    "FRONT_DOOR_LABELS",
    "LEGACY_LINES",
    "PRICE_KEYS",
    "PRICE_TABLE_DIR",
    "STAGING_GOAL_EUR",
    "STAGING_IDLE_GOAL_EUR",
    "STAGING_TARGET_EUR",
    "Assumption",
    "CostInputError",
    "CostLine",
    "CostReport",
    "CostView",
    "EnvironmentShape",
    "FrontDoorComparison",
    "FrontDoorCost",
    "FrontDoorName",
    "FxRate",
    "Price",
    "PriceTable",
    "Scenario",
    "ScenarioContext",
    "TrafficProfile",
    "apply_price_override",
    "assumed_profile",
    "compare_front_doors",
    "comparison_to_dict",
    "default_profile_path",
    "environment_shape",
    "estimate",
    "idle_profile",
    "lcu_per_active_hour",
    "load_prices",
    "load_profile",
    "parse_price_table",
    "parse_profile",
    "read_toml",
    "render",
    "render_comparison",
    "report_to_dict",
    "running_task_hours",
    "shipped_regions",
    "wakes_per_month",
]
