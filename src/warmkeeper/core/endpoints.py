"""The checks in front of the ``/_warmkeeper/*`` endpoints, shared by the Lambda and the twin's waker.

Both answer the same endpoints behind the same rules: the method, the keep-alive token as
``Authorization: Bearer TOKEN``, and the lease length asked in the query string. Each check raises
:class:`EndpointRefusal` with the complete answer (405, 401, 400...), so a handler is a straight line
of checks and one ``except EndpointRefusal`` returns whichever refused first. Standard library only,
no I/O: where the expected token comes from (Secrets Manager, the twin's memory) is the caller's.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

from warmkeeper.core.errors import WarmkeeperError
from warmkeeper.core.lease import LeaseError, bearer_token, lease_minutes, token_matches
from warmkeeper.core.machine import Policy
from warmkeeper.core.pages import HttpResponse, json_response, method_not_allowed
from warmkeeper.core.requests import IncomingRequest

UNAUTHORIZED_MESSAGE = "missing or wrong token (Authorization: Bearer TOKEN)"


class EndpointRefusal(WarmkeeperError):  # noqa: N818 - a refusal is an answer, not an error
    """An endpoint refuses the request; `response` is the whole answer to send (it never reaches the CLI,
    but like every exception of the project it derives from the one base)."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(f"{response.status}: {response.body}")
        self.response = response


def unauthorized() -> HttpResponse:
    """401, with the challenge that names the scheme (RFC 6750)."""
    return json_response(
        401,
        {"error": "unauthorized", "message": UNAUTHORIZED_MESSAGE},
        headers={"WWW-Authenticate": 'Bearer realm="warmkeeper"'},
    )


def bad_request(message: str) -> HttpResponse:
    return json_response(400, {"error": "bad_request", "message": message})


def query_value(query: str, name: str) -> str | None:
    """The first value of ``name`` in a raw query string (the ALB passes it still URL-encoded)."""
    values = parse_qs(query, keep_blank_values=True).get(name)
    return values[0] if values else None


def require_method(request: IncomingRequest, *methods: str) -> None:
    """405 unless the request's method is one of `methods`. ``Allow`` lists them, HEAD aside (it
    goes with GET without being announced)."""
    if request.method not in methods:
        raise EndpointRefusal(method_not_allowed(", ".join(m for m in methods if m != "HEAD")))


def require_token(request: IncomingRequest, expected: str | None) -> None:
    """401 unless the request carries ``Authorization: Bearer <expected>`` (constant-time check;
    an empty or missing expected token lets nothing through)."""
    if not token_matches(bearer_token(request.header("authorization")), expected):
        raise EndpointRefusal(unauthorized())


def requested_lease_minutes(request: IncomingRequest, policy: Policy) -> int:
    """The lease asked with ``?minutes=N``, bounded by the policy; 400 for what is not a whole number."""
    try:
        return lease_minutes(query_value(request.query, "minutes"), policy)
    except LeaseError as exc:
        raise EndpointRefusal(bad_request(str(exc))) from None


def keepalive_minutes(
    request: IncomingRequest, policy: Policy, expected_token: Callable[[], str | None]
) -> int:
    """The checks of ``POST /_warmkeeper/keepalive?minutes=N``, in order: the method, the token, the
    minutes. Returns the lease to grant; raises :class:`EndpointRefusal` otherwise.

    `expected_token` is called only once the method is right (on AWS it reads a secret); it may raise
    :class:`EndpointRefusal` itself when the token cannot be read.
    """
    require_method(request, "POST")
    require_token(request, expected_token())
    return requested_lease_minutes(request, policy)
