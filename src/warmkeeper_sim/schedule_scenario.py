"""A warm window on the simulated AWS: the first visitor of the day, and the window holding the service.

The world is the example's staging (either front door). A warm window opens ten minutes into the
simulation (the kernel's epoch is a Monday, 09:00 UTC, 10:00 in Paris). EventBridge Scheduler is
simulated as AWS documents it, on the pessimistic side where it documents no figure:

- the schedule fires the product's lead before the opening (``AWS_WAKE_LEAD_MINUTES``, what the
  stack's ``AWS::Scheduler::Schedule`` uses) and delivers the product's own keep-warm event
  (:func:`warmkeeper.core.schedule.warm_window_event`, the stack's target input);
- delivery is late by up to a minute (assumed: Scheduler publishes no latency) and, being at least
  once, sometimes twice (assumed: one delivery in four is duplicated, up to a minute later);
- the Lambda is invoked asynchronously (Lambda's event queue and its delay, as EventBridge's rules).

Then the first visitor of the day opens the app in a browser a few seconds after the opening; nobody
comes for twenty minutes (four idle alarms' worth), a second visitor comes, and nobody after. Every
figure is **simulated**. Returns plain numbers for tests/sim and a benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from warmkeeper.core.schedule import AWS_WAKE_LEAD_MINUTES, parse_window, warm_window_event
from warmkeeper_sim.scenarios import Run, http_api_config, run_world
from warmkeeper_sim.traffic import BROWSER, Traffic, is_waiting_page
from warmkeeper_sim.world import SimConfig, World

OPENING_SECONDS = 600.0  # the window opens ten minutes into the run
WINDOW_MINUTES = 30
SCHEDULER_DELIVERY_DELAY = (0.0, 60.0)  # assumed: up to a minute late, no published figure
DUPLICATE_SHARE = 0.25  # assumed: at-least-once delivery, one in four delivered twice
SECOND_VISIT_SECONDS = 20 * 60.0  # after the opening: past several idle times without a request


@dataclass
class Visit:
    at: float  # seconds into the run
    status: int
    source: str
    waiting_page: bool

    @property
    def app_at_once(self) -> bool:
        return self.status == 200 and self.source == "app" and not self.waiting_page


@dataclass
class WindowRun:
    run: Run
    window: str
    opening: float
    closing: float
    scheduled_at: float  # when the schedule was due (lead before the opening)
    deliveries: list[float]
    first_visit: Visit | None
    second_visit: Visit | None
    woke_at: float | None  # the wake's UpdateService (desired 1)
    healthy_at: float | None  # first healthy target the front door could reach
    slept_at: float | None  # the first UpdateService to 0 after the opening

    def summary(self) -> dict[str, Any]:
        def visit(v: Visit | None) -> dict[str, Any] | None:
            return (
                None
                if v is None
                else {"status": v.status, "source": v.source, "waiting_page": v.waiting_page}
            )

        return {
            "simulated": True,
            "seed": self.run.world.config.seed,
            "front_door": self.run.world.config.front_door,
            "window": self.window,
            "lead_minutes": round((self.opening - self.scheduled_at) / 60.0),
            "deliveries_after_due_seconds": [round(t - self.scheduled_at, 3) for t in self.deliveries],
            "healthy_before_opening_seconds": None
            if self.healthy_at is None
            else round(self.opening - self.healthy_at, 3),
            "first_visit": visit(self.first_visit),
            "second_visit": visit(self.second_visit),
            "slept_after_closing_seconds": None
            if self.slept_at is None
            else round(self.slept_at - self.closing, 3),
            "update_service_calls": len(self.run.world.ecs.update_service_calls),
        }


def window_text(world: World, opening: float, minutes: int = WINDOW_MINUTES) -> str:
    """The window (Europe/Paris) that opens ``opening`` seconds into this world's run."""
    start = world.at(opening).astimezone(parse_window("Mon 00:00-00:01 Europe/Paris").tz)
    end = start + timedelta(minutes=minutes)
    day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[start.weekday()]
    return f"{day} {start:%H:%M}-{end:%H:%M} Europe/Paris"


