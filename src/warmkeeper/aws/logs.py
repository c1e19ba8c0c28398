"""The Lambda's one log channel: stdlib ``logging``, in Lambda's JSON log format, request id on every line.

The function is deployed with ``LoggingConfig.LogFormat = JSON`` (see :mod:`warmkeeper.infra.waker_function`).
Then the Python runtime formats every ``logging`` record itself as one JSON object: ``timestamp``,
``level``, ``message``, ``logger``, ``requestId`` and, at the top level, the record's ``extra``
fields; its level comes from the function's ApplicationLogLevel (Lambda developer guide, "Using
Lambda advanced logging controls with Python"; the runtime's formatter is ``JsonFormatter`` in
aws-lambda-python-runtime-interface-client). So the code only logs: a decision is
``log.info("decision", extra={...})``, and Logs Insights filters on ``message = "decision"``.

Metric lines (:mod:`warmkeeper.aws.metrics`) travel the same channel: their ``extra`` is an EMF
document, so the runtime's JSON object *is* the EMF document, with the request id beside it.

Off Lambda (tests, a local run of the handler) :func:`configure` installs :class:`JsonFormatter`,
which writes the same shape, so what the tests parse is what CloudWatch Logs receives.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

CHANNEL = "warmkeeper"
log = logging.getLogger(CHANNEL)

# The invocation being served (off Lambda; on Lambda the runtime puts it on each record itself).
_request_id: ContextVar[str | None] = ContextVar("warmkeeper_request_id", default=None)

# What every LogRecord carries, so the rest is the caller's `extra` (as the runtime decides it).
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "aws_request_id"}


def set_request_id(request_id: str | None) -> None:
    """The request id of the invocation that starts now (from the Lambda context)."""
    _request_id.set(request_id)


def on_lambda_json_logs() -> bool:
    """True inside a Lambda function whose log format is JSON: the runtime formats the records."""
    return os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"


class JsonFormatter(logging.Formatter):
    """Lambda's JSON application log shape, for where the runtime does not format the records."""

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, tz=UTC)
        result: dict[str, Any] = {
            "timestamp": created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{created.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": getattr(record, "aws_request_id", None) or _request_id.get(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            result["errorType"] = record.exc_info[0].__name__
            result["errorMessage"] = str(record.exc_info[1])
            result["stackTrace"] = traceback.format_tb(record.exc_info[2])
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in result:
                result[key] = value
        return json.dumps({k: v for k, v in result.items() if v is not None}, default=str)


def configure() -> None:
    """Once per execution environment. On Lambda with JSON logs the runtime's handler on the root
    logger does the work; elsewhere the channel gets its own JSON handler on standard output."""
    if on_lambda_json_logs():
        return
    if not any(isinstance(h.formatter, JsonFormatter) for h in log.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
