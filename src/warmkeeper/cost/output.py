"""The cost report for people (a rich table) and for scripts (plain data, ``--json``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from warmkeeper.cost.environment import FRONT_DOOR_LABELS
from warmkeeper.cost.model import SHARED, CostReport, FrontDoorComparison, Scenario, service_use
from warmkeeper.cost.prices import SERVICE_ASSUMPTION_KEYS, SERVICE_PRICE_KEYS

# The reference example's promises for its staging (EUR a month, modelled, no free tier), held by the
# model's property tests. The CLI judges an app only against the budget its own config declares.
STAGING_TARGET_EUR = 25.0
STAGING_GOAL_EUR = 5.0
STAGING_IDLE_GOAL_EUR = 2.5


@dataclass(frozen=True)
class CostView:
    """What the report shows beyond the figures, from the config's [cost] section: the currency, the
    comparison column (the one-EC2-instance scenario) and the environment's budget, each only when
    declared."""

    currency: Literal["USD", "EUR"] = "USD"
    compare: bool = False
    budget_monthly: float | None = None
    budget_idle_month: float | None = None


def _rate(view: CostView, usd_per_eur: float) -> float:
    """USD per unit of the shown currency."""
    return usd_per_eur if view.currency == "EUR" else 1.0


def _eur(usd: float, rate: float) -> str:
    return f"{usd / rate:,.2f}"


def render(report: CostReport, out: Console, view: CostView | None = None) -> None:
    """The human view: one row per line item, the scenarios side by side, then the summary."""
    view = view if view is not None else CostView()
    configured, always_on, legacy = report.scenarios
    scenarios = report.scenarios if view.compare else (configured, always_on)
    rate = _rate(view, report.prices.fx.usd_per_eur)
    currency = view.currency
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
    for service in env.services:
        use, assumed = service_use(profile, service.name)
        sleep = (
            f"sleeps after {service.idle_minutes:g} idle min; {use.wakes_per_month:g} wakes a month x"
            f" {use.use_minutes_per_wake:g} min of use, {use.start_minutes:g} min start"
            if service.scale_to_zero
            else "never sleeps"
        )
        out.print(
            escape(
                f"Internal service {service.name}: {service.cpu_units} CPU / {service.memory_mib} MiB "
                f"{service.architecture}{' Spot' if service.spot else ''}, {sleep}, "
                f"{use.data_gb:g} GB of data"
                + (f" (ASSUMED: no [services.{service.name}] in the profile)" if assumed else "")
            )
        )
    # The basis column explains each figure; a narrow terminal gets the figures alone (--json has all).
    with_basis = out.width >= 120
    table = Table(show_lines=False, pad_edge=False)
    table.add_column(f"line ({currency}/month)", no_wrap=True)
    for scenario in scenarios:
        table.add_column(scenario.title, justify="right")
    if with_basis:
        table.add_column(f"basis ({configured.title})")
    groups = _groups(report)
    for index, (group, keys) in enumerate(groups):
        if index:
            table.add_section()
        for key in keys:
            present = [scenario for scenario in scenarios if scenario.has(key)]
            if not present:
                continue
            first = present[0].line(key)
            cells = [_eur(s.line(key).usd, rate) if s.has(key) else "-" for s in scenarios]
            basis = configured.line(key).basis if configured.has(key) else f"({first.basis})"
            table.add_row(escape(first.label), *cells, *([escape(basis)] if with_basis else []))
        if len(groups) > 1:
            # Each group's own total: the app's, each internal service's, what the services share.
            table.add_row(
                f"  {_group_title(group)} subtotal",
                *(
                    _eur(s.group_usd(group), rate) if any(line.service == group for line in s.lines) else "-"
                    for s in scenarios
                ),
                *([_group_basis(configured, group)] if with_basis else []),
            )
    table.add_section()
    table.add_row(
        "[bold]total[/]",
        *(f"[bold]{_eur(scenario.total_usd, rate)}[/]" for scenario in scenarios),
        *([f"{currency} a month"] if with_basis else []),
    )
    table.add_row(
        "  of which fixed",
        *(_eur(s.fixed_usd, rate) for s in scenarios),
        *(["the same at zero traffic"] if with_basis else []),
    )
    out.print(table)
    dominant = ", ".join(f"{line.label} {share:.0%}" for line, share in configured.dominant())
    out.print(f"Dominant lines ({configured.title}): {dominant}")
    out.print(
        f"Task-hours: {configured.task_hours:,.1f} ({configured.title})"
        f" vs {always_on.task_hours:,.0f} (always on); "
        f"wakes a month: {configured.wakes:,.0f}"
        + "".join(
            f"; {run.name}: {run.task_hours:,.1f} task-h, {run.wakes:,.0f} wakes"
            for run in configured.services
        )
    )
    idle = report.idle_month
    if idle is not None:
        runs = (
            f"a task runs only in the warm windows, {idle.task_hours:,.1f} h"
            if idle.has("warm_schedule")
            else "no task runs"
        )
        asleep = "".join(
            f"; {run.name} asleep all month: only its storage and idle alarm remain"
            if run.task_hours == 0
            else f"; {run.name} runs {run.task_hours:,.1f} h"
            for run in idle.services
        )
        out.print(
            f"A month without a single request: {_eur(idle.total_usd, rate)} {currency} (modelled; {runs}, "
            f"the fixed lines and the reconcile remain{asleep})"
        )
    if view.budget_monthly is not None:
        out.print(_budget_verdict(env.name, view, rate, configured, idle, legacy))
    prices = report.prices
    fx = f"; 1 EUR = {prices.fx.usd_per_eur:g} USD (ECB, {prices.fx.date})" if currency == "EUR" else ""
    out.print(
        f"Prices: {prices.region} table {prices.version} (USD list prices, each with its source and date: "
        f"--json or docs/technical/cost.md){fx}"
        + (f"; overridden by {', '.join(prices.files[1:])}" if len(prices.files) > 1 else "")
    )
    for note in report.notes:
        out.print(f"  - {escape(note)}")


def _groups(report: CostReport) -> list[tuple[str, list[str]]]:
    """The report's line keys by group, in display order: the app's, each service's, the shared ones."""
    groups: dict[str, list[str]] = {}
    for key in report.row_keys():
        service = next(s.line(key).service for s in report.scenarios if s.has(key))
        groups.setdefault(service, []).append(key)
    return list(groups.items())