def warm_window_morning(
    seed: int = 1,
    config: SimConfig | None = None,
    until: float = 4200.0,
    lead_minutes: int = AWS_WAKE_LEAD_MINUTES,
    scheduled: bool = True,
    spot_interruption_at: float | None = None,
) -> WindowRun:
    """The scenario described in the module's docstring, with ``seed`` (``lead_minutes``: the stack's;
    ``scheduled`` False: no schedule at all, the same visitors; ``spot_interruption_at``: seconds after
    the opening at which Fargate Spot takes the running task back)."""
    world = World(replace(config or SimConfig(), seed=seed))
    traffic = Traffic(world)
    rng = world.kernel.random
    text = window_text(world, OPENING_SECONDS)
    window = parse_window(text)
    occurrence_start = world.at(OPENING_SECONDS)
    assert window.opening_on(occurrence_start.astimezone(window.tz).date())[0] == occurrence_start
    event = warm_window_event(window, lead_minutes)
    due = OPENING_SECONDS - lead_minutes * 60.0
    deliveries = [due + rng.uniform(*SCHEDULER_DELIVERY_DELAY)]
    if rng.random() < DUPLICATE_SHARE:
        deliveries.append(deliveries[0] + rng.uniform(*SCHEDULER_DELIVERY_DELAY))
    for at in deliveries if scheduled else []:
        world.kernel.at(at, lambda: world.function.invoke_async(dict(event)))

    visits: dict[str, Visit] = {}

    def visitor(name: str) -> None:
        response = traffic.send("/", BROWSER, "navigation")
        visits[name] = Visit(world.kernel.now, response.status, response.source, is_waiting_page(response))
        if not (response.status == 200 and response.source == "app"):
            traffic.browser()  # a person then waits and reloads as the page asks

    world.kernel.spawn(lambda: visitor("first"), delay=OPENING_SECONDS + rng.uniform(1.0, 5.0), name="first")
    world.kernel.spawn(lambda: visitor("second"), delay=OPENING_SECONDS + SECOND_VISIT_SECONDS, name="second")
    if spot_interruption_at is not None:

        def interrupt() -> None:
            running = [task for task in world.ecs.live() if task.last_status == "RUNNING"]
            if running:
                world.ecs.interrupt_spot(running[0])

        world.kernel.at(OPENING_SECONDS + spot_interruption_at, interrupt)
    output = run_world(world, until)
    calls = world.ecs.update_service_calls
    woke = next((t for t, desired in calls if desired > 0), None)
    slept = next((t for t, desired in calls if desired == 0 and t > OPENING_SECONDS), None)
    healthy = world.front.healthy_since
    return WindowRun(
        run=Run(world, traffic, output),
        window=text,
        opening=OPENING_SECONDS,
        closing=OPENING_SECONDS + WINDOW_MINUTES * 60.0,
        scheduled_at=due,
        deliveries=deliveries,
        first_visit=visits.get("first"),
        second_visit=visits.get("second"),
        woke_at=woke,
        healthy_at=healthy[0] if healthy else None,
        slept_at=slept,
    )


def warm_window_seeds(
    seeds: range, front_door: str | None = None, lead_minutes: int = AWS_WAKE_LEAD_MINUTES
) -> list[WindowRun]:
    """The scenario over many seeds, behind the example's front door or ``front_door``."""
    config = (
        http_api_config() if front_door in (None, "http_api") else replace(SimConfig(), front_door=front_door)
    )
    return [warm_window_morning(seed, config, lead_minutes=lead_minutes) for seed in seeds]


def warm_window_summary(seeds: range, front_door: str | None = None) -> dict[str, Any]:
    """The scenario over ``seeds`` as one object of **simulated** figures (for a benchmark)."""
    runs = warm_window_seeds(seeds, front_door)
    margins = [r.opening - r.healthy_at for r in runs if r.healthy_at is not None]
    after = [r.slept_at - r.closing for r in runs if r.slept_at is not None]
    return {
        "simulated": True,
        "scenario": "warm_window_morning",
        "front_door": runs[0].run.world.config.front_door if runs else front_door,
        "seeds": len(runs),
        "lead_minutes": AWS_WAKE_LEAD_MINUTES,
        "first_visit_app_at_once": sum(1 for r in runs if r.first_visit and r.first_visit.app_at_once),
        "second_visit_app_at_once": sum(1 for r in runs if r.second_visit and r.second_visit.app_at_once),
        "duplicated_deliveries": sum(1 for r in runs if len(r.deliveries) > 1),
        "healthy_before_opening_seconds_min": round(min(margins), 3) if margins else None,
        "slept_after_closing_seconds_max": round(max(after), 3) if after else None,
        "failed_requests": sum(r.run.traffic.failed for r in runs),
    }
