"""Scenarios on the simulated AWS, each returning plain numbers (all **simulated**).

Used by tests/sim (assertions) and bench/bench_sim.py (figures for docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import io
import logging
import statistics
from dataclasses import dataclass, field, replace
from typing import Any

from warmkeeper.aws.logs import CHANNEL, JsonFormatter
from warmkeeper.config import DEFAULT_WAKER_RESERVED_CONCURRENCY
from warmkeeper.core.front_doors import HTTP_API
from warmkeeper_sim.figures import BUCKETS
from warmkeeper_sim.traffic import Traffic
from warmkeeper_sim.world import SimConfig, World

# The stack's default reservation, sized from this simulation once held requests share a snapshot:
# the 1000-visitor herd peaks at 48 concurrent executions (seed 1, docs/benchmarks.md SIMULATED);
# the config's default reservation (about twice that) is what the herd scenario asserts against
# (docs/technical/aws-model.md).
TARGET_RESERVED_CONCURRENCY = DEFAULT_WAKER_RESERVED_CONCURRENCY


@dataclass
class Run:
    """A finished simulation and what it measured."""

    world: World
    traffic: Traffic
    output: list[str] = field(default_factory=list)

    @property
    def wakes(self) -> int:
        return sum(1 for _, desired in self.world.ecs.update_service_calls if desired > 0)

    @property
    def sleeps(self) -> int:
        return sum(1 for _, desired in self.world.ecs.update_service_calls if desired == 0)

    def error_count(self, code: str) -> int:
        return sum(codes.get(code, 0) for codes in self.world.ledger.errors.values())

    @property
    def cold_start_metrics(self) -> int:
        put = sum(1 for _, name, _ in self.world.cloudwatch.custom if name == "ColdStartSeconds")
        emf = sum(
            1
            for line in self.output + self.world.log_lines
            if '"_aws"' in line and "ColdStartSeconds" in line
        )
        return put + emf

    @property
    def catch_all_answers(self) -> int:
        """The handler's catch-all 503 ("could not check the service"), as clients received it."""
        return self.traffic.catch_all

    def first_200_after_healthy(self) -> float | None:
        healthy = self.world.front.healthy_since
        if not healthy:
            return None
        after = [t for t in self.traffic.app_200_times if t >= healthy[0]]
        return round(min(after) - healthy[0], 3) if after else None

    def summary(self) -> dict[str, Any]:
        ledger = self.world.ledger
        done = sorted(self.traffic.client_done)
        quotas = {name: bucket.burst for name, bucket in BUCKETS.items()}
        return {
            "simulated": True,
            "seed": self.world.config.seed,
            "update_service_calls": len(self.world.ecs.update_service_calls),
            "wakes": self.wakes,
            "sleeps": self.sleeps,
            "requests": self.traffic.requests,
            "failed_requests": self.traffic.failed,
            "failures": dict(sorted(self.traffic.failures.items())),
            "clients_gave_up": self.traffic.gave_up,
            "lambda_invocations": self.world.function.invocations,
            "lambda_throttled": self.world.function.throttled,
            "lambda_timeouts": self.world.function.timeouts,
            "peak_lambda_concurrency": self.world.function.peak,
            "lambda_concurrency_limit": self.world.function.limit,
            "max_api_calls_per_second": ledger.max_per_second(),
            "max_calls_per_second_per_quota": ledger.max_per_bucket_second(),
            "quota_burst": quotas,
            "api_throttled": dict(sorted(ledger.throttled.items())),
            "api_retries_given_up": dict(sorted(ledger.given_up.items())),
            "too_many_updates": self.error_count("TooManyUpdates"),
            "waker_catch_all_503": self.catch_all_answers,
            "cold_start_metric_published": self.cold_start_metrics,
            "front_door": self.world.config.front_door,
            "first_healthy_at_seconds": round(self.world.front.healthy_since[0], 3)
            if self.world.front.healthy_since
            else None,
            "seconds_to_first_200_after_healthy": self.first_200_after_healthy(),
            "client_seconds_to_200_p50": round(statistics.median(done), 3) if done else None,
            "client_seconds_to_200_max": round(done[-1], 3) if done else None,
            "load_balancer_answers": {
                k: v for k, v in sorted(self.world.notes.items()) if k.startswith(("alb_", "apigw_"))
            },
        }


