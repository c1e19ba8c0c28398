"""`warmkeeper cost`: the modelled monthly cost of one environment, line by line.

Reads the config, the environment's traffic profile (``traffic-<env>.toml`` beside the config, else
``--profile FILE``, else the traffic flags with the rest assumed and said so) and the shipped price table
of the environment's region (optionally overridden with ``--prices FILE``), then prints the configured
environment and the same app always on side by side. What the config's ``[cost]`` section declares is
added: the currency (USD unless it says EUR), a column for one always-on EC2 instance
(``compare_with``) and the environment's budget verdict. ``--compare-front-doors`` prices the same
environment behind each front door instead. The model, its inputs and its output live in
`warmkeeper.cost`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from warmkeeper.clikit import ConfigOption, EnvOption, UserError, load, out


def cost(
    config: ConfigOption = Path("warmkeeper.toml"),
    env: EnvOption = "staging",
    profile: Annotated[
        Path | None,
        typer.Option(
            "--profile",
            "-p",
            help="Traffic profile (TOML); default: traffic-ENV.toml beside the config, else the flags below.",
        ),
    ] = None,
    active_hours: Annotated[
        float | None,
        typer.Option("--active-hours", help="Without a profile file: hours a day the app is used."),
    ] = None,
    days: Annotated[
        float | None, typer.Option("--days", help="Without a profile file: days a month the app is used.")
    ] = None,
    requests_per_hour: Annotated[
        float | None,
        typer.Option("--requests-per-hour", help="Without a profile file: requests per active hour."),
    ] = None,
    periods: Annotated[
        int | None,
        typer.Option("--periods", help="Without a profile file: separate active periods (wakes) a day."),
    ] = None,
    prices: Annotated[
        Path | None,
        typer.Option("--prices", help="TOML overriding any subset of the shipped price table."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The same figures as JSON, for scripts.")] = False,
    compare_front_doors: Annotated[
        bool,
        typer.Option(
            "--compare-front-doors", help="The same environment behind each front door side by side."
        ),
    ] = False,
) -> None:
    """Modelled monthly cost (USD, or EUR if the config's cost section says so): this environment vs
    always on."""
    # The cost model, pydantic's price tables and rich's tables load when a cost is asked for: every
    # other command starts without them.
    from warmkeeper.cost import (
        CostView,
        assumed_profile,
        check_profile_services,
        comparison_to_dict,
        default_profile_path,
        environment_shape,
        estimate,
        load_prices,
        load_profile,
        render,
        render_comparison,
        report_to_dict,
    )
    from warmkeeper.cost import compare_front_doors as compare

    cfg, settings = load(config, env)
    if env == "local":
        raise UserError(
            "--env local: the local twin runs on this machine and has no AWS bill; use an AWS environment"
        )
    flags = {
        "active_hours_per_day": active_hours,
        "days_per_month": days,
        "requests_per_active_hour": requests_per_hour,
        "active_periods_per_day": periods,
    }
    given = [name for name, value in flags.items() if value is not None]
    profile_path = profile if profile is not None else default_profile_path(config, env)
    if given and profile is not None:
        raise UserError("--profile: give a profile file or the traffic flags, not both")
    if profile is None and (given or not profile_path.is_file()):
        traffic = assumed_profile(flags)
    else:
        traffic = load_profile(profile_path)  # a CostInputError names the file, the key and the problem
        check_profile_services(traffic, [service.name for service in cfg.services], str(profile_path))
    table = load_prices(settings.aws_region, prices)
    shape = environment_shape(cfg, env, settings)
    budget = cfg.cost.budgets.get(env)
    view = CostView(
        currency=cfg.cost.currency,
        compare=cfg.cost.compare_with is not None,
        budget_monthly=budget.monthly if budget else None,
        budget_idle_month=budget.idle_month if budget else None,
    )
    if compare_front_doors:
        comparison = compare(shape, traffic, table)
        if as_json:
            out.print(
                json.dumps(comparison_to_dict(comparison, view), indent=2),
                markup=False,
                highlight=False,
                emoji=False,
            )
            return
        render_comparison(comparison, out, view)
        return
    report = estimate(shape, traffic, table)
    if as_json:
        data = report_to_dict(report, view)
        out.print(json.dumps(data, indent=2), markup=False, highlight=False, emoji=False)
        return
    render(report, out, view)
