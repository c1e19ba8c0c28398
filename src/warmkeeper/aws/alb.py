"""Application Load Balancer <-> warmkeeper: the Lambda target's event and response shapes.

ALB sends either ``headers`` / ``queryStringParameters`` (one value each) or, when the target group
has multi-value headers on, ``multiValueHeaders`` / ``multiValueQueryStringParameters``; never both.
The response must use the same shape as the request. Query strings arrive as the client sent them
(still URL-encoded) and bodies may be base64. The response JSON must stay within 1 MB.

An event that is not in that shape (a header list instead of an object, a number for a path or a
method...) is refused with :class:`~warmkeeper.aws.api_gateway.BadEventError` naming the field, which
the handler answers 400: nothing is coerced into a request that would wake the service.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from warmkeeper.aws.api_gateway import BadEventError
from warmkeeper.core import HttpResponse, IncomingRequest, json_response

# Largest response JSON ALB accepts from a Lambda target (Elastic Load Balancing user guide,
# "Lambda functions as targets", limits).
ALB_MAX_RESPONSE_BYTES = 1_000_000


def is_alb_event(event: Mapping[str, Any]) -> bool:
    context = event.get("requestContext")
    return isinstance(context, Mapping) and "elb" in context


def is_multi_value(event: Mapping[str, Any]) -> bool:
    return "multiValueHeaders" in event


# An HTTP method is a token (RFC 9110): letters for every method a browser or client sends.
_METHOD = re.compile(r"[A-Za-z]{1,20}")


def _single_values(event: Mapping[str, Any], key: str) -> dict[str, str]:
    raw = event.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise BadEventError(f"{key}: not an object")
    for name, value in raw.items():
        if not isinstance(value, str):
            raise BadEventError(f"{key}.{_name(name)}: not a string")
    return {str(name): value for name, value in raw.items()}


def _multi_values(event: Mapping[str, Any], key: str) -> dict[str, list[str]]:
    raw = event.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise BadEventError(f"{key}: not an object")
    for name, values in raw.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise BadEventError(f"{key}.{_name(name)}: not a list of strings")
    return {str(name): list(values) for name, values in raw.items()}


def _name(name: object) -> str:
    """A header or parameter name as an error message shows it (a client chose it: kept short)."""
    text = str(name)
    return text if len(text) <= 40 else text[:37] + "..."


def request_from_event(event: Mapping[str, Any]) -> IncomingRequest:
    """The request of an ALB event; :class:`BadEventError` naming the field that is not in shape."""
    method = event.get("httpMethod")
    if not isinstance(method, str) or not _METHOD.fullmatch(method):
        raise BadEventError("httpMethod: missing or not an HTTP method")
    path = event.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise BadEventError("path: missing or not a path starting with '/'")
    headers: dict[str, str] = {}
    if is_multi_value(event):
        for name, values in _multi_values(event, "multiValueHeaders").items():
            # Several values of one header mean the same as one comma-separated value (RFC 9110).
            headers[name.lower()] = ", ".join(values)
        pairs = [
            (name, value)
            for name, values in _multi_values(event, "multiValueQueryStringParameters").items()
            for value in values
        ]
    else:
        headers = {name.lower(): value for name, value in _single_values(event, "headers").items()}
        pairs = list(_single_values(event, "queryStringParameters").items())
    query = "&".join(f"{name}={value}" if value != "" else name for name, value in pairs)
    return IncomingRequest(method=method, path=path, query=query, headers=headers, body=_body(event))


def _body(event: Mapping[str, Any]) -> bytes:
    encoded = event.get("isBase64Encoded", False)
    if not isinstance(encoded, bool):
        raise BadEventError("isBase64Encoded: not true or false")
    raw = event.get("body")
    if raw is None:
        return b""
    if not isinstance(raw, str):
        raise BadEventError("body: not a string")
    if not encoded:
        return raw.encode("utf-8", errors="replace")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise BadEventError("body: isBase64Encoded is true but the body is not valid base64") from None


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
