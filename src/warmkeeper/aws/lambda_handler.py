"""The warmkeeper Lambda: one thin handler for five kinds of event.

- an ALB request (the waker: cold requests, ``/_warmkeeper/status``, the keep-alive webhook);
- an API Gateway HTTP API request (payload format 2.0, ``front_door = "http_api"``): the same
  decisions, answered in the 2.0 response shape;
- a call through the waker's function URL (payload format 2.0 too): an app's task asking for one
  of its internal services (:mod:`warmkeeper.aws.internal_services`);
- the idle alarm's "CloudWatch Alarm State Change" from EventBridge;
- the one-minute "Scheduled Event" from EventBridge (reconcile);
- an "ECS Task State Change" of the service's tasks (a task stopping: a Spot interruption, a crash),
  which reconciles at once so the warm route is taken away when no healthy target remains;
- a warm schedule's keep-warm event from EventBridge Scheduler (``{"warmkeeper": "warm-window"}``):
  a lease for the window, and a wake (infra/schedules.py); nothing on a date the event lists in
  ``skip`` (the environment's ``warm_schedule_skip``), which is logged;
- anything else is logged and ignored.

A request event of either shape that is not what that front door sends (a header list where an
object belongs, a number for a path, an event that is not an object at all) gets a 400 naming the
field and wakes nothing; an answer to a request never raises out of the handler.

Clients and settings are built once per execution environment (the Lambda's cold start) and reused;
tests inject an engine with :func:`use`. Everything it says goes through the one log channel
(:mod:`warmkeeper.aws.logs`), with the invocation's request id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from warmkeeper.aws import logs
from warmkeeper.aws.alb import is_alb_event, is_multi_value, request_from_event, response_to_alb
from warmkeeper.aws.api_gateway import (
    BadEventError,
    bad_request,
    is_http_api_event,
    request_from_http_api_event,
    response_to_http_api,
)
from warmkeeper.aws.clients import AwsClients
from warmkeeper.aws.engine import Warmkeeper, build_engine
from warmkeeper.aws.internal_services import INTERNAL_ERROR_RETRY_SECONDS, is_function_url_event
from warmkeeper.aws.lambda_settings import Settings
from warmkeeper.aws.snapshots import shared_snapshots
from warmkeeper.core import HttpResponse, IncomingRequest, json_response
from warmkeeper.core.activity import ACTIVITY_PATH
from warmkeeper.core.front_doors import front_door
from warmkeeper.core.schedule import ScheduleError, warm_window_lease, warm_window_skipped

# What the waker refuses to read as a request (a 400 naming the field, never a wake).
_READ_ERRORS = (BadEventError,)

ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
SCHEDULED_EVENT = "Scheduled Event"
TASK_STATE_CHANGE = "ECS Task State Change"


_engine: Warmkeeper | None = None
logs.configure()


def use(engine: Warmkeeper | None) -> None:
    """Set (or with None, forget) the engine the handler uses."""
    global _engine
    _engine = engine


def _current_engine() -> Warmkeeper:
    global _engine
    if _engine is None:
        settings = Settings.from_env()
        # The edge: the function's role and region (AWS_REGION) through the default chain.
        _engine = build_engine(settings, AwsClients.for_region(), snapshots=shared_snapshots(settings))
    return _engine


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    logs.set_request_id(getattr(context, "aws_request_id", None))
    if not isinstance(event, Mapping):
        # Neither front door sends this; answer in the 2.0 shape (an ALB would show its own 502).
        return _refused(BadEventError(f"event: not a JSON object (got {type(event).__name__})"), None)
    if is_alb_event(event):
        multi_value = is_multi_value(event)
        try:
            alb_request = request_from_event(event)
        except _READ_ERRORS as exc:
            return _refused(exc, lambda response: response_to_alb(response, multi_value))
        return response_to_alb(_answer(lambda: alb_request, context, _alb_client), multi_value)
    if is_function_url_event(event):
        try:
            internal = request_from_http_api_event(_http_api_shape(event))
        except _READ_ERRORS as exc:
            return _refused(exc, None)
        if internal.path == ACTIVITY_PATH:
            return response_to_http_api(_activity_answer(internal))
        return response_to_http_api(_internal_answer(internal))
    if is_http_api_event(event):
        try:
            request = _with_context_user_agent(request_from_http_api_event(_http_api_shape(event)), event)
        except _READ_ERRORS as exc:
            return _refused(exc, None)
        source_ip = event["requestContext"]["http"].get("sourceIp")
        address = source_ip if isinstance(source_ip, str) else ""
        return response_to_http_api(_answer(lambda: request, context, lambda _request, _cdn: address))
    engine = _current_engine()
    detail_type = event.get("detail-type")
    if detail_type == ALARM_STATE_CHANGE:
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            logs.log.warning("alarm event without a detail object ignored")
            return {"handled": None}
        result = engine.on_alarm(dict(detail))
        return {"handled": "alarm", "decision": result.decision.to_log_dict() if result else None}
    if detail_type == SCHEDULED_EVENT:
        result = engine.reconcile()
        return {"handled": "reconcile", "decision": result.decision.to_log_dict()}
    if detail_type == TASK_STATE_CHANGE:
        # The EventBridge rule (infra/task_events.py) sends this service's stopping tasks only.
        result = engine.on_task_stopping()
        return {"handled": "task-state", "decision": result.decision.to_log_dict()}
    try:
        window_minutes = warm_window_lease(dict(event))
        skipped = warm_window_skipped(dict(event), engine.clock()) if window_minutes is not None else None
    except ScheduleError as exc:
        logs.log.warning("bad warm-window event", extra={"error": str(exc)})
        return {"handled": None, "error": str(exc)}
    if skipped is not None:
        # A skip date (warm_schedule_skip): the scheduler's cron cannot leave it out, so the window is
        # not opened here. No lease, no wake: the idle rule and requests decide as on any day.
        logs.log.info(
            "warm window skipped",
            extra={
                "window": event.get("window"),
                "date": skipped.isoformat(),
                "reason": "warm_schedule_skip",
            },
        )
        return {"handled": "warm-window", "skipped": skipped.isoformat(), "lease_until": None}
    if window_minutes is not None:
        until, result = engine.keepalive(window_minutes)
        return {
            "handled": "warm-window",
            "lease_until": until.isoformat(),
            "decision": result.decision.to_log_dict(),
        }
    logs.log.warning("unknown event ignored", extra={"keys": sorted(str(key) for key in event)})
    return {"handled": None}


def _refused(error: BadEventError, shape: Callable[[HttpResponse], dict[str, Any]] | None) -> dict[str, Any]:
    logs.log.warning("bad request event", extra={"error": str(error)})
    response = bad_request(error)
    return shape(response) if shape is not None else response_to_http_api(response)


def _http_api_shape(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """What the 2.0 reader takes on trust, checked here: the objects it walks into and the header
    values it would otherwise turn into strings."""
    http = event.get("requestContext", {}).get("http")
    if not isinstance(http, Mapping):
        raise BadEventError("requestContext.http: missing or not an object")
    headers = event.get("headers")
    if headers is not None:
        if not isinstance(headers, Mapping):
            raise BadEventError("headers: not an object")
        for name, value in headers.items():
            if not isinstance(value, str):
                shown = str(name) if len(str(name)) <= 40 else str(name)[:37] + "..."
                raise BadEventError(f"headers.{shown}: not a string")
    encoded = event.get("isBase64Encoded", False)
    if not isinstance(encoded, bool):
        raise BadEventError("isBase64Encoded: not true or false")
    return event


def _with_context_user_agent(request: IncomingRequest, event: Mapping[str, Any]) -> IncomingRequest:
    """API Gateway also reports the client's User-Agent as requestContext.http.userAgent: used when
    the headers carry none (AWS's published example event has it there alone)."""
    agent = event["requestContext"]["http"].get("userAgent")
    if request.header("user-agent") or not isinstance(agent, str) or not agent:
        return request
    return replace(request, headers={**request.headers, "user-agent": agent})


# Retry-After when the failure came before the policy could be read (the settings themselves).
_FALLBACK_RETRY_SECONDS = 10


def _alb_client(request: IncomingRequest, cdn: bool) -> str:
    """The client's address behind a load balancer: CloudFront's CloudFront-Viewer-Address (IP:port)
    when CloudFront is the front door (the load balancer then sees CloudFront's addresses), else the
    last X-Forwarded-For entry, the one the load balancer itself appended."""
    if cdn:
        viewer = request.header("cloudfront-viewer-address").strip()
        return viewer.rsplit(":", 1)[0].strip("[]") if ":" in viewer else viewer
    return request.header("x-forwarded-for").split(",")[-1].strip()


def _answer(
    request: Callable[[], IncomingRequest],
    context: Any,
    client: Callable[[IncomingRequest, bool], str],
) -> HttpResponse:
    engine: Warmkeeper | None = None
    try:
        engine = _current_engine()
        incoming = request()
        cdn = front_door(engine.settings.front_door).cdn
        incoming = replace(incoming, client_address=client(incoming, cdn))
        return engine.handle_request(incoming, remaining_seconds=_remaining_seconds(context))
    except Exception as exc:
        # The waker is the front door's default: it must answer something a client can retry,
        # never let the load balancer or API Gateway turn a crash into an opaque 502.
        logs.log.error("request failed", extra={"error": repr(exc)})
        retry = engine.policy.retry_after_seconds if engine is not None else _FALLBACK_RETRY_SECONDS
        return json_response(
            503,
            {
                "error": "unavailable",
                "message": "warmkeeper could not check the service; retry shortly",
                "retry_after_seconds": retry,
            },
            headers={"Retry-After": str(retry)},
        )


def _activity_answer(request: IncomingRequest) -> HttpResponse:
    """A beacon report's answer; an error inside the waker is a 503 (the beacon reports again soon)."""
    try:
        return _current_engine().activity_report(request)
    except Exception as exc:
        logs.log.error("activity report failed", extra={"error": repr(exc)})
        return json_response(503, {"error": "unavailable", "message": "the report was not recorded"})


def _internal_answer(request: IncomingRequest) -> HttpResponse:
    """An internal wake's answer; an error inside the waker is a 503 the caller can retry too."""
    try:
        return _current_engine().internal_wake(request)
    except Exception as exc:
        logs.log.error("internal wake failed", extra={"error": repr(exc)})
        retry = INTERNAL_ERROR_RETRY_SECONDS
        return json_response(
            503,
            {
                "error": "unavailable",
                "message": "warmkeeper could not wake the service",
                "retry_after": retry,
            },
            headers={"Retry-After": str(retry)},
        )


def _remaining_seconds(context: Any) -> Callable[[], float] | None:
    """What is left of this invocation, from the Lambda context (None without one: no bound)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return lambda: float(remaining()) / 1000.0