def _group_title(group: str) -> str:
    return {"": "app", SHARED: "services' shared"}.get(group, group)


def _group_basis(scenario: Scenario, group: str) -> str:
    if group == "":
        return f"{scenario.task_hours:,.1f} task-h, {scenario.wakes:,.0f} wakes"
    if group == SHARED:
        return "once per environment with internal services"
    run = next(run for run in scenario.services if run.name == group)
    return f"{run.task_hours:,.1f} task-h, {run.wakes:,.0f} wakes"


def _budget_verdict(
    env: str, view: CostView, rate: float, configured: Scenario, idle: Scenario | None, legacy: Scenario
) -> str:
    """The config's budget for this environment, kept or not: every part of it, with the figures."""
    currency = view.currency
    assert view.budget_monthly is not None
    parts = [f"at most {view.budget_monthly:g} {currency} a month"]
    figures = [configured.total_usd / rate]
    kept = configured.total_usd / rate <= view.budget_monthly
    if view.budget_idle_month is not None and idle is not None:
        parts.append(f"{view.budget_idle_month:g} {currency} without a request")
        figures.append(idle.total_usd / rate)
        kept = kept and idle.total_usd / rate <= view.budget_idle_month
    if view.compare:
        parts.append(f"below the {legacy.title}")
        figures.append(legacy.total_usd / rate)
        kept = kept and configured.total_usd < legacy.total_usd
    shown = " / ".join(f"{figure:,.2f}" for figure in figures)
    return (
        f"Budget of {env} (cost.budgets.{env}): {', '.join(parts)}: {'kept' if kept else 'NOT kept'} "
        f"(modelled {shown} {currency})"
    )


# Column headers of the side-by-side table: short enough for an 80-column terminal.
_SHORT_NAMES = {"load_balancer": "ALB", "cloudfront": "CloudFront", "http_api": "HTTP API"}


