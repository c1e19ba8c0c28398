"""`warmkeeper cost`: the modelled monthly cost of one environment, line by line.

Reads the config, the environment's traffic profile (default: ``traffic-<env>.toml`` beside the
config) and the shipped price table of the environment's region (optionally overridden with
``--prices FILE``), then prints the configured environment, the same app always on and the legacy
EC2 instance side by side; ``--compare-front-doors`` prices the same environment behind each front door
instead. The model, its inputs and its output live in `warmkeeper.cost`.
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
            "--profile", "-p", help="Traffic profile (TOML); default: traffic-ENV.toml beside the config."
        ),
    ] = None,
    prices: Annotated[
        Path | None,
        typer.Option("--prices", help="TOML overriding any subset of the shipped price table."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The same figures as JSON, for scripts.")] = False,
    compare_front_doors: Annotated[
        bool,
        typer.Option(
            "--compare-front-doors",
            help="The same environment behind each front door side by side, with the legacy EC2 instance.",
        ),
    ] = False,
) -> None:
    """Modelled monthly cost in EUR: this environment vs always on vs the legacy EC2 instance."""
    # The cost model, pydantic's price tables and rich's tables load when a cost is asked for: every
    # other command starts without them.
    from warmkeeper.cost import compare_front_doors as compare
    from warmkeeper.cost import (
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

    cfg, settings = load(config, env)
    if env == "local":
        raise UserError(
            "--env local: the local twin runs on this machine and has no AWS bill; use staging or production"
        )
    profile_path = profile if profile is not None else default_profile_path(config, env)
    if profile is None and not profile_path.is_file():
        raise UserError(f"--profile: no traffic profile given and {profile_path} does not exist")
    traffic = load_profile(profile_path)  # a CostInputError names the file, the key and the problem
    table = load_prices(settings.aws_region, prices)
    shape = environment_shape(cfg, env, settings)
    if compare_front_doors:
        comparison = compare(shape, traffic, table)
        if as_json:
            out.print(
                json.dumps(comparison_to_dict(comparison), indent=2),
                markup=False,
                highlight=False,
                emoji=False,
            )
            return
        render_comparison(comparison, out)
        return
    report = estimate(shape, traffic, table)
    if as_json:
        out.print(json.dumps(report_to_dict(report), indent=2), markup=False, highlight=False, emoji=False)
        return
    render(report, out)