class _Collect(logging.Handler):
    """Keeps the Lambda's log channel (decisions, errors, EMF metric lines) as JSON lines."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.INFO)
        self.lines = lines
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def run_world(world: World, until: float) -> list[str]:
    """Run the kernel to ``until`` seconds. What the handler logs (its one channel: decisions,
    errors, embedded-metric-format lines) goes to ``world.log_lines``, not to the terminal; anything
    printed is returned."""
    buffer = io.StringIO()
    channel = logging.getLogger(CHANNEL)
    saved = (list(channel.handlers), channel.propagate, channel.level)
    channel.handlers = [_Collect(world.log_lines)]
    channel.propagate = False
    channel.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stdout(buffer):
            world.kernel.run(until)
    finally:
        channel.handlers, channel.propagate = saved[0], saved[1]
        channel.setLevel(saved[2])
    return buffer.getvalue().splitlines()


def herd(
    clients: int = 1000,
    *,
    spread_seconds: float = 10.0,
    seed: int = 1,
    config: SimConfig | None = None,
    until: float = 330.0,
    throttle_bursts: list[tuple[float, float, str]] | None = None,
) -> Run:
    """``clients`` cold visitors within ``spread_seconds``: 70 % browsers, 1 % bots, the rest API."""
    world = World(replace(config or SimConfig(), seed=seed))
    world.throttler.bursts.extend(throttle_bursts or [])
    traffic = Traffic(world)
    rng = world.kernel.random
    bots = max(1, clients // 100)
    browsers = int(clients * 0.7)
    kinds = ["bot"] * bots + ["browser"] * browsers + ["api"] * (clients - bots - browsers)
    rng.shuffle(kinds)
    for kind in kinds:
        start = rng.uniform(0.0, spread_seconds)
        target = {"bot": traffic.bot, "browser": traffic.browser, "api": traffic.api_client}[kind]
        world.kernel.spawn(target, delay=start, name=kind)
    output = run_world(world, until)
    return Run(world, traffic, output)


def warm_world(seed: int, config: SimConfig | None = None) -> tuple[World, Traffic, list[str]]:
    """A world woken by one API client and left warm (routed to the service) at about t = 120 s."""
    world = World(replace(config or SimConfig(), seed=seed))
    traffic = Traffic(world)
    world.kernel.spawn(traffic.api_client, name="first visitor")
    output = run_world(world, 120.0)
    return world, traffic, output


def steady_api_traffic(world: World, traffic: Traffic, start: float, end: float, per_second: float) -> None:
    rng = world.kernel.random
    t = start
    while True:
        t += rng.expovariate(per_second)
        if t >= end:
            return
        world.kernel.spawn(traffic.api_client, delay=t - world.kernel.now, name="api")


@dataclass
class SpotResult:
    run: Run
    interrupted_at: float
    # Requests the front door answered itself after the notice (ALB's 503 and 502s, the HTTP API's 503
    # and 500s): the world's notes prefixed alb_ and apigw_.
    answered_by_front_door: int
    # From the notice until no warm route is live any more (the ALB's warm rule or the HTTP API's warm
    # routes gone from what the data plane sees): traffic is back on the waker. None: never.
    waker_back_after_seconds: float | None
    # From the notice until ECS reports the interrupted task STOPPED. None: not within the run.
    stopped_after_seconds: float | None


def _front_door_answers(world: World) -> int:
    return sum(v for k, v in world.notes.items() if k.startswith(("alb_", "apigw_")))


def spot_interruption(seed: int = 1, config: SimConfig | None = None) -> SpotResult:
    """The only task is a Fargate Spot task and is interrupted while warm, with API traffic (2/s),
    behind either front door (``config.front_door``)."""
    world, traffic, output = warm_world(seed, config)
    steady_api_traffic(world, traffic, world.kernel.now, 400.0, per_second=2.0)
    output += run_world(world, 150.0)
    before = _front_door_answers(world)
    task = next(t for t in world.ecs.live() if t.last_status == "RUNNING")
    interrupted = world.kernel.now
    world.ecs.interrupt_spot(task)
    output += run_world(world, 400.0)
    waker_back = world.front.waker_back_at(interrupted)
    stopped = next(
        (when for when, ip, status in world.task_events if ip == task.ip and status.startswith("STOPPED/")),
        None,
    )
    return SpotResult(
        Run(world, traffic, output),
        interrupted,
        _front_door_answers(world) - before,
        None if waker_back is None else round(waker_back - interrupted, 3),
        None if stopped is None else round(stopped - interrupted, 3),
    )


def idle_sleep(
    seed: int = 1,
    *,
    lose_alarm: bool = False,
    duplicate_alarm: bool = False,
    deploy_at: float | None = None,
    until: float = 900.0,
    config: SimConfig | None = None,
) -> Run:
    """Wake with one visitor, then nothing: the idle alarm (lost, duplicated, or during a deploy)."""
    world, traffic, output = warm_world(seed, config)
    if lose_alarm:
        world.events.lose["CloudWatch Alarm State Change"] = 10
    if duplicate_alarm:
        world.events.duplicate["CloudWatch Alarm State Change"] = 10
    if deploy_at is not None:
        world.kernel.at(deploy_at - world.kernel.now, world.deploy)
    output += run_world(world, until)
    return Run(world, traffic, output)


def alarm_time(run: Run, state: str = "ALARM") -> float | None:
    return next((t for t, s in run.world.cloudwatch.alarm_changes if s == state), None)


def target_group_replaced(seed: int = 1) -> tuple[Run, float]:
    world, traffic, output = warm_world(seed)
    steady_api_traffic(world, traffic, world.kernel.now, 600.0, per_second=1.0)
    output += run_world(world, 150.0)
    replaced = world.kernel.now
    world.replace_service_target_group()
    output += run_world(world, 600.0)
    return Run(world, traffic, output), replaced


def http_api_config(config: SimConfig | None = None, drain_seconds: float | None = None) -> SimConfig:
    """The same environment behind the HTTP API front door (``drain_seconds`` None: config default)."""
    return replace(config or SimConfig(), front_door=HTTP_API, drain_seconds=drain_seconds)


@dataclass
class DeployResult:
    run: Run
    deployed_at: float
    answered_by_front_door: int  # the HTTP API's own answers (503) after the deploy started


def http_api_rolling_deploy(seed: int = 1, *, drain_seconds: float | None = None) -> DeployResult:
    """Warm behind the HTTP API, steady API traffic (2/s), then a release rolled out by ECS."""
    world, traffic, output = warm_world(seed, http_api_config(drain_seconds=drain_seconds))
    steady_api_traffic(world, traffic, world.kernel.now, 420.0, per_second=2.0)
    output += run_world(world, 150.0)
    before = sum(v for k, v in world.notes.items() if k.startswith("apigw_"))
    deployed = world.kernel.now
    world.deploy()
    output += run_world(world, 420.0)
    after = sum(v for k, v in world.notes.items() if k.startswith("apigw_"))
    return DeployResult(Run(world, traffic, output), deployed, after - before)


# --- the benchmark's scenarios (bench/bench_sim.py --scenario): one figure set per seed --------------------

SCENARIOS = ("herd", "deploy", "idle-edge", "wake-sleep-wake", "status-flood", "api-flood")
STATUS_FLOOD_PER_SECOND = 200.0
FLOOD_SECONDS = 60.0
VISITORS_PER_SECOND = 5.0
DEPLOY_PER_SECOND = 50.0
IDLE_EDGE_HOURS = 2.0
# The herd (1,000 clients in 10 s) is a production-sized peak: 100 new visitors a second. An
# environment that expects such a peak sizes every HTTP API throttle for it (the app's routes, the
# cold `$default` and `/_warmkeeper/*`): the rate at the peak and a burst of ten seconds of it. The
# burst is what the wake needs: the herd's clients wait together, and once the warm routes are live
# their reloads and status polls arrive within a few seconds (a burst of twice the rate gave 2-92
# 429s on 5 of 20 runs). The deploy's 50 requests/s runs under the same sizing.
# The example's staging keeps its own, lower limits: under the same herd its 429s are the throttle at
# work (bench_sim --throttles example reports them).
PEAK_PER_SECOND = 100
PEAK_BURST_FACTOR = 10
SIZED_FOR_PEAK = ("herd", "deploy")
THROTTLES = ("sized", "example", "as-given")
# Read operations of the AWS APIs warmkeeper calls (what a status flood multiplies).
READ_OPERATIONS = frozenset(
    {
        "DescribeServices",
        "DescribeTasks",
        "ListTasks",
        "DescribeTargetHealth",
        "DescribeRules",
        "DescribeTags",
        "GetParameter",
        "GetParameters",
        "GetMetricData",
        "GetRoutes",
        "GetVpcLink",
        "DiscoverInstances",
        "GetSecretValue",
    }
)


@dataclass
class ScenarioRun:
    """One scenario on one seed: the run, the visitors' traffic and an attacker's (floods)."""

    name: str
    run: Run
    started: float = 0.0  # when the scenario's traffic began (after any warm-up)
    attacker: Traffic | None = None

    def sleeps_while_in_use(self) -> int:
        """Sleeps less than idle_minutes after a request the service answered."""
        world = self.run.world
        idle = world.config.policy.idle_minutes * 60.0
        served = sorted(self.run.traffic.served_times)
        count = 0
        for when, desired in world.ecs.update_service_calls:
            if desired != 0:
                continue
            before = [t for t in served if t <= when]
            if before and when - before[-1] < idle:
                count += 1
        return count

    def seconds_from_last_request_to_sleep(self) -> float | None:
        world = self.run.world
        served = self.run.traffic.served_times
        if not served:
            return None
        last = max(served)
        sleeps = [when for when, desired in world.ecs.update_service_calls if desired == 0 and when >= last]
        return round(sleeps[0] - last, 3) if sleeps else None

    def reads_per_second(self) -> int:
        """The most AWS read calls in one second of the scenario's traffic, every API together."""
        per_second: dict[int, int] = {}
        for operation, seconds in self.run.world.ledger.calls.items():
            if operation not in READ_OPERATIONS:
                continue
            for second, n in seconds.items():
                if second >= self.started:
                    per_second[second] = per_second.get(second, 0) + n
        return max(per_second.values(), default=0)

    def figures(self) -> dict[str, Any]:
        world = self.run.world
        traffic = self.run.traffic
        ledger = world.ledger
        done = sorted(traffic.client_done)
        result: dict[str, Any] = {
            "seed": world.config.seed,
            "failed_requests": traffic.failed,
            "failures": dict(sorted(traffic.failures.items())),
            "front_door_own_answers": traffic.front_door_own,
            "update_service_calls": len(world.ecs.update_service_calls),
            "wakes": self.run.wakes,
            "sleeps": self.run.sleeps,
            "sleeps_while_in_use": self.sleeps_while_in_use(),
            "seconds_from_last_request_to_sleep": self.seconds_from_last_request_to_sleep(),
            "client_seconds_to_200_p50": round(statistics.median(done), 3) if done else None,
            "client_seconds_to_200_max": round(done[-1], 3) if done else None,
            "clients_gave_up": traffic.gave_up,
            "throttled_calls": sum(ledger.throttled.values()),
            "throttled_calls_given_up": sum(ledger.given_up.values()),
            "peak_lambda_concurrency": world.function.peak,
            "lambda_concurrency_limit": world.function.limit,
            "cold_start_metric_published": self.run.cold_start_metrics,
            "waker_catch_all_503": traffic.catch_all,
            "max_aws_reads_per_second": self.reads_per_second(),
            "requests": traffic.requests,
            # The tasks' activity beacon: reports sent to the function URL, and those not taken.
            "beacon_reports": len(world.beacon_reports),
            "beacon_reports_failed": world.beacon_failures,
        }
        if self.attacker is not None:
            result["attacker_requests"] = self.attacker.requests
            result["attacker_answers"] = dict(sorted(self.attacker.answers.items()))
        return result


