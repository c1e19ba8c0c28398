"""Pure logic of warmkeeper (standard library only, no I/O), shared by the Lambda and the local twin.

- :func:`decide`: the scale-to-zero state machine, ``Observation + Policy + now -> Decision``.
- :func:`classify_request` / :func:`answer_while_cold`: the answer to a request that reached the waker.
- :mod:`warmkeeper.core.hold`: the one controller of a cold request (wake, hold, answer) and of a
  decision's actions, which the Lambda's engine and the local twin both run through their ports.
- :mod:`warmkeeper.core.pages`: the rendered answers (waiting page, 503 JSON, 307), byte for byte
  the same on AWS and locally.
- :func:`lease_minutes` / :func:`extend_lease` / :func:`token_matches`: keep-alive leases.
- :mod:`warmkeeper.core.endpoints`: the method, token and lease checks in front of the
  ``/_warmkeeper/*`` endpoints (:class:`EndpointRefusal` carries the answer).
- :func:`status_report` / :class:`StatusReport`: the shared status report.
"""

from warmkeeper.core.endpoints import (
    EndpointRefusal,
    bad_request,
    keepalive_minutes,
    query_value,
    requested_lease_minutes,
    require_method,
    require_token,
    unauthorized,
)
from warmkeeper.core.lease import LeaseError, bearer_token, extend_lease, lease_minutes, token_matches
from warmkeeper.core.machine import (
    DEFAULT_IGNORE_USER_AGENTS,
    Action,
    Decision,
    Guard,
    Observation,
    Policy,
    PolicyError,
    Routing,
    State,
    activity_reference,
    decide,
    decide_sleep,
    derive_state,
    idle_seconds,
    is_ready,
    lease_active,
    wake_failed,
)
from warmkeeper.core.pages import (
    ENDPOINT_PREFIX,
    KEEPALIVE_PATH,
    STATUS_PATH,
    HttpResponse,
    json_response,
    method_not_allowed,
    not_found,
    redirect_to_same_url,
    unavailable,
    waiting_page,
)
from warmkeeper.core.report import StatusReport, TaskStatus, status_report
from warmkeeper.core.requests import (
    ColdAnswer,
    IncomingRequest,
    RequestKind,
    answer_while_cold,
    classify_request,
)

__all__ = [
    "DEFAULT_IGNORE_USER_AGENTS",
    "ENDPOINT_PREFIX",
    "KEEPALIVE_PATH",
    "STATUS_PATH",
    "Action",
    "ColdAnswer",
    "Decision",
    "EndpointRefusal",
    "Guard",
    "HttpResponse",
    "IncomingRequest",
    "LeaseError",
    "Observation",
    "Policy",
    "PolicyError",
    "RequestKind",
    "Routing",
    "State",
    "StatusReport",
    "TaskStatus",
    "activity_reference",
    "answer_while_cold",
    "bad_request",
    "bearer_token",
    "classify_request",
    "decide",
    "decide_sleep",
    "derive_state",
    "extend_lease",
    "idle_seconds",
    "is_ready",
    "json_response",
    "keepalive_minutes",
    "lease_active",
    "lease_minutes",
    "method_not_allowed",
    "not_found",
    "query_value",
    "redirect_to_same_url",
    "requested_lease_minutes",
    "require_method",
    "require_token",
    "status_report",
    "token_matches",
    "unauthorized",
    "unavailable",
    "waiting_page",
    "wake_failed",
]
