"""The twin's deploy bookkeeping, without a twin: revisions, one deploy at a time, the kept history."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from warmkeeper.config import AppConfig, load_config
from warmkeeper.local.deployments import Deployments
from warmkeeper.local.rollout import DeployRequest, DeployRequestError, DeployRun, RolloutOutcome

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cityguided" / "warmkeeper.toml"


@pytest.fixture(scope="module")
def cfg() -> AppConfig:
    return load_config(EXAMPLE)


class Runner:
    """A rollout that says one line, then waits to be told how it ends."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.outcome = RolloutOutcome.DEPLOYED
        self.started: list[str] = []

    def __call__(self, run: DeployRun, say: Callable[[str], None]) -> None:
        self.started.append(run.run_id)
        say("started")
        self.release.wait(10)
        run.finish(self.outcome, f"{self.outcome.value} {run.spec.version}")


@pytest.fixture
def runner() -> Iterator[Runner]:
    runner = Runner()
    yield runner
    runner.release.set()


def request(cfg: AppConfig, label: str | None = None, notes: list[str] | None = None) -> DeployRequest:
    return DeployRequest(cfg, label, 60.0, notes or [])


def finish(deployments: Deployments, runner: Runner) -> None:
    runner.release.set()
    deployments.join(timeout=10)
    runner.release.clear()


def test_each_deploy_gets_the_next_revision_and_says_so(cfg: AppConfig, runner: Runner) -> None:
    said: list[str] = []
    deployments = Deployments(runner, stopping=lambda: False, emit=said.append)
    run = deployments.start(request(cfg, "abc123", ["a note"]), current_revision=1)
    assert (run.run_id, run.spec.version) == ("d2", "r2 (abc123)")
    assert deployments.in_progress and deployments.latest is run
    finish(deployments, runner)
    assert not deployments.in_progress
    assert said == [f"deploy d2: {cfg.source} as r2 (abc123)", "deploy d2: started"]
    progress = deployments.progress("d2")
    assert progress is not None
    assert [e["message"] for e in progress["events"]] == ["a note", "deployed r2 (abc123)"]
    latest = deployments.latest_json()
    assert latest is not None and latest["events"] == [] and latest["next"] == 2


def test_a_second_deploy_while_one_runs_is_refused_409(cfg: AppConfig, runner: Runner) -> None:
    deployments = Deployments(runner, stopping=lambda: False)
    deployments.start(request(cfg), current_revision=1)
    with pytest.raises(DeployRequestError, match=r"deploy d2 of r2 is in progress") as caught:
        deployments.start(request(cfg), current_revision=1)
    assert caught.value.status == 409
    assert runner.started == ["d2"]


def test_revisions_only_go_up_failed_deploys_included(cfg: AppConfig, runner: Runner) -> None:
    deployments = Deployments(runner, stopping=lambda: False)
    runner.outcome = RolloutOutcome.FAILED
    deployments.start(request(cfg), current_revision=1)
    finish(deployments, runner)
    # The service still runs r1 after the failure: the next deploy is r3, never r2 again.
    runner.outcome = RolloutOutcome.DEPLOYED
    assert deployments.start(request(cfg), current_revision=1).run_id == "d3"
    finish(deployments, runner)
    # A service already past what the book gave (not the case on one twin, but the rule holds).
    assert deployments.start(request(cfg), current_revision=7).run_id == "d8"


def test_only_the_last_few_deploys_are_kept(cfg: AppConfig, runner: Runner) -> None:
    deployments = Deployments(runner, stopping=lambda: False, kept=2)
    for _ in range(3):
        deployments.start(request(cfg), current_revision=1)
        finish(deployments, runner)
    assert deployments.progress("d2") is None
    assert deployments.progress("d3") is not None and deployments.progress("d4") is not None
    assert deployments.progress("nothing") is None


def test_a_stopping_twin_takes_no_deploy(cfg: AppConfig, runner: Runner) -> None:
    deployments = Deployments(runner, stopping=lambda: True)
    with pytest.raises(DeployRequestError, match="stopping") as caught:
        deployments.start(request(cfg), current_revision=1)
    assert caught.value.status == 503
    assert runner.started == [] and deployments.latest is None
