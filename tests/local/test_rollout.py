"""The local deploy's rules that need no twin: the request check, the record, the CLI's output."""

from __future__ import annotations

import http.server
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from warmkeeper.commands.twin_deploy_commands import deploy_local, exit_code, failure_lines, progress_line
from warmkeeper.config import AppConfig, load_config
from warmkeeper.local.rollout import (
    EXIT_CODES,
    DeployRequestError,
    DeployRun,
    DrainWatch,
    RolloutOutcome,
    exit_status,
    parse_deploy_request,
)
from warmkeeper.local.supervisor import TaskSpec
from warmkeeper.local.twin_client import TwinNotRunningError, deploy_request_body

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cityguided" / "warmkeeper.toml"


@pytest.fixture(scope="module")
def running() -> AppConfig:
    return load_config(EXAMPLE)


def body(cfg: AppConfig, **changes: Any) -> dict[str, Any]:
    """What `TwinControl.start_deploy` sends for `cfg`, with `changes` on top."""
    document = deploy_request_body(cfg)
    document.update(changes)
    return document


def test_the_config_the_cli_sends_is_read_back_identical(running: AppConfig) -> None:
    request = parse_deploy_request(body(running, timeout_seconds=90), running, running.environment("local"))
    assert request.cfg == running and request.cfg.source == running.source
    assert (request.label, request.timeout_seconds, request.notes) == (None, 90.0, [])


def test_a_changed_container_is_the_new_revision(running: AppConfig) -> None:
    document = body(running, label="abc123")
    document["config"]["containers"][1]["local"]["environment"] = {"APP_VERSION": "2"}
    request = parse_deploy_request(document, running, running.environment("local"))
    assert request.cfg.container("api").local.environment == {"APP_VERSION": "2"}
    assert request.label == "abc123" and request.timeout_seconds == 600


@pytest.mark.parametrize(
    ("document", "status", "message"),
    [
        ([], 400, "JSON object"),
        ({"config": {}}, 400, "'source'"),
        ({"source": "x.toml", "config": "text"}, 400, "'config'"),
    ],
)
def test_malformed_requests_are_refused(
    running: AppConfig, document: object, status: int, message: str
) -> None:
    with pytest.raises(DeployRequestError, match=message) as caught:
        parse_deploy_request(document, running, running.environment("local"))
    assert caught.value.status == status


def test_an_invalid_config_is_refused_with_its_key(running: AppConfig) -> None:
    document = body(running)
    document["config"]["containers"][0]["port"] = 0
    with pytest.raises(DeployRequestError, match=r"warmkeeper\.toml: containers\[0\]\.port: ") as caught:
        parse_deploy_request(document, running, running.environment("local"))
    assert caught.value.status == 400