def model(config: SimConfig) -> dict[str, list[float]]:
    """Every figure a run used: name -> [low, high] (a fixed value twice), buckets as burst/refill."""
    from warmkeeper_sim.figures import FIGURES

    figures = {name: [f.low, f.low if f.high is None else f.high] for name, f in FIGURES.items()}
    figures["fargate.image_mb"] = [config.image_mb, config.image_mb]
    for name, (rate, burst) in config.throttles().items():
        figures[f"apigw.{name}_rate_limit"] = [float(rate)] * 2
        figures[f"apigw.{name}_burst_limit"] = [float(burst)] * 2
    figures["lambda.concurrency_limit"] = [
        float(
            config.reserved_concurrency
            if config.reserved_concurrency is not None
            else config.account_concurrency
        )
    ] * 2
    figures["cloudmap.initial_health_healthy"] = [float(config.initial_health == "healthy")] * 2
    # 1: API Gateway reads the front service only the waker registers in (the stack's); 0: ECS's own.
    figures["cloudmap.front_service"] = [float(config.front_service)] * 2
    figures["ecs.entry_waits_for_healthy"] = [float(config.entry_waits_for_healthy)] * 2
    figures["ecs.entry_starts_with"] = [float(config.entry_starts_with)] * 2
    figures["vpclink.idle_days_before_the_run"] = [config.vpc_link_idle_days] * 2
    for name, bucket in BUCKETS.items():
        figures[f"{name}.burst"] = [bucket.burst * config.api_quota_multiplier] * 2
        figures[f"{name}.refill_per_second"] = [bucket.refill * config.api_quota_multiplier] * 2
    return figures


