"""A deploy to a sleeping environment runs the new revision once (moto): a broken one fails the deploy and
the service goes back to the revision it had; a good one passes and the environment sleeps again.

moto runs the calls and keeps the state (RunTask with the service's launch type, StopTask,
UpdateService back to the previous task definition). What ECS decides about a running task (its health
verdict, or that it stopped because its container exited) moto does not model: it is written into the
DescribeTasks answers by `ecs_says`, as the deploy harness writes the service's deployments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from moto.moto_api import state_manager

from tests.deploy.conftest import CLUSTER, SERVICE, Cloud, Harness
from tests.deploy.test_release import start_update
from warmkeeper.deploy.follow import DeployOutcome
from warmkeeper.deploy.trial_run import STARTED_BY

TaskVerdict = Callable[[int], dict[str, Any]]


@pytest.fixture
def sleeping(cold: Harness) -> Iterator[Harness]:
    # As the real stack's service: Fargate. moto's tasks then stay as ECS reports them here.
    cold.cloud.service_model.launch_type = "FARGATE"
    state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**6})
    try:
        yield cold
    finally:
        state_manager.unset_transition(model_name="ecs::task")


def new_revision_then_done(harness: Harness, *, health_checks: bool = True) -> dict[str, Any]:
    """`cdk deploy` of v2: a new revision (its containers with health commands, as the example's), the
    service pointed at it, the stack done."""
    state: dict[str, Any] = {}

    def new_revision(cloud: Cloud) -> None:
        start_update(cloud, "v2", state)
        if health_checks:
            old = cloud.ecs.describe_task_definition(taskDefinition=state["td"])["taskDefinition"]
            checked = [
                {**c, "healthCheck": {"command": ["CMD", "true"], "startPeriod": 10}}
                for c in old["containerDefinitions"]
            ]
            state["td"] = cloud.ecs.register_task_definition(
                family=old["family"], containerDefinitions=checked
            )["taskDefinition"]["taskDefinitionArn"]
            cloud.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=state["td"])

    def stack_done(cloud: Cloud) -> None:
        cloud.set_stack("UPDATE_COMPLETE")

    harness.cdk.steps = [new_revision, stack_done]
    return state


def ecs_says(harness: Harness, verdict: TaskVerdict) -> list[str]:
    """Rewrite each DescribeTasks answer with what ECS would say at that poll; returns the calls made."""
    calls: list[str] = []
    events = harness.deployer.context.clients.ecs.meta.events
    events.register("before-call.ecs", lambda model, **_: calls.append(model.name))
    polls = {"n": 0}

    def rewrite(parsed: dict[str, Any], **_: Any) -> None:
        polls["n"] += 1
        for task in parsed.get("tasks", []):
            task.update(verdict(polls["n"]))

    events.register("after-call.ecs.DescribeTasks", rewrite)
    return calls


def trial_revision(state: dict[str, Any]) -> str:
    return str(state["td"]).rsplit("/", 1)[-1]


def run_tasks(harness: Harness) -> list[dict[str, Any]]:
    return [
        task
        for task in harness.deployer.context.clients.ecs.list_tasks(cluster=CLUSTER, desiredStatus="STOPPED")[
            "taskArns"
        ]
        for task in harness.deployer.context.clients.ecs.describe_tasks(cluster=CLUSTER, tasks=[task])[
            "tasks"
        ]
    ]


def test_a_broken_revision_fails_the_deploy_and_the_service_keeps_the_previous_one(sleeping: Harness) -> None:
    state = new_revision_then_done(sleeping)
    previous = sleeping.cloud.service()["taskDefinition"]

    def exits(poll: int) -> dict[str, Any]:
        if poll < 3:
            return {"lastStatus": "PENDING", "healthStatus": "UNKNOWN"}
        return {
            "lastStatus": "STOPPED",
            "stoppedReason": "Essential container in task exited",
            "containers": [{"name": "api", "exitCode": 1, "reason": "OutOfMemoryError: Container killed"}],
        }

    calls = ecs_says(sleeping, exits)

    result = sleeping.deployer.deploy("v2", timeout_seconds=600)

    assert (result.exit_code, result.outcome) == (1, DeployOutcome.FAILED), sleeping.output
    assert "stopped before it was healthy: Essential container in task exited" in result.message
    assert "api: exit code 1, OutOfMemoryError: Container killed" in result.message
    assert "the service is back on cityguided-staging:1" in result.message
    assert trial_revision(state) == "cityguided-staging:3"
    service = sleeping.cloud.service()
    assert service["taskDefinition"] == previous and service["desiredCount"] == 0
    assert calls.count("RunTask") == 1 and calls.count("StopTask") == 1
    (trial,) = run_tasks(sleeping)
    assert trial["taskDefinitionArn"] == state["td"] and trial["startedBy"] == STARTED_BY
    # A failed deploy is not a release: the history does not name it.
    history = sleeping.cloud.history()
    assert history is None or all(release["tag"] != "v2" for release in history)


def test_a_good_revision_passes_its_health_checks_and_the_environment_sleeps_again(sleeping: Harness) -> None:
    state = new_revision_then_done(sleeping)

    def healthy_on_the_third_poll(poll: int) -> dict[str, Any]:
        return {"lastStatus": "RUNNING", "healthStatus": "HEALTHY" if poll >= 3 else "UNKNOWN"}

    calls = ecs_says(sleeping, healthy_on_the_third_poll)

    result = sleeping.deployer.deploy("v2", timeout_seconds=600)

    assert (result.exit_code, result.outcome) == (0, DeployOutcome.COLD), sleeping.output
    assert "checked: cityguided-staging:3 started and passed its health checks" in result.message
    service = sleeping.cloud.service()
    assert service["taskDefinition"] == state["td"] and service["desiredCount"] == 0
    assert calls.count("RunTask") == 1 and calls.count("StopTask") == 1
    assert "UpdateService" not in calls[calls.index("RunTask") :]
    assert "stopped it, the environment sleeps again" in sleeping.output
    history = sleeping.cloud.history()
    assert history is not None and history[0]["tag"] == "v2"


def test_a_revision_never_healthy_within_the_wake_timeout_fails(sleeping: Harness) -> None:
    new_revision_then_done(sleeping)
    calls = ecs_says(sleeping, lambda poll: {"lastStatus": "RUNNING", "healthStatus": "UNKNOWN"})

    result = sleeping.deployer.deploy("v2", timeout_seconds=600)

    assert result.exit_code == 1
    wake_timeout = sleeping.deployer.context.cfg.scale_to_zero.wake_timeout_seconds
    assert f"was not healthy within {wake_timeout} s" in result.message
    assert calls.count("StopTask") == 1
    assert sleeping.cloud.service()["taskDefinition"].endswith("cityguided-staging:1")


def test_without_a_health_command_the_task_must_keep_running_and_says_that_is_all(sleeping: Harness) -> None:
    new_revision_then_done(sleeping, health_checks=False)
    calls = ecs_says(sleeping, lambda poll: {"lastStatus": "RUNNING"})

    result = sleeping.deployer.deploy("v2", timeout_seconds=600)

    assert result.exit_code == 0, sleeping.output
    assert "ran 30 s without stopping (no health command in the task definition" in result.message
    assert calls.count("StopTask") == 1


def test_no_verify_starts_nothing(sleeping: Harness) -> None:
    new_revision_then_done(sleeping)
    calls = ecs_says(sleeping, lambda poll: {})

    result = sleeping.deployer.deploy("v2", timeout_seconds=600, verify=False)

    assert (result.exit_code, result.outcome) == (0, DeployOutcome.COLD)
    assert "RunTask" not in calls


def test_a_check_that_cannot_start_leaves_the_revision_unchecked_and_says_what_to_grant(
    sleeping: Harness,
) -> None:
    state = new_revision_then_done(sleeping)
    calls = ecs_says(sleeping, lambda poll: {})

    def denied(**_: Any) -> tuple[Any, dict[str, Any]]:
        error = {"Code": "AccessDeniedException", "Message": "not authorized to perform: iam:PassRole"}
        return SimpleNamespace(status_code=400, headers={}), {"Error": error}

    sleeping.deployer.context.clients.ecs.meta.events.register("before-call.ecs.RunTask", denied)

    result = sleeping.deployer.deploy("v2", timeout_seconds=600)

    assert result.exit_code == 1
    assert (
        "could not start a task of cityguided-staging:3 to check it (AccessDeniedException" in result.message
    )
    assert "NOT checked: grant ecs:RunTask and iam:PassRole" in result.message
    # Not the revision's fault: it stays; nothing was started, so nothing is stopped.
    assert sleeping.cloud.service()["taskDefinition"] == state["td"]
    assert "StopTask" not in calls
