"""Application Load Balancer <-> warmkeeper: the Lambda target's event and response shapes.

ALB sends either ``headers`` / ``queryStringParameters`` (one value each) or, when the target group
has multi-value headers on, ``multiValueHeaders`` / ``multiValueQueryStringParameters``; never both.
The response must use the same shape as the request. Query strings arrive as the client sent them
(still URL-encoded) and bodies may be base64. The response JSON must stay within 1 MB.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from warmkeeper.core import HttpResponse, IncomingRequest, json_response

# Largest response JSON ALB accepts from a Lambda target (Elastic Load Balancing user guide,
# "Lambda functions as targets", limits).
ALB_MAX_RESPONSE_BYTES = 1_000_000


def is_alb_event(event: Mapping[str, Any]) -> bool:
    context = event.get("requestContext")
    return isinstance(context, Mapping) and "elb" in context


def is_multi_value(event: Mapping[str, Any]) -> bool:
    return "multiValueHeaders" in event


def request_from_event(event: Mapping[str, Any]) -> IncomingRequest:
    multi = is_multi_value(event)
    headers: dict[str, str] = {}
    if multi:
        for name, values in (event.get("multiValueHeaders") or {}).items():
            # Several values of one header mean the same as one comma-separated value (RFC 9110).
            headers[name.lower()] = ", ".join(str(v) for v in values or [])
        pairs = [
            (name, str(value))
            for name, values in (event.get("multiValueQueryStringParameters") or {}).items()
            for value in values or []
        ]
    else:
        headers = {name.lower(): str(value) for name, value in (event.get("headers") or {}).items()}
        pairs = [(name, str(value)) for name, value in (event.get("queryStringParameters") or {}).items()]
    query = "&".join(f"{name}={value}" if value != "" else name for name, value in pairs)
    raw_body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw_body, validate=False)
        except (binascii.Error, ValueError):
            body = b""
    else:
        body = str(raw_body).encode("utf-8")
    return IncomingRequest(
        method=str(event.get("httpMethod") or "GET"),
        path=str(event.get("path") or "/"),
        query=query,
        headers=headers,
        body=body,
    )


def _status_description(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"{status} {phrase}".strip()


def response_to_alb(response: HttpResponse, multi_value: bool) -> dict[str, Any]:
    """The Lambda's answer in the shape ALB expects, within ALB's 1 MB limit."""
    result = _shape(response, multi_value)
    if len(json.dumps(result).encode("utf-8")) > ALB_MAX_RESPONSE_BYTES:
        # Never hand ALB something it rejects with its own opaque 502.
        result = _shape(
            json_response(
                500, {"error": "response_too_large", "message": "the waker's answer exceeded 1 MB"}
            ),
            multi_value,
        )
    return result


def _shape(response: HttpResponse, multi_value: bool) -> dict[str, Any]:
    result: dict[str, Any] = {
        "statusCode": response.status,
        "statusDescription": _status_description(response.status),
        "isBase64Encoded": False,
        "body": response.body,
    }
    if multi_value:
        result["multiValueHeaders"] = {name: [value] for name, value in response.headers.items()}
    else:
        result["headers"] = dict(response.headers)
    return result