def _visitors(world: World, traffic: Traffic, start: float, end: float, per_second: float) -> None:
    """Visitors of the app: browsers and API clients alike (half each), arriving at random."""
    rng = world.kernel.random
    t = start
    while True:
        t += rng.expovariate(per_second)
        if t >= end:
            return
        target = traffic.browser if rng.random() < 0.5 else traffic.api_client
        world.kernel.spawn(target, delay=t - world.kernel.now, name="visitor")


def _flood(
    world: World, attacker: Traffic, path: str, start: float, seconds: float, per_second: float
) -> None:
    """One client sending ``per_second`` requests a second, evenly, whatever it gets back."""
    from warmkeeper_sim.traffic import API, STATUS_POLL

    headers = STATUS_POLL if path.startswith("/_warmkeeper/") else API
    kind = "status" if path.startswith("/_warmkeeper/") else "api"
    count = int(seconds * per_second)
    for i in range(count):
        when = start + i / per_second
        world.kernel.spawn(
            lambda: attacker.once(path, headers, kind), delay=when - world.kernel.now, name="flood"
        )


def reserved_config(config: SimConfig) -> SimConfig:
    """The stack's default reservation (the waker's reserved concurrency) unless the caller set one."""
    if config.reserved_concurrency is None:
        return replace(config, reserved_concurrency=TARGET_RESERVED_CONCURRENCY)
    return config


