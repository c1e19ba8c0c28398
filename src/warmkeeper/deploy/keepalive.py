"""`warmkeeper keepalive --webhook` (`make prewarm`): wake and hold a deployment warm through its webhook.

The same request the app, its Caddy or CI sends: `POST <Url>/_warmkeeper/keepalive?minutes=N` with
`Authorization: Bearer <token>`, the URL from the stack's `Url` output and the token from the
Secrets Manager secret named by its `KeepaliveSecretArn` output. Going through the load balancer
and the Lambda checks the path a real caller takes (listener rule, token check, lease, wake), which
`warmkeeper keepalive` without `--webhook` (direct AWS API calls) does not.

The token is sent over HTTPS only: an ``http://`` URL (an environment that allows plain HTTP) is
refused before anything is sent unless the caller says ``insecure``, and redirects are not followed
(an HTTPS URL that answers with a redirect to plain HTTP does not get the token either).

The boto3 clients and the HTTP client are injected: the command builds them, tests pass moto-backed
clients and an ``httpx.MockTransport``. The token is never printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from warmkeeper.aws.adapters import KeepaliveSecret
from warmkeeper.aws.clients import AwsClients
from warmkeeper.aws.operations import ControlError, aws_errors, stack_outputs
from warmkeeper.core import KEEPALIVE_PATH
from warmkeeper.core.errors import ExitCode, WarmkeeperError
from warmkeeper.naming import OUTPUT_KEEPALIVE_SECRET_ARN, OUTPUT_URL

# The Lambda answers at once (the wake is asked for, not waited for); ALB and Lambda cold start
# account for the rest.
TIMEOUT_SECONDS = 30.0


class WebhookError(WarmkeeperError):
    """The webhook was reached and refused, or could not be reached (exit 1)."""

    exit_code = ExitCode.FAILED


class InsecureWebhookError(WarmkeeperError):
    """The webhook's URL would carry the token in clear (exit 2: nothing was sent)."""

    exit_code = ExitCode.USAGE


def check_scheme(url: str, *, insecure: bool = False) -> None:
    """HTTPS, or plain HTTP when the caller accepted it with `insecure`; InsecureWebhookError otherwise."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "https" or (scheme == "http" and insecure):
        return
    if scheme == "http":
        raise InsecureWebhookError(
            f"{url}: refusing to send the keep-alive token over plain HTTP, where anyone on the path can "
            "read it and keep the environment awake; serve the environment over HTTPS "
            "(docs/technical/security.md) or pass --insecure to send it anyway"
        )
    raise InsecureWebhookError(f"{url}: not an http(s) URL")


@dataclass(frozen=True)
class Webhook:
    """Where the keep-alive webhook of one deployment is, and its token."""

    url: str  # <Url>/_warmkeeper/keepalive
    token: str
    secret_arn: str


@dataclass(frozen=True)
class Lease:
    """The webhook's 202 answer."""

    lease_until: str
    minutes: int
    state: str
    actions: tuple[str, ...]

    def describe(self) -> str:
        woke = " (waking)" if "SCALE_UP" in self.actions else ""
        return f"lease until {self.lease_until} ({self.minutes} min), service {self.state}{woke}"


def find_webhook(clients: AwsClients, stack_name: str) -> Webhook:
    """The webhook's URL and token from the deployed stack; ControlError (one line) otherwise."""
    outputs = stack_outputs(clients, stack_name)
    missing = [key for key in (OUTPUT_URL, OUTPUT_KEEPALIVE_SECRET_ARN) if not outputs.get(key)]
    if missing:
        raise ControlError(
            f"stack {stack_name} has no output {', '.join(missing)}: deploy it with this version first"
        )
    secret_arn = outputs[OUTPUT_KEEPALIVE_SECRET_ARN]
    with aws_errors(stack_name, clients.region):
        token = KeepaliveSecret(clients.secretsmanager, secret_arn).token()
    if not token:
        raise ControlError(f"the keep-alive secret {secret_arn} is empty: put the token in it first")
    return Webhook(url=outputs[OUTPUT_URL].rstrip("/") + KEEPALIVE_PATH, token=token, secret_arn=secret_arn)


def _message(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return response.text.strip()[:200]
    return str(body.get("message") or body.get("error") or "") if isinstance(body, dict) else ""


def call_webhook(http: httpx.Client, webhook: Webhook, minutes: int, *, insecure: bool = False) -> Lease:
    """POST the keep-alive; the lease it granted, or WebhookError saying what went wrong.

    InsecureWebhookError, before anything is sent, for an ``http://`` URL unless `insecure`."""
    check_scheme(webhook.url, insecure=insecure)
    where = f"POST {webhook.url}"
    try:
        response = http.post(
            webhook.url,
            params={"minutes": minutes},
            headers={"Authorization": f"Bearer {webhook.token}", "Accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:  # DNS, refused, TLS, timeout: the webhook was not reached
        raise WebhookError(f"{where}: {type(exc).__name__}: {exc}") from None
    if response.status_code == httpx.codes.UNAUTHORIZED:
        raise WebhookError(
            f"{where}: 401, the token was refused: the secret {webhook.secret_arn} no longer holds the "
            "token the Lambda checks (rotated?); wait 5 minutes (the Lambda caches it) or fix the secret"
        )
    if response.status_code != httpx.codes.ACCEPTED:
        detail = _message(response)
        raise WebhookError(f"{where}: HTTP {response.status_code}" + (f": {detail}" if detail else ""))
    try:
        body = response.json()
        return Lease(
            lease_until=str(body["lease_until"]),
            minutes=int(body["minutes"]),
            state=str(body["state"]),
            actions=tuple(str(action) for action in body.get("actions", [])),
        )
    except (ValueError, KeyError, TypeError):
        raise WebhookError(f"{where}: 202 without the expected JSON: {response.text[:200]!r}") from None
