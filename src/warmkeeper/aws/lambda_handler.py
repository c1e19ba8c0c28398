"""The warmkeeper Lambda: one thin handler for five kinds of event.

- an ALB request (the waker: cold requests, ``/_warmkeeper/status``, the keep-alive webhook);
- an API Gateway HTTP API request (payload format 2.0, ``front_door = "http_api"``): the same
  decisions, answered in the 2.0 response shape; an unreadable event gets a 400 naming the field;
- the idle alarm's "CloudWatch Alarm State Change" from EventBridge;
- the one-minute "Scheduled Event" from EventBridge (reconcile);
- an "ECS Task State Change" of the service's tasks (a task stopping: a Spot interruption, a crash),
  which reconciles at once so the warm route is taken away when no healthy target remains;
- a warm schedule's keep-warm event from EventBridge Scheduler (``{"warmkeeper": "warm-window"}``):
  a lease for the window, and a wake (infra/schedules.py);
- anything else is logged and ignored.

Clients and settings are built once per execution environment (the Lambda's cold start) and reused;
tests inject an engine with :func:`use`. Everything it says goes through the one log channel
(:mod:`warmkeeper.aws.logs`), with the invocation's request id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
from warmkeeper.aws.lambda_settings import Settings
from warmkeeper.aws.snapshots import shared_snapshots
from warmkeeper.core import HttpResponse, IncomingRequest, json_response
from warmkeeper.core.schedule import ScheduleError, warm_window_lease

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


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    logs.set_request_id(getattr(context, "aws_request_id", None))
    engine = _current_engine()
    if is_alb_event(event):
        multi_value = is_multi_value(event)
        return response_to_alb(_answer(engine, lambda: request_from_event(event), context), multi_value)
    if is_http_api_event(event):
        try:
            request = request_from_http_api_event(event)
        except BadEventError as exc:
            logs.log.warning("bad request event", extra={"error": str(exc)})
            return response_to_http_api(bad_request(exc))
        return response_to_http_api(_answer(engine, lambda: request, context))
    detail_type = event.get("detail-type")
    if detail_type == ALARM_STATE_CHANGE:
        result = engine.on_alarm(dict(event.get("detail") or {}))
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
    except ScheduleError as exc:
        logs.log.warning("bad warm-window event", extra={"error": str(exc)})
        return {"handled": None, "error": str(exc)}
    if window_minutes is not None:
        until, result = engine.keepalive(window_minutes)
        return {
            "handled": "warm-window",
            "lease_until": until.isoformat(),
            "decision": result.decision.to_log_dict(),
        }
    logs.log.warning("unknown event ignored", extra={"keys": sorted(event)})
    return {"handled": None}


def _answer(engine: Warmkeeper, request: Callable[[], IncomingRequest], context: Any) -> HttpResponse:
    try:
        return engine.handle_request(request(), remaining_seconds=_remaining_seconds(context))
    except Exception as exc:
        # The waker is the front door's default: it must answer something a client can retry,
        # never let the load balancer or API Gateway turn a crash into an opaque 502.
        logs.log.error("request failed", extra={"error": repr(exc)})
        retry = engine.policy.retry_after_seconds
        return json_response(
            503,
            {
                "error": "unavailable",
                "message": "warmkeeper could not check the service; retry shortly",
                "retry_after_seconds": retry,
            },
            headers={"Retry-After": str(retry)},
        )


def _remaining_seconds(context: Any) -> Callable[[], float] | None:
    """What is left of this invocation, from the Lambda context (None without one: no bound)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return lambda: float(remaining()) / 1000.0