def sized_for_peak(config: SimConfig, per_second: int = PEAK_PER_SECOND) -> SimConfig:
    """``config`` with every HTTP API throttle set for a peak of ``per_second`` requests a second:
    what an environment expecting that peak sets (api_, waker_ and endpoint_rate_limit = the peak,
    the *_burst_limit keys = ten seconds of it)."""
    burst = per_second * PEAK_BURST_FACTOR
    return replace(
        config,
        api_rate_limit=per_second,
        api_burst_limit=burst,
        waker_rate_limit=per_second,
        waker_burst_limit=burst,
        endpoint_rate_limit=per_second,
        endpoint_burst_limit=burst,
    )


def scenario_config(name: str, config: SimConfig, throttles: str = "sized") -> SimConfig:
    """The config a scenario runs with: ``sized`` sets the throttles of the herd and the deploy for
    their peak (:func:`sized_for_peak`), ``example`` keeps the example staging's, ``as-given`` keeps
    ``config``'s."""
    if throttles not in THROTTLES:
        raise ValueError(f"throttles: {throttles!r} is not one of {', '.join(THROTTLES)}")
    if throttles == "sized" and name in SIZED_FOR_PEAK:
        return sized_for_peak(config)
    if throttles == "example":
        from warmkeeper_sim.world import example_route_throttles

        example = example_route_throttles()
        return replace(
            config,
            api_rate_limit=example["stage"][0],
            api_burst_limit=example["stage"][1],
            waker_rate_limit=example["waker"][0],
            waker_burst_limit=example["waker"][1],
            endpoint_rate_limit=example["endpoint"][0],
            endpoint_burst_limit=example["endpoint"][1],
        )
    return config


