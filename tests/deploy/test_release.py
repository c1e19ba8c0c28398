"""`warmkeeper deploy` on AWS against moto, with `cdk deploy` replaced at its boundary (see conftest)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from tests.deploy.conftest import (
    CLUSTER,
    IMAGES_STACK,
    PREFIX,
    SERVICE,
    STACK,
    Cloud,
    Harness,
    Step,
    deployment,
    outputs_template,
)
from warmkeeper.deploy.follow import DeployOutcome
from warmkeeper.deploy.history import Release, ReleaseHistory
from warmkeeper.deploy.preflight import PreflightError

REASON_CIRCUIT_BREAKER = "ECS deployment circuit breaker: tasks failed to start."


def start_update(
    cloud: Cloud, tag: str, state: dict[str, Any], digests: Mapping[str, str] | None = None
) -> None:
    """What CloudFormation does first: a new task definition revision, the service pointed at it."""
    cloud.set_stack("UPDATE_IN_PROGRESS", "User Initiated")
    state["old"] = dict(cloud.service_model.deployments[0])
    state["td"] = cloud.register_revision(tag, digests or cloud.pushed.get(tag))
    cloud.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=state["td"])


def rolling_update(tag: str, digests: Mapping[str, str] | None = None) -> list[Step]:
    """A warm service (one task) rolls: start new, healthy, drain old, steady state."""
    state: dict[str, Any] = {}

    def new_task_pending(cloud: Cloud) -> None:
        start_update(cloud, tag, state, digests)
        cloud.set_deployments(
            deployment("new", "PRIMARY", "IN_PROGRESS", state["td"], pending=1),
            {**state["old"], "status": "ACTIVE", "rolloutState": "COMPLETED"},
        )
        cloud.set_counts(running=1, pending=1)
        cloud.event(f"(service {SERVICE}) has started 1 tasks: (task 0a1b2c).")

    def new_task_running(cloud: Cloud) -> None:
        cloud.set_deployments(
            deployment("new", "PRIMARY", "IN_PROGRESS", state["td"], running=1),
            {**state["old"], "status": "ACTIVE", "rolloutState": "COMPLETED"},
        )
        cloud.set_counts(running=2, pending=0)
        cloud.event(f"(service {SERVICE}) registered 1 targets in (target-group service-tg)")

    def nothing_new(cloud: Cloud) -> None:
        pass

    def old_drained(cloud: Cloud) -> None:
        cloud.set_deployments(deployment("new", "PRIMARY", "COMPLETED", state["td"], running=1))
        cloud.set_counts(running=1, pending=0)
        cloud.event(f"(service {SERVICE}) has stopped 1 running tasks: (task 9z8y7x).")
        cloud.event(f"(service {SERVICE}) has reached a steady state.")

    def stack_done(cloud: Cloud) -> None:
        cloud.set_stack("UPDATE_COMPLETE")

    return [new_task_pending, new_task_running, nothing_new, old_drained, stack_done]


def circuit_breaker(tag: str) -> list[Step]:
    """The new version never becomes healthy: ECS fails the deployment and rolls back, so does CFN."""
    state: dict[str, Any] = {}

    def new_task_pending(cloud: Cloud) -> None:
        start_update(cloud, tag, state)
        cloud.set_deployments(
            deployment("new", "PRIMARY", "IN_PROGRESS", state["td"], pending=1),
            {**state["old"], "status": "ACTIVE"},
        )
        cloud.event(f"(service {SERVICE}) has started 1 tasks: (task 0a1b2c).")

    def task_failed(cloud: Cloud) -> None:
        cloud.set_deployments(
            deployment("new", "PRIMARY", "IN_PROGRESS", state["td"], failed=3),
            {**state["old"], "status": "ACTIVE"},
        )
        cloud.event(f"(service {SERVICE}) (task 0a1b2c) failed container health checks.")

    def rolled_back_by_ecs(cloud: Cloud) -> None:
        cloud.set_deployments(
            deployment("rollback", "PRIMARY", "IN_PROGRESS", state["old"]["taskDefinition"], running=1),
            deployment("new", "ACTIVE", "FAILED", state["td"], failed=3, reason=REASON_CIRCUIT_BREAKER),
        )
        cloud.event(f"(service {SERVICE}) rolling back to deployment ecs-svc/{state['old']['id']}.")
        cloud.set_stack(
            "UPDATE_ROLLBACK_IN_PROGRESS", "The following resource(s) failed to update: [Service]."
        )

    def rollback_done(cloud: Cloud) -> None:
        cloud.set_deployments(
            deployment("rollback", "PRIMARY", "COMPLETED", state["old"]["taskDefinition"], running=1)
        )
        cloud.set_stack("UPDATE_ROLLBACK_COMPLETE")

    return [new_task_pending, task_failed, rolled_back_by_ecs, rollback_done]


def test_warm_deploy_rolls_and_shows_each_change(warm: Harness) -> None:
    v2 = warm.cloud.pushed["v2"]
    warm.cdk.steps = rolling_update("v2")
    warm.cdk.output = ["Cityguided-staging: deploying... [1/1]", "UPDATE_IN_PROGRESS AWS::ECS::Service"]

    result = warm.deployer.deploy("v2", timeout_seconds=600)

    assert (result.exit_code, result.outcome) == (0, DeployOutcome.ROLLED), warm.output
    assert "1/1 task(s) run v2" in result.message
    # The checks ran in order, before the CLI was started.
    out = warm.output
    order = [
        out.index(word) for word in ("credentials:", "region:", "images v2:", "CDK bootstrap", "synthesized")
    ]
    assert order == sorted(order)
    assert out.index("synthesized") < out.index("→ cdk deploy")
    # The CLI call: the checked assembly, the contract's stack name alone (not the images stack it
    # depends on), no approval prompt.
    (args,) = warm.cdk.calls
    assert args[:5] == ["deploy", STACK, "--exclusively", "--app", str(warm.deployer.context.assembly_dir)]
    assert args[args.index("--require-approval") + 1] == "never"
    # Synthesis got the tag and the digests resolved from ECR, and the template pins them.
    assert warm.synth.calls == [("v2", v2)]
    assert "images pinned by digest" in out
    # Progress: one line per change, in order: the CLI's output, the service's new events, then the
    # state line (stack, PRIMARY deployment and its rollout state, task counts) when it changed.
    expected = [
        "cdk  Cityguided-staging: deploying... [1/1]",
        f"ecs  (service {SERVICE}) has started 1 tasks",
        "deployment new (cityguided-staging:2) IN_PROGRESS | tasks running 1 pending 1 desired 1",
        f"ecs  (service {SERVICE}) registered 1 targets",
        "tasks running 2 pending 0 desired 1",
        f"ecs  (service {SERVICE}) has reached a steady state.",
        "deployment new (cityguided-staging:2) COMPLETED | tasks running 1 pending 0 desired 1",
        "stack UPDATE_COMPLETE",
    ]
    positions = [out.index(text) for text in expected]
    assert positions == sorted(positions)
    # A tick where nothing changed prints nothing: each status line appears once.
    assert out.count("tasks running 2 pending 0 desired 1") == 1
    # The desired count was never touched; the release is recorded for a rollback.
    assert warm.cloud.service()["desiredCount"] == 1
    history = warm.cloud.history()
    assert history is not None and [(r["tag"], r["digests"], r["outcome"]) for r in history] == [
        ("v2", v2, "rolled")
    ]


def test_circuit_breaker_rollback_exits_nonzero_with_the_reason(warm: Harness) -> None:
    warm.cdk.steps = circuit_breaker("v2")
    warm.cdk.exit_code = 1
    warm.cdk.output = ["❌  Cityguided-staging failed: The stack named Cityguided-staging failed to deploy"]

    result = warm.deployer.deploy("v2", timeout_seconds=600)

    assert (result.exit_code, result.outcome) == (1, DeployOutcome.FAILED)
    assert REASON_CIRCUIT_BREAKER in result.message
    assert "ECS rolled back deployment new (cityguided-staging:2)" in result.message
    assert result.message.endswith("(stack now UPDATE_ROLLBACK_COMPLETE)")
    # Said as soon as it was seen, not only at the end; a failed deploy is not recorded.
    out = warm.output
    assert out.index("FAILED: ECS rolled back") < out.index("stack UPDATE_ROLLBACK_COMPLETE")
    assert "failed tasks 3" in out
    assert warm.cloud.history() is None


def test_cloudformation_rollback_without_ecs_failure_is_a_failure(warm: Harness) -> None:
    def bad_update(cloud: Cloud) -> None:
        cloud.set_stack("UPDATE_IN_PROGRESS")

    def rolled_back(cloud: Cloud) -> None:
        cloud.set_stack("UPDATE_ROLLBACK_COMPLETE", "Resource handler returned message: 'Invalid request'")

    warm.cdk.steps = [bad_update, rolled_back]
    warm.cdk.exit_code = 1

    result = warm.deployer.deploy("v2", timeout_seconds=600)

    assert result.exit_code == 1
    assert "CloudFormation UPDATE_ROLLBACK_COMPLETE: Resource handler returned message" in result.message


def test_a_rollback_left_by_an_earlier_deploy_is_not_this_deploys_failure(warm: Harness) -> None:
    warm.cloud.set_stack("UPDATE_ROLLBACK_COMPLETE", "an earlier deploy failed")
    warm.cdk.steps = rolling_update("v2")

    result = warm.deployer.deploy("v2", timeout_seconds=600)

    assert (result.exit_code, result.outcome) == (0, DeployOutcome.ROLLED), warm.output


def test_cold_service_is_not_woken_and_not_waited_for(cold: Harness) -> None:
    state: dict[str, Any] = {}
    calls: list[str] = []
    cold.deployer.context.clients.ecs.meta.events.register(
        "before-call.ecs", lambda model, **_: calls.append(model.name)
    )

    def new_revision(cloud: Cloud) -> None:
        start_update(cloud, "v2", state)
        # A deployment of zero tasks; even left IN_PROGRESS, a cold deploy does not wait on it.
        cloud.set_deployments(deployment("new", "PRIMARY", "IN_PROGRESS", state["td"], desired=0))

    def stack_done(cloud: Cloud) -> None:
        cloud.set_stack("UPDATE_COMPLETE")

    cold.cdk.steps = [new_revision, stack_done]

    # --no-verify: the new revision is not run before the next wake (tests/deploy/test_trial_run.py).
    result = cold.deployer.deploy("v2", timeout_seconds=600, verify=False)

    assert (result.exit_code, result.outcome) == (0, DeployOutcome.COLD), cold.output
    assert result.message == "service is cold: nothing to roll, next wake runs v2"
    assert "service is cold (desired 0)" in cold.output
    service = cold.cloud.service()
    assert (service["desiredCount"], service["runningCount"]) == (0, 0)
    assert service["taskDefinition"].endswith("cityguided-staging:2")
    # The deployer only ever read the service, and stopped as soon as the CLI was done.
    assert set(calls) == {"DescribeServices"}
    assert len(cold.clock.sleeps) == len(cold.cdk.steps)
    history = cold.cloud.history()
    assert history is not None and history[0]["outcome"] == "cold"


def test_timeout_is_honoured_and_says_what_was_last_seen(warm: Harness) -> None:
    state: dict[str, Any] = {}

    def stuck(cloud: Cloud) -> None:
        start_update(cloud, "v2", state)
        cloud.set_deployments(
            deployment("new", "PRIMARY", "IN_PROGRESS", state["td"], pending=1),
            {**state["old"], "status": "ACTIVE"},
        )
        cloud.set_counts(running=1, pending=1)

    warm.cdk.steps = [stuck]
    warm.cdk.exit_code = None  # the CLI never returns

    result = warm.deployer.deploy("v2", timeout_seconds=42)

    assert (result.exit_code, result.outcome) == (3, DeployOutcome.TIMED_OUT)
    assert warm.clock.now == 42  # waited exactly the bound: the last sleep was cut to fit
    assert warm.cdk.process is not None and warm.cdk.process.terminated
    assert "timed out after 42 s" in result.message
    assert (
        "last seen: stack UPDATE_IN_PROGRESS | deployment new (cityguided-staging:2) IN_PROGRESS"
        in result.message
    )
    assert warm.cloud.history() is None


def test_missing_image_fails_before_anything_changes(warm: Harness) -> None:
    warm.cloud.push("v3", ["caddy", "api"])  # web was never pushed

    with pytest.raises(PreflightError) as failure:
        warm.deployer.deploy("v3", timeout_seconds=600)

    message = str(failure.value)
    assert "web (cityguided-staging/web:v3)" in message and "make images TAG=v3" in message
    assert "caddy" not in message.split("missing in ECR:")[1]
    assert warm.cdk.calls == [] and warm.synth.calls == []
    assert warm.cloud.service()["taskDefinition"].endswith("cityguided-staging:1")
    assert warm.cloud.history() is None


def test_dry_run_shows_the_diff_and_changes_nothing(warm: Harness) -> None:
    result = warm.deployer.deploy("v2", timeout_seconds=600, dry_run=True)

    assert result.exit_code == 0 and "nothing was changed" in result.message
    (args,) = warm.cdk.calls
    assert args[:2] == ["diff", STACK] and args[args.index("--method") + 1] == "template"
    assert "[~] AWS::ECS::TaskDefinition" in warm.output
    assert warm.cloud.service()["taskDefinition"].endswith("cityguided-staging:1")
    assert warm.cloud.stack_model.status == "CREATE_COMPLETE"
    assert warm.cloud.history() is None


@pytest.mark.parametrize(
    ("prepare", "expected"),
    [
        (
            lambda h: setattr(h.synth, "nag_error", "AwsSolutions-IAM5: wildcard"),
            "AwsSolutions-IAM5: wildcard",
        ),
        (
            lambda h: setattr(h.synth, "ignore_digests", True),
            r"does not pin container caddy to sha256:[0-9a-f]{64} \(is image_digests wired",
        ),
        (
            lambda h: setattr(h.synth, "repository_prefix", "cityguided"),
            "does not pull container caddy from repository cityguided-staging/caddy",
        ),
        (
            lambda h: h.cloud.set_stack("UPDATE_IN_PROGRESS", name=IMAGES_STACK),
            "Cityguided-staging-images is UPDATE_IN_PROGRESS: `warmkeeper images` is running",
        ),
        (lambda h: h.cloud.set_stack("UPDATE_IN_PROGRESS"), "another deploy is running"),
        (
            lambda h: h.cloud.ssm.delete_parameter(Name="/cdk-bootstrap/hnb659fds/version"),
            "npx cdk bootstrap aws://123456789012/eu-west-3",
        ),
    ],
    ids=[
        "cdk-nag error",
        "digests ignored by the CDK app",
        "another repository",
        "images stack busy",
        "stack busy",
        "not bootstrapped",
    ],
)
def test_other_checks_stop_the_deploy_before_the_cli(warm: Harness, prepare: Any, expected: str) -> None:
    prepare(warm)
    with pytest.raises(PreflightError, match=expected):
        warm.deployer.deploy("v2", timeout_seconds=600)
    assert warm.cdk.calls == []


def test_switching_the_front_door_in_place_is_refused_before_any_change(warm: Harness) -> None:
    # Deployed behind an internet-facing load balancer (no DistributionId output); the example's
    # staging now says front_door = "cloudfront": CloudFormation would fail replacing the ALB.
    assert warm.deployer.context.settings.front_door == "cloudfront"
    warm.cloud.deploy_template(
        STACK,
        outputs_template(
            {
                "ClusterName": CLUSTER,
                "ServiceName": SERVICE,
                "ParameterPrefix": PREFIX,
                "Url": "http://internet-facing.example",
            }
        ),
    )
    with pytest.raises(PreflightError) as refused:
        warm.deployer.deploy("v2", timeout_seconds=600)
    message = str(refused.value)
    assert message.startswith("environments.staging.front_door: stack Cityguided-staging was deployed")
    assert "front_door = 'load_balancer' and the config now says 'cloudfront'" in message
    assert "`warmkeeper destroy --env staging`" in message
    assert warm.cdk.calls == []


def test_credentials_for_another_account_are_refused(warm: Harness) -> None:
    context = warm.deployer.context
    warm.deployer.context = replace(
        context, settings=context.settings.model_copy(update={"account": "210987654321"})
    )
    with pytest.raises(PreflightError, match=r"account 123456789012 but environments\.staging\.account"):
        warm.deployer.deploy("v2", timeout_seconds=600)
    assert warm.synth.calls == []


def test_bad_tag_is_refused(warm: Harness) -> None:
    with pytest.raises(PreflightError, match=r"^--image-tag: 'v2; rm -rf /' is not a valid image tag"):
        warm.deployer.deploy("v2; rm -rf /", timeout_seconds=600)
    assert warm.synth.calls == [] and warm.cdk.calls == []


# ---- rollback -------------------------------------------------------------------------------------


def seed_history(warm: Harness) -> dict[str, str]:
    """v1 then v2 deployed and recorded; returns v1's digests."""
    recorded = warm.cloud.pushed["v1"]
    ReleaseHistory(warm.cloud.ssm, PREFIX).write(
        [
            Release("v2", warm.cloud.pushed["v2"], "2026-01-02T10:00:00+00:00", "rolled"),
            Release("v1", recorded, "2026-01-01T10:00:00+00:00", "rolled"),
        ]
    )
    return recorded


