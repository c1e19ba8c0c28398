"""The clients' deadline: botocore's standard retries stop where a retry could end past the caller's
deadline (a held request must be answered before the front door's timeout)."""

from __future__ import annotations

import io
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from warmkeeper.aws.clients import AwsClients, CallDeadlineError


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


def _throttled(**_: Any) -> AWSResponse:
    body = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
    return AWSResponse(
        "https://ecs.eu-west-3.amazonaws.com/",
        400,
        {"content-type": "application/x-amz-json-1.1"},
        _Raw(body),
    )


def _clients(attempts: list[int]) -> tuple[AwsClients, Any]:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-3"
    )
    clients = AwsClients(session)
    ecs = clients.ecs
    ecs.meta.events.register(
        "before-send.ecs.DescribeServices", lambda **kw: attempts.append(1) or _throttled()
    )
    return clients, ecs


def test_without_a_deadline_botocore_retries_a_throttled_call_to_its_attempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("time.sleep", lambda _: None)  # botocore's backoff, not waited here
    attempts: list[int] = []
    _, ecs = _clients(attempts)
    with pytest.raises(Exception, match="ThrottlingException"):
        ecs.describe_services(cluster="c", services=["s"])
    assert len(attempts) == 6  # max_attempts counts the retries: six attempts in all


def test_a_retry_that_could_end_past_the_deadline_is_not_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda _: None)
    attempts: list[int] = []
    clients, ecs = _clients(attempts)
    now = [100.0]
    clients.deadline.clock = lambda: now[0]
    clients.deadline.set(
        3.5
    )  # room for the first retry (1 s wait + 1 s) and the second (2 + 1), not the third
    with pytest.raises(CallDeadlineError):
        ecs.describe_services(cluster="c", services=["s"])
    assert len(attempts) == 3
    clients.deadline.set(None)
    attempts.clear()
    with pytest.raises(Exception, match="ThrottlingException"):
        ecs.describe_services(cluster="c", services=["s"])
    assert len(attempts) == 6  # max_attempts counts the retries: six attempts in all
