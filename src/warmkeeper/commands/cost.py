"""`warmkeeper cost`: the modelled monthly cost of one environment, line by line.

Reads the config, the environment's traffic profile (default: ``traffic-<env>.toml`` beside the
config) and the shipped price table of the environment's region (optionally overridden with
``--prices FILE``), then prints the configured environment, the same app always on and the legacy
EC2 instance side by side. Every figure is modelled from list prices, never measured.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from warmkeeper.clikit import ConfigOption, EnvOption, app, fail, load, out
from warmkeeper.config import AppConfig, ConfigError, EnvironmentSettings

# The cost model and rich's tables load when a cost is asked for: every other command starts without.
if TYPE_CHECKING:
    from warmkeeper.core.cost import CostReport, EnvironmentShape, PriceTable, TrafficProfile

# The epic's promise for staging (EUR a month); the report says whether the model keeps it.
STAGING_TARGET_EUR = 25.0


def read_toml(path: Path) -> dict[str, Any]:
    """Read one TOML file; every problem becomes a :class:`CostInputError` naming the file."""
    from warmkeeper.core.cost import CostInputError

    if not path.exists():
        raise CostInputError(str(path), "", "file not found")
    if not path.is_file():
        raise CostInputError(str(path), "", "is not a file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CostInputError(str(path), "", f"not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise CostInputError(str(path), "", "not a UTF-8 text file") from None


def shipped_regions() -> list[str]:
    from warmkeeper.core.cost import PRICE_TABLE_DIR

    return sorted(path.stem for path in PRICE_TABLE_DIR.glob("*.toml"))


def load_prices(region: str, override: Path | None = None) -> PriceTable:
    """The shipped table of ``region``, with ``override`` applied on top when given."""
    from warmkeeper.core.cost import PRICE_TABLE_DIR, CostInputError, apply_price_override, parse_price_table

    shipped = PRICE_TABLE_DIR / f"{region}.toml"
    if not shipped.is_file():
        raise CostInputError(
            "--prices",
            "",
            f"no price table is shipped for region {region!r} (shipped: {', '.join(shipped_regions())})",
        )
    table = parse_price_table(read_toml(shipped), f"{region}.toml (shipped)")
    if override is not None:
        table = apply_price_override(table, read_toml(override), str(override))
    return table


def load_profile(path: Path) -> TrafficProfile:
    from warmkeeper.core.cost import parse_profile

    return parse_profile(read_toml(path), str(path))


def default_profile_path(config: Path, env: str) -> Path:
    return config.parent / f"traffic-{env}.toml"


def _secrets_manager_secrets(cfg: AppConfig) -> int:
    """The keep-alive token plus each distinct Secrets Manager secret the containers read."""
    secrets: set[str] = set()
    for container in cfg.containers:
        for ref in container.secrets.values():
            if ref.startswith("arn:aws:secretsmanager:"):
                # arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME[:json-key:version-stage:version-id]
                secrets.add(":".join(ref.split(":")[:7]))
    return 1 + len(secrets)


def environment_shape(cfg: AppConfig, name: str, settings: EnvironmentSettings) -> EnvironmentShape:
    from warmkeeper.core.cost import EnvironmentShape

    return EnvironmentShape(
        name=name,
        region=settings.region,
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
        front_door=settings.front_door,
    )


def _eur(usd: float, rate: float) -> str:
    return f"{usd / rate:,.2f}"


def render(report: CostReport) -> None:
    """The human view: one row per line item, the three scenarios side by side, then the summary."""
    from rich.table import Table

    configured, always_on, legacy = report.scenarios
    rate = report.prices.fx.usd_per_eur
    env = report.environment
    profile = report.profile
    out.print(
        f"[bold]Monthly cost of {env.name}[/] ({env.region}, {env.cpu_units} CPU / {env.memory_mib} MiB "
        f"{env.architecture}{' Spot' if env.spot else ''}) - [bold]MODELLED[/] from list prices, not measured"
    )
    out.print(f'Front door: {env.front_door_label} (front_door = "{env.front_door}" in the config)')
    out.print(
        f"Profile: {profile.active_hours_per_day:g} active h/day x {profile.days_per_month:g} days, "
        f"{profile.requests_per_active_hour:,.0f} requests per active hour, "
        f"{profile.active_periods_per_day} active period(s) a day"
        + (f" - {profile.description}" if profile.description else "")
    )
    # The basis column explains each figure; a narrow terminal gets the figures alone (--json has all).
    with_basis = out.width >= 120
    table = Table(show_lines=False, pad_edge=False)
    table.add_column("line (EUR/month)", no_wrap=True)
    table.add_column(configured.title, justify="right")
    table.add_column(always_on.title, justify="right")
    table.add_column(legacy.title, justify="right")
    if with_basis:
        table.add_column(f"basis ({configured.title})")
    for key in report.row_keys():
        present = [scenario for scenario in report.scenarios if scenario.has(key)]
        first = present[0].line(key)
        cells = [_eur(s.line(key).usd, rate) if s.has(key) else "-" for s in report.scenarios]
        basis = configured.line(key).basis if configured.has(key) else f"({first.basis})"
        table.add_row(first.label, *cells, *([basis] if with_basis else []))
    table.add_section()
    table.add_row(
        "[bold]total[/]",
        *(f"[bold]{scenario.total_eur:,.2f}[/]" for scenario in report.scenarios),
        *(["EUR a month"] if with_basis else []),
    )
    table.add_row(
        "  of which fixed",
        *(_eur(s.fixed_usd, rate) for s in report.scenarios),
        *(["the same at zero traffic"] if with_basis else []),
    )
    out.print(table)
    dominant = ", ".join(f"{line.label} {share:.0%}" for line, share in configured.dominant())
    out.print(f"Dominant lines ({configured.title}): {dominant}")
    out.print(
        f"Task-hours: {configured.task_hours:,.1f} ({configured.title})"
        f" vs {always_on.task_hours:,.0f} (always on); "
        f"wakes a month: {configured.wakes:,.0f}"
    )
    if env.name == "staging":
        verdict = "kept" if configured.total_eur < STAGING_TARGET_EUR else "NOT kept"
        out.print(
            f"Staging target under {STAGING_TARGET_EUR:g} EUR a month: {verdict} "
            f"(modelled {configured.total_eur:,.2f} EUR)"
        )
    prices = report.prices
    out.print(
        f"Prices: {prices.region} table {prices.version} (USD list prices, each with its source and date: "
        f"--json or docs/technical/cost.md); 1 EUR = {prices.fx.usd_per_eur:g} USD "
        f"(ECB, {prices.fx.date})"
        + (f"; overridden by {', '.join(prices.files[1:])}" if len(prices.files) > 1 else "")
    )
    for note in report.notes:
        out.print(f"  - {note}")


@app.command()
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
) -> None:
    """Modelled monthly cost in EUR: this environment vs always on vs the legacy EC2 instance."""
    from warmkeeper.core.cost import CostInputError, estimate, report_to_dict

    try:
        cfg, settings = load(config, env)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    assert settings is not None  # load() returns settings whenever an environment is asked
    if env == "local":
        raise fail(
            "--env local: the local twin runs on this machine and has no AWS bill; use staging or production"
        )
    profile_path = profile if profile is not None else default_profile_path(config, env)
    if profile is None and not profile_path.is_file():
        raise fail(f"--profile: no traffic profile given and {profile_path} does not exist")
    try:
        traffic = load_profile(profile_path)
        table = load_prices(settings.region, prices)
    except CostInputError as exc:
        raise fail(str(exc)) from None
    report = estimate(environment_shape(cfg, env, settings), traffic, table)
    if as_json:
        out.print(json.dumps(report_to_dict(report), indent=2), markup=False, highlight=False, emoji=False)
        return
    render(report)