def test_rollback_redeploys_the_previous_release_by_digest(warm: Harness) -> None:
    recorded = seed_history(warm)
    moved = warm.cloud.push("v1", content="rebuilt")  # v1 was re-pushed since: it means other images
    assert moved != recorded
    warm.cdk.steps = rolling_update("v1", recorded)

    result = warm.deployer.rollback(timeout_seconds=600)

    assert result.exit_code == 0, warm.output
    assert "rolling back staging: v2 -> v1" in warm.output
    # The recorded images, not what the tag means now, are in the template `cdk deploy` gets.
    assert warm.synth.calls == [("v1", recorded)]
    assert "pinned by digest" in warm.output
    template = (warm.deployer.context.assembly_dir / f"{STACK}.template.json").read_text()
    assert all(f"@{digest}" in template for digest in recorded.values())
    assert not any(digest in template for digest in moved.values())
    history = warm.cloud.history()
    assert history is not None and [(r["tag"], r["digests"]) for r in history] == [("v1", recorded)]


def test_rollback_refuses_recorded_images_deleted_from_ecr(warm: Harness) -> None:
    recorded = seed_history(warm)
    warm.cloud.ecr.batch_delete_image(
        repositoryName="cityguided-staging/api", imageIds=[{"imageDigest": recorded["api"]}]
    )

    with pytest.raises(PreflightError, match=r"api \(cityguided-staging/api:sha256:.*deleted from ECR"):
        warm.deployer.rollback(timeout_seconds=600)
    assert warm.cdk.calls == [] and warm.synth.calls == []


def test_rollback_without_an_earlier_release_says_so(warm: Harness) -> None:
    with pytest.raises(
        PreflightError, match=f"no earlier release recorded in SSM parameter {PREFIX}/deploy/releases"
    ):
        warm.deployer.rollback(timeout_seconds=600)
