"""Simulated Lambda: the real handler's engine runs on the simulated clock, and the HTTP API's
integration stops waiting for it at its timeout."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.sim.support import in_process, quiet_world
from warmkeeper_sim.events import scheduled_event
from warmkeeper_sim.identifiers import API_ID
from warmkeeper_sim.scenarios import http_api_config, run_world


def test_engine_reads_the_simulated_clock() -> None:
    world = quiet_world()
    world.kernel.run(90.0)
    world.kernel.spawn(lambda: world.function.invoke(scheduled_event(world.kernel)))
    run_world(world, 100.0)
    assert any('"time": "2026-01-05T09:01:' in line for line in world.log_lines)
    assert world.kernel.datetime() - world.kernel.epoch == timedelta(seconds=100)


def test_the_http_api_stops_waiting_for_the_lambda_at_its_30_s_integration_timeout() -> None:
    world = quiet_world(http_api_config())

    def slow_invoke(event: dict[str, Any]) -> tuple[str, Any]:
        assert event["version"] == "2.0" and event["requestContext"]["apiId"] == API_ID
        world.kernel.sleep(35.0)  # a Lambda still working past the integration timeout
        return "ok", {"statusCode": 200, "headers": {}, "body": "late"}

    world.function.invoke = slow_invoke  # type: ignore[method-assign]

    def run() -> tuple[int, str, float]:
        response = world.http_api.handle("GET", "/", {"accept": "text/html"})
        return response.status, response.source, world.kernel.now

    status, source, answered_at = in_process(world, run)
    assert (status, source) == (503, "apigw")
    assert 30.0 <= answered_at < 31.0
    assert world.notes["apigw_integration_timeout"] == 1