def render_comparison(comparison: FrontDoorComparison, out: Console, view: CostView | None = None) -> None:
    """The same environment behind each front door, side by side (with the EC2 instance if declared)."""
    view = view if view is not None else CostView()
    env = comparison.environment
    profile = comparison.profile
    rate = _rate(view, comparison.prices.fx.usd_per_eur)
    currency = view.currency
    doors = list(comparison.front_doors)
    scenarios = [comparison.front_doors[door].configured for door in doors]
    columns = [*scenarios, *([comparison.legacy_ec2] if view.compare else [])]
    out.print(
        f"[bold]Monthly cost of {env.name} behind each front door[/] ({env.region}, {env.cpu_units} CPU / "
        f"{env.memory_mib} MiB {env.architecture}{' Spot' if env.spot else ''}, "
        f"{scenarios[0].title}) - [bold]MODELLED[/] from list prices, not measured"
    )
    out.print(
        f"Configured front door: {env.front_door_label} "
        f'(front_door = "{env.front_door}" in the config); the other columns change only the front door'
    )
    out.print(
        f"Profile: {profile.active_hours_per_day:g} active h/day x {profile.days_per_month:g} days, "
        f"{profile.requests_per_active_hour:,.0f} requests per active hour, "
        f"{profile.active_periods_per_day} active period(s) a day"
        + (f" - {profile.description}" if profile.description else "")
    )
    table = Table(show_lines=False, pad_edge=False)
    # The labels may wrap; the figures and their short headers never do (80 columns fit).
    table.add_column(f"line ({currency}/month)")
    for door in doors:
        marker = " *" if door == env.front_door else ""
        header = f"{_SHORT_NAMES.get(door, door)}{marker}"
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    if view.compare:
        table.add_column(comparison.legacy_ec2.title, justify="right", no_wrap=True, min_width=10)
    keys: list[str] = []
    for scenario in columns:
        keys.extend(line.key for line in scenario.lines if line.key not in keys)
    for key in keys:
        first = next(scenario.line(key) for scenario in columns if scenario.has(key))
        table.add_row(first.label, *(_eur(s.line(key).usd, rate) if s.has(key) else "-" for s in columns))
    table.add_section()
    table.add_row("[bold]total[/]", *(f"[bold]{_eur(scenario.total_usd, rate)}[/]" for scenario in columns))
    table.add_row("  of which fixed", *(_eur(scenario.fixed_usd, rate) for scenario in columns))
    idle_months = [comparison.front_doors[door].idle_month for door in doors]
    if all(idle is not None for idle in idle_months):
        table.add_row(
            "month without a request",
            *(_eur(idle.total_usd, rate) for idle in idle_months if idle is not None),
            *([_eur(comparison.legacy_ec2_idle.total_usd, rate)] if view.compare else []),
        )
    out.print(table)
    for door in doors:
        marker = " (* configured)" if door == env.front_door else ""
        out.print(
            f'  - {_SHORT_NAMES.get(door, door)}: front_door = "{door}", {FRONT_DOOR_LABELS[door]}{marker}'
        )
    prices = comparison.prices
    fx = f"; 1 EUR = {prices.fx.usd_per_eur:g} USD (ECB, {prices.fx.date})" if currency == "EUR" else ""
    out.print(
        f"Prices: {prices.region} table {prices.version}{fx}. Line by line with each basis: warmkeeper cost "
        "without --compare-front-doors. Modelled, not measured; free tiers are not applied."
    )


def _round(value: float) -> float:
    return round(value, 6)


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    rate = scenario.usd_per_eur
    data: dict[str, Any] = {
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
                # Only an app with internal services says whose line it is ("" the app's, "*" shared).
                **({"service": line.service} if scenario.services else {}),
            }
            for line in scenario.lines
        ],
    }
    if scenario.services:
        # Subtotals: the app's own service, each internal service, the lines they share; they add up
        # to the scenario's total.
        data["app"] = _group_dict(scenario, "")
        data["services"] = {
            run.name: {
                "task_hours": _round(run.task_hours),
                "wakes": _round(run.wakes),
                **_group_dict(scenario, run.name),
            }
            for run in scenario.services
        }
        data["services_shared"] = _group_dict(scenario, SHARED)
    return data


