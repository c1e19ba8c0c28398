"""`GET /_warmkeeper/twin` is read by tests and benchmarks: its JSON keys and nesting are pinned here."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from warmkeeper.local.details import EdgeDetails, EdgeRequests, FailureDetails, TaskDetails, TwinDetails
from warmkeeper.local.supervisor import TaskFailure


def test_the_document_keeps_its_keys_order_and_nesting() -> None:
    failure = TaskFailure(
        "t3", "api", "exited with code 3", [f"line {n}" for n in range(30)], datetime(2026, 1, 5, tzinfo=UTC)
    )
    details = TwinDetails(
        pid=42, url="http://localhost:8080", state="WARM", idle_seconds=60.0, min_warm_seconds=60.0,
        wakes=2, sleeps=1, held_requests=5, wake_seconds=[1.5, 2.0], tasks_started=3,
        attempts_this_wake=1, max_attempts=4, gave_up=False, problems=["p"],
        last_failure=FailureDetails.of(failure), revision=2, version="r2", deployment_in_progress=False,
        deploy={"id": "d2", "events": []},
        edge=EdgeDetails(
            pid=7, admin_socket="/tmp/x/admin.sock", routing="service", service_ports=[5001], switches=3,
            requests=EdgeRequests(service=10, waker=4, control=2, service_5xx=0),
        ),
        waker_port=5000,
        tasks=[
            TaskDetails(
                id="t4", phase="healthy", revision=2, version="r2", in_service=True,
                ports={"caddy": 5001, "api": 5002}, pids={"caddy": 100}, pgid=100, boot_seconds=1.25,
            )
        ],
    )  # fmt: skip
    document = details.to_json()
    assert json.loads(json.dumps(document)) == document  # plain JSON types only
    assert list(document) == [
        "pid", "url", "state", "idle_seconds", "min_warm_seconds", "wakes", "sleeps", "held_requests",
        "wake_seconds", "tasks_started", "attempts_this_wake", "max_attempts", "gave_up", "problems",
        "last_failure", "revision", "version", "deployment_in_progress", "deploy", "edge", "waker_port",
        "tasks", "internal_waker_port", "services",
    ]  # fmt: skip
    assert document["edge"] == {
        "pid": 7,
        "admin_socket": "/tmp/x/admin.sock",
        "routing": "service",
        "service_ports": [5001],
        "switches": 3,
        "requests": {"service": 10, "waker": 4, "control": 2, "service_5xx": 0},
    }
    assert document["tasks"] == [
        {
            "id": "t4",
            "phase": "healthy",
            "revision": 2,
            "version": "r2",
            "in_service": True,
            "ports": {"caddy": 5001, "api": 5002},
            "pids": {"caddy": 100},
            "pgid": 100,
            "boot_seconds": 1.25,
        }
    ]
    assert document["last_failure"] == {
        "task": "t3",
        "container": "api",
        "reason": "exited with code 3",
        "output_tail": [f"line {n}" for n in range(10, 30)],  # the last 20 lines
        "at": "2026-01-05T00:00:00+00:00",
    }
    assert document["deploy"] == {"id": "d2", "events": []}