def run_scenario(
    name: str, seed: int, config: SimConfig | None = None, throttles: str = "sized"
) -> ScenarioRun:
    """One of :data:`SCENARIOS` on one seed (``config``: the front door, the first-health variant...;
    ``throttles``: see :func:`scenario_config`)."""
    config = reserved_config(scenario_config(name, replace(config or SimConfig(), seed=seed), throttles))
    if name == "herd":
        return ScenarioRun(name, herd(1000, seed=seed, config=config))
    if name == "deploy":
        world, traffic, output = warm_world(seed, config)
        start = world.kernel.now
        _visitors(world, traffic, start, 450.0, DEPLOY_PER_SECOND)
        world.kernel.at(150.0 - world.kernel.now, world.deploy)
        output += run_world(world, 480.0)
        return ScenarioRun(name, Run(world, traffic, output), started=start)
    if name == "idle-edge":
        world = World(config)
        traffic = Traffic(world)
        every = (config.policy.idle_minutes - 1) * 60.0
        end = IDLE_EDGE_HOURS * 3600.0
        t = 0.0
        while t < end:
            world.kernel.spawn(traffic.api_client, delay=t, name="edge visitor")
            t += every
        output = run_world(world, end + (config.policy.idle_minutes + 10) * 60.0)
        return ScenarioRun(name, Run(world, traffic, output))
    if name == "wake-sleep-wake":
        world = World(config)
        traffic = Traffic(world)
        world.kernel.spawn(traffic.browser, name="first visitor")
        output = run_world(world, 60.0)
        # Idle until asleep (the sleep asked and the service down to zero), then a visitor again.
        limit = 3600.0
        while world.kernel.now < limit and not (
            any(d == 0 for _, d in world.ecs.update_service_calls) and not world.ecs.live()
        ):
            output += run_world(world, world.kernel.now + 30.0)
        world.kernel.spawn(traffic.browser, delay=60.0, name="second visitor")
        output += run_world(world, world.kernel.now + 60.0 + 400.0)
        return ScenarioRun(name, Run(world, traffic, output))
    if name in ("status-flood", "api-flood"):
        world, traffic, output = warm_world(seed, config)
        attacker = Traffic(world)
        start = world.kernel.now
        path = "/_warmkeeper/status" if name == "status-flood" else "/api/places"
        _flood(world, attacker, path, start + 5.0, FLOOD_SECONDS, STATUS_FLOOD_PER_SECOND)
        _visitors(world, traffic, start, start + FLOOD_SECONDS + 10.0, VISITORS_PER_SECOND)
        output += run_world(world, start + FLOOD_SECONDS + 60.0)
        return ScenarioRun(name, Run(world, traffic, output), started=start, attacker=attacker)
    raise ValueError(f"unknown scenario {name!r}: one of {', '.join(SCENARIOS)}")
