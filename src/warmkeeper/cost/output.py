"""The cost report for people (a rich table) and for scripts (plain data, ``--json``)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from warmkeeper.cost.model import CostReport, Scenario

# The epic's promise for staging (EUR a month); the report says whether the model keeps it.
STAGING_TARGET_EUR = 25.0


def _eur(usd: float, rate: float) -> str:
    return f"{usd / rate:,.2f}"


def render(report: CostReport, out: Console) -> None:
    """The human view: one row per line item, the three scenarios side by side, then the summary."""
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


def _round(value: float) -> float:
    return round(value, 6)


def report_to_dict(report: CostReport) -> dict[str, Any]:
    """The report as plain data (``--json``): the same figures as the table, unrounded to 6 places."""

    def scenario_dict(scenario: Scenario) -> dict[str, Any]:
        rate = scenario.usd_per_eur
        return {
            "title": scenario.title,
            "task_hours": _round(scenario.task_hours),
            "wakes": _round(scenario.wakes),
            "total_usd": _round(scenario.total_usd),
            "total_eur": _round(scenario.total_eur),
            "fixed_usd": _round(scenario.fixed_usd),
            "fixed_eur": _round(scenario.fixed_usd / rate),
            "lines": [
                {
                    "key": line.key,
                    "label": line.label,
                    "quantity": _round(line.quantity),
                    "unit": line.unit,
                    "unit_usd": line.unit_usd,
                    "usd": _round(line.usd),
                    "eur": _round(line.usd / rate),
                    "fixed": line.fixed,
                    "basis": line.basis,
                }
                for line in scenario.lines
            ],
        }

    prices = report.prices
    env = report.environment
    return {
        "modelled": True,
        "environment": {
            "name": env.name,
            "region": env.region,
            "cpu_units": env.cpu_units,
            "memory_mib": env.memory_mib,
            "architecture": env.architecture,
            "spot": env.spot,
            "min_tasks": env.min_tasks,
            "scale_to_zero": env.scale_to_zero,
            "idle_minutes": env.idle_minutes,
            "log_retention_days": env.log_retention_days,
            "secrets": env.secrets,
            "front_door": env.front_door,
        },
        "profile": {
            "active_hours_per_day": report.profile.active_hours_per_day,
            "days_per_month": report.profile.days_per_month,
            "requests_per_active_hour": report.profile.requests_per_active_hour,
            "active_periods_per_day": report.profile.active_periods_per_day,
            "avg_response_kb": report.profile.avg_response_kb,
            "log_mb_per_active_hour": report.profile.log_mb_per_active_hour,
            "image_size_mb": report.profile.image_size_mb,
            "cold_requests_per_wake": report.profile.cold_requests_per_wake,
            "description": report.profile.description,
        },
        "price_table": {
            "region": prices.region,
            "label": prices.label,
            "version": prices.version,
            "files": list(prices.files),
            "fx": {
                "usd_per_eur": prices.fx.usd_per_eur,
                "date": prices.fx.date,
                "source": prices.fx.source,
            },
            "prices": {
                key: {"usd": p.usd, "unit": p.unit, "source": p.source, "read": p.read, "note": p.note}
                for key, p in prices.prices.items()
            },
            "assumptions": {
                key: {"value": a.value, "unit": a.unit, "note": a.note}
                for key, a in prices.assumptions.items()
            },
        },
        "scenarios": {scenario.key: scenario_dict(scenario) for scenario in report.scenarios},
        "dominant": [
            {"key": line.key, "label": line.label, "share": _round(share)}
            for line, share in report.configured.dominant()
        ],
        "notes": list(report.notes),
    }