def _group_dict(scenario: Scenario, group: str) -> dict[str, float]:
    rate = scenario.usd_per_eur
    return {
        "total_usd": _round(scenario.group_usd(group)),
        "total_eur": _round(scenario.group_usd(group) / rate),
        "fixed_usd": _round(scenario.group_fixed_usd(group)),
    }


def comparison_to_dict(comparison: FrontDoorComparison, view: CostView | None = None) -> dict[str, Any]:
    """``--compare-front-doors --json``: each front door's configured scenario, its idle month and the
    legacy instance; the full price table is in the plain ``--json``."""
    env = comparison.environment
    prices = comparison.prices
    front_doors: dict[str, Any] = {}
    for door, report in comparison.front_doors.items():
        idle = report.idle_month
        front_doors[door] = {
            "label": FRONT_DOOR_LABELS[door],
            "configured": door == env.front_door,
            "scenario": scenario_to_dict(report.configured),
            "idle_month_eur": _round(idle.total_eur) if idle is not None else None,
        }
    data: dict[str, Any] = {
        "modelled": True,
        "comparison": "front_doors",
        "environment": {"name": env.name, "region": env.region, "front_door": env.front_door},
        "profile_description": comparison.profile.description,
        "price_table": {
            "region": prices.region,
            "version": prices.version,
            "files": list(prices.files),
            "usd_per_eur": prices.fx.usd_per_eur,
        },
        "front_doors": front_doors,
    }
    if view is None or view.compare:
        data["legacy_ec2"] = scenario_to_dict(comparison.legacy_ec2)
        data["legacy_ec2_idle_month_eur"] = _round(comparison.legacy_ec2_idle.total_eur)
    return data


def report_to_dict(report: CostReport, view: CostView | None = None) -> dict[str, Any]:
    """The report as plain data (``--json``): the same figures as the table, unrounded to 6 places."""
    prices = report.prices
    env = report.environment
    data: dict[str, Any] = {
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
                if env.services or key not in SERVICE_PRICE_KEYS
            },
            "assumptions": {
                key: {"value": a.value, "unit": a.unit, "note": a.note}
                for key, a in prices.assumptions.items()
                if env.services or key not in SERVICE_ASSUMPTION_KEYS
            },
        },
        "scenarios": {
            scenario.key: scenario_to_dict(scenario)
            for scenario in report.scenarios
            if view is None or view.compare or scenario is not report.legacy_ec2
        },
        "dominant": [
            {"key": line.key, "label": line.label, "share": _round(share)}
            for line, share in report.configured.dominant()
        ],
        "notes": list(report.notes),
    }
    if env.services:
        data["environment"]["services"] = [asdict(service) for service in env.services]
        data["profile"]["services"] = {
            service.name: {**asdict(use), "assumed": assumed}
            for service in env.services
            for use, assumed in [service_use(report.profile, service.name)]
        }
    if report.idle_month is not None:
        # Scale to zero only (an always-on environment has no month without a task).
        data["idle_month"] = scenario_to_dict(report.idle_month)
    # The figures people look for first, at the top level: the month as configured, the month without
    # a request, and what the warm schedule adds to each (its line; 0 without a schedule).
    configured, idle = report.configured, report.idle_month
    data["total_eur"] = _round(configured.total_eur)
    data["idle_month_eur"] = _round(idle.total_eur) if idle is not None else None
    if env.services:
        # Each internal service's month, and its month without a request (asleep: storage, alarm).
        data["services"] = {
            run.name: {
                "total_eur": _round(configured.group_usd(run.name) / configured.usd_per_eur),
                "idle_month_eur": _round(idle.group_usd(run.name) / idle.usd_per_eur)
                if idle is not None
                else None,
                "task_hours": _round(run.task_hours),
                "wakes": _round(run.wakes),
            }
            for run in configured.services
        }
    data["warm_schedule"] = {
        "windows": [window.text for window in env.warm_windows],
        "eur": _round(_line_eur(configured, "warm_schedule")),
        "share": _round(_line_eur(configured, "warm_schedule") / configured.total_eur)
        if configured.total_eur
        else 0.0,
        "idle_month_eur": _round(_line_eur(idle, "warm_schedule")) if idle is not None else None,
    }
    return data


def _line_eur(scenario: Scenario, key: str) -> float:
    return scenario.line(key).usd / scenario.usd_per_eur if scenario.has(key) else 0.0