def test_another_app_is_refused(running: AppConfig) -> None:
    document = body(running)
    document["config"]["app"]["name"] = "another-app"
    with pytest.raises(DeployRequestError, match="'another-app', but this twin runs 'cityguided'") as caught:
        parse_deploy_request(document, running, running.environment("local"))
    assert caught.value.status == 409


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"label": ""}, "label"),
        ({"label": "x" * 65}, "label"),
        ({"label": 3}, "label"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": True}, "timeout_seconds"),
        ({"timeout_seconds": "60"}, "timeout_seconds"),
    ],
)
def test_bad_label_or_timeout(running: AppConfig, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(DeployRequestError, match=message):
        parse_deploy_request(body(running, **changes), running, running.environment("local"))


def test_what_a_deploy_does_not_change_is_said(running: AppConfig) -> None:
    document = body(running)
    document["config"]["scale_to_zero"]["hold_seconds"] = 10
    document["config"]["environments"]["local"]["idle_minutes"] = 9
    document["config"]["environments"]["local"]["edge_port"] = 9999  # where to find the twin: fine
    notes = parse_deploy_request(document, running, running.environment("local")).notes
    assert len(notes) == 2
    assert notes[0].startswith("[scale_to_zero] changed: not applied by a deploy")
    assert notes[1].startswith("[environments.local] changed: not applied by a deploy")


def test_the_record_sends_each_event_once_and_then_the_outcome(running: AppConfig) -> None:
    run = DeployRun("d2", TaskSpec(running, 2, "abc"), timeout_seconds=60)
    run.add("started task t2")
    run.add("task t2 healthy after 1.0 s")
    first = run.to_json()
    assert (first["outcome"], first["exit_code"], first["version"]) == ("running", None, "r2 (abc)")
    assert [e["message"] for e in first["events"]] == ["started task t2", "task t2 healthy after 1.0 s"]
    assert first["next"] == 2
    run.finish(RolloutOutcome.DEPLOYED, "deployed r2")
    rest = run.to_json(since=first["next"])
    assert [e["message"] for e in rest["events"]] == ["deployed r2"]
    assert (rest["outcome"], rest["exit_code"], rest["next"]) == ("deployed", 0, 3)
    assert rest["seconds"] is not None and not run.running
    assert run.to_json(since=3)["events"] == []


def test_exit_codes_match_an_aws_deploy() -> None:
    assert {outcome: EXIT_CODES.get(outcome) for outcome in RolloutOutcome} == {
        RolloutOutcome.RUNNING: None,
        RolloutOutcome.DEPLOYED: 0,
        RolloutOutcome.COLD: 0,
        RolloutOutcome.FAILED: 1,
        RolloutOutcome.CANCELLED: 1,
        RolloutOutcome.TIMED_OUT: 3,
    }
    assert [exit_code(o) for o in ("deployed", "cold", "failed", "timed_out", "what")] == [0, 0, 1, 3, 1]


def test_process_ends_are_named() -> None:
    assert [exit_status(c) for c in (0, 3, None, -signal.SIGTERM, -signal.SIGKILL)] == [
        "0",
        "3",
        "running",
        "SIGTERM",
        "SIGKILL",
    ]


def test_progress_and_failure_output() -> None:
    assert progress_line({"elapsed": 2.14, "message": "task t2 healthy"}) == "[  2.1s] task t2 healthy"
    progress = {"failed_container": "api", "version": "r3", "output_tail": [f"line {n}" for n in range(30)]}
    lines = failure_lines(progress, lines=3)
    assert lines == ["last output of api (r3):", "    line 27", "    line 28", "    line 29"]
    assert failure_lines({"output_tail": []}) == []


def test_deploy_without_a_twin_is_a_user_error(tmp_path: Path) -> None:
    config = tmp_path / "warmkeeper.toml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    cfg = load_config(config)
    with pytest.raises(TwinNotRunningError, match="no local twin is running"):
        deploy_local(cfg, cfg.environment("local"), timeout_seconds=5)
    assert not (tmp_path / ".warmkeeper").exists()


def _server_for(seconds: float) -> tuple[int, threading.Thread]:
    """A loopback HTTP server that answers for `seconds`, then closes its listener."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    server.RequestHandlerClass.log_message = lambda *args: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop_later() -> None:
        time.sleep(seconds)
        server.shutdown()
        server.server_close()

    stopper = threading.Thread(target=stop_later, daemon=True)
    stopper.start()
    return server.server_address[1], stopper


def test_the_drain_watch_names_an_entry_that_stops_answering_before_its_window_ends() -> None:
    port, stopper = _server_for(0.6)
    watch = DrainWatch(port, "/", window_seconds=3)
    watch.start()
    watch.join()
    stopper.join()
    assert watch.stopped_answering_after is not None
    assert 0.5 <= watch.stopped_answering_after < 1.5


def test_the_drain_watch_accepts_an_entry_that_answers_through_its_window() -> None:
    port, stopper = _server_for(3.0)
    watch = DrainWatch(port, "/", window_seconds=2)
    watch.start()
    watch.join()
    assert watch.stopped_answering_after is None
    stopper.join()
