"""`warmkeeper keepalive --webhook` (`make prewarm`): the stack's Url and token, then the real request.

The stack and its secret are in moto; the webhook is an ``httpx.MockTransport`` for the logic and,
for the command as a person runs it, a real HTTP server on 127.0.0.1 that answers like the Lambda.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from tests.conftest import EXAMPLE_CONFIG
from tests.deploy.conftest import REGION, outputs_template, shared_session
from warmkeeper.aws.clients import AwsClients
from warmkeeper.aws.operations import ControlError
from warmkeeper.cli import app
from warmkeeper.deploy.keepalive import (
    InsecureWebhookError,
    Webhook,
    WebhookError,
    call_webhook,
    find_webhook,
)

STACK = "Cityguided-staging"
TOKEN = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL"
LEASE = {"lease_until": "2026-06-02T12:45:00+00:00", "minutes": 45, "state": "COLD", "actions": ["SCALE_UP"]}


def deploy_stack(clients: AwsClients, outputs: dict[str, str]) -> None:
    clients.cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(outputs_template(outputs)))


@pytest.fixture
def deployed(aws_env: None) -> Iterator[Callable[[str], AwsClients]]:
    """Deploy the stack with its keep-alive secret, the Url output being what the test gives."""
    with mock_aws():

        def deploy(url: str) -> AwsClients:
            clients = AwsClients(shared_session())
            secret = clients.secretsmanager.create_secret(
                Name="warmkeeper/cityguided/staging/keepalive", SecretString=TOKEN
            )
            deploy_stack(clients, {"Url": url, "KeepaliveSecretArn": secret["ARN"]})
            return clients

        yield deploy


def lambda_like(seen: list[httpx.Request]) -> httpx.MockTransport:
    """Answers as the Lambda does: 401 without the right bearer token, else 202 with the lease."""

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"error": "unauthorized", "message": "missing or wrong token"})
        return httpx.Response(202, json=LEASE)

    return httpx.MockTransport(answer)


def test_the_webhook_is_called_with_the_stacks_url_and_token(deployed: Callable[[str], AwsClients]) -> None:
    clients = deployed("https://staging.cityguided.example/")
    seen: list[httpx.Request] = []
    webhook = find_webhook(clients, STACK)
    with httpx.Client(transport=lambda_like(seen)) as http:
        lease = call_webhook(http, webhook, 45)
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "https://staging.cityguided.example/_warmkeeper/keepalive?minutes=45"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert lease.describe() == "lease until 2026-06-02T12:45:00+00:00 (45 min), service COLD (waking)"


def test_a_refused_token_is_one_line_that_never_shows_the_token() -> None:
    webhook = Webhook(url="https://x.example/_warmkeeper/keepalive", token="stale", secret_arn="arn:secret")
    with (
        httpx.Client(transport=lambda_like([])) as http,
        pytest.raises(WebhookError, match=r"401, the token was refused: the secret arn:secret") as refused,
    ):
        call_webhook(http, webhook, 30)
    assert "stale" not in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("transport", "message"),
    [
        (
            httpx.MockTransport(lambda request: httpx.Response(503, json={"message": "cannot be checked"})),
            "HTTP 503: cannot be checked",
        ),
        (httpx.MockTransport(lambda request: httpx.Response(202, text="<html>")), "202 without the expected"),
    ],
    ids=["error answer", "not the webhook"],
)
def test_other_answers_are_failures(transport: httpx.MockTransport, message: str) -> None:
    webhook = Webhook(url="https://x.example/_warmkeeper/keepalive", token=TOKEN, secret_arn="arn:secret")
    with httpx.Client(transport=transport) as http, pytest.raises(WebhookError, match=message):
        call_webhook(http, webhook, 30)


def test_a_network_error_is_a_failure() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    webhook = Webhook(url="https://x.example/_warmkeeper/keepalive", token=TOKEN, secret_arn="arn:secret")
    with (
        httpx.Client(transport=httpx.MockTransport(unreachable)) as http,
        pytest.raises(WebhookError, match=r"POST https://x\.example/_warmkeeper/keepalive: ConnectError"),
    ):
        call_webhook(http, webhook, 30)


def test_no_stack_or_no_outputs_is_one_line(aws_env: None) -> None:
    with mock_aws():
        clients = AwsClients(shared_session())
        with pytest.raises(ControlError, match=f"stack {STACK} not found in {REGION}"):
            find_webhook(clients, STACK)
        deploy_stack(clients, {"ClusterName": "c"})
        with pytest.raises(ControlError, match="has no output Url, KeepaliveSecretArn"):
            find_webhook(clients, STACK)


# --- the command, as `make prewarm` runs it ---------------------------------------------------------------


class FakeWaker(BaseHTTPRequestHandler):
    """The Lambda's keep-alive endpoint behind the load balancer, as far as a caller can tell."""

    received: ClassVar[list[str]] = []  # the Authorization headers it was sent, across every instance

    def do_POST(self) -> None:
        FakeWaker.received.append(self.headers["Authorization"] or "")
        url = urlsplit(self.path)
        ok = url.path == "/_warmkeeper/keepalive" and self.headers["Authorization"] == f"Bearer {TOKEN}"
        minutes = int(parse_qs(url.query)["minutes"][0])
        body = json.dumps({**LEASE, "minutes": minutes} if ok else {"error": "unauthorized"}).encode()
        self.send_response(202 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def waker() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeWaker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def keepalive(*args: str) -> Any:
    return CliRunner().invoke(
        app, ["keepalive", "--webhook", "--config", str(EXAMPLE_CONFIG), "--env", "staging", *args]
    )


def test_prewarm_command_takes_a_lease_through_the_webhook(
    deployed: Callable[[str], AwsClients], waker: str
) -> None:
    deployed(waker)  # plain HTTP on loopback: accepted with --insecure only
    result = keepalive("--minutes", "20", "--insecure")
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout == "staging: lease until 2026-06-02T12:45:00+00:00 (20 min), service COLD (waking)\n"


def test_prewarm_command_fails_in_one_line_when_nothing_answers(
    deployed: Callable[[str], AwsClients],
) -> None:
    with socket.socket() as probe:  # a port nothing listens on: the connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    deployed(f"http://127.0.0.1:{port}")
    result = keepalive("--insecure")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "ConnectError" in lines[0], result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_prewarm_command_without_a_stack_exits_2(aws_env: None) -> None:
    with mock_aws():
        result = keepalive()
    assert result.exit_code == 2
    assert f"stack {STACK} not found" in result.stderr


def test_an_http_webhook_is_refused_before_the_token_is_sent(
    deployed: Callable[[str], AwsClients], waker: str
) -> None:
    deployed(waker)
    FakeWaker.received.clear()
    result = keepalive()
    assert result.exit_code == 2, result.output + result.stderr
    assert "refusing to send the keep-alive token over plain HTTP" in result.stderr
    assert "--insecure" in result.stderr
    assert TOKEN not in result.output + result.stderr
    assert FakeWaker.received == []  # nothing reached the server


def test_insecure_is_only_for_the_webhook() -> None:
    result = CliRunner().invoke(
        app, ["keepalive", "--insecure", "--config", str(EXAMPLE_CONFIG), "--env", "staging"]
    )
    assert result.exit_code == 2
    assert "--insecure: only with --webhook" in result.stderr


@pytest.mark.parametrize(
    "url", ["http://x.example/_warmkeeper/keepalive", "ftp://x.example/k", "x.example/k"]
)
def test_call_webhook_sends_nothing_but_over_https(url: str) -> None:
    seen: list[httpx.Request] = []
    webhook = Webhook(url=url, token=TOKEN, secret_arn="arn:secret")
    with httpx.Client(transport=lambda_like(seen)) as http, pytest.raises(InsecureWebhookError):
        call_webhook(http, webhook, 30)
    assert seen == []


def test_a_redirect_to_plain_http_is_not_followed() -> None:
    seen: list[httpx.Request] = []

    def redirect(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(307, headers={"Location": "http://x.example/_warmkeeper/keepalive"})

    webhook = Webhook(url="https://x.example/_warmkeeper/keepalive", token=TOKEN, secret_arn="arn:secret")
    with (
        httpx.Client(transport=httpx.MockTransport(redirect)) as http,
        pytest.raises(WebhookError, match="307"),
    ):
        call_webhook(http, webhook, 30)
    assert [str(r.url.scheme) for r in seen] == ["https"]
