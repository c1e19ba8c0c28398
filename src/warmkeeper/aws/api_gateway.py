"""API Gateway HTTP API <-> warmkeeper: the Lambda proxy integration's payload format 2.0.

What differs from an ALB event (API Gateway developer guide, "Create AWS Lambda proxy integrations
for HTTP APIs", payload format 2.0): header names arrive lower-case and a repeated header is one
comma-joined value; the request's cookies come apart in a ``cookies`` list, not in a ``cookie``
header; ``rawQueryString`` keeps the query as the client sent it (repeated keys included), while
``queryStringParameters`` joins repeated values with commas, so only the raw string is used; the
method and path are under ``requestContext.http``; a body may be base64 (``isBase64Encoded``).

The answer is the 2.0 response: ``statusCode``, ``headers``, ``cookies`` (each becomes one
``set-cookie`` header), ``body``, ``isBase64Encoded``.

An event that claims to be a 2.0 request but lacks what a request needs is refused with a 400 that
names the field (:class:`BadEventError`), instead of a guess or a crash.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from warmkeeper.core import HttpResponse, IncomingRequest, json_response
from warmkeeper.core.errors import WarmkeeperError

PAYLOAD_VERSION = "2.0"


class BadEventError(WarmkeeperError, ValueError):
    """A request event the waker cannot read: answered 400, naming the field."""


def is_http_api_event(event: Mapping[str, Any]) -> bool:
    """A request from an API Gateway HTTP API (any payload version: 1.0 is refused with a 400)."""
    context = event.get("requestContext")
    return isinstance(context, Mapping) and "apiId" in context and "elb" not in context


def _field(event: Mapping[str, Any], *path: str) -> Any:
    value: Any = event
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def request_from_http_api_event(event: Mapping[str, Any]) -> IncomingRequest:
    """The request of a payload format 2.0 event; :class:`BadEventError` naming what is wrong."""
    version = event.get("version")
    if version != PAYLOAD_VERSION:
        raise BadEventError(
            f"payload format version {version!r} is not supported: the waker's integration must use "
            f"payloadFormatVersion {PAYLOAD_VERSION}"
        )
    method = _field(event, "requestContext", "http", "method")
    if not isinstance(method, str) or not method.strip():
        raise BadEventError("requestContext.http.method: missing or not a string")
    path = event.get("rawPath") or _field(event, "requestContext", "http", "path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise BadEventError("rawPath: missing or not a path starting with '/'")
    query = event.get("rawQueryString") or ""
    if not isinstance(query, str):
        raise BadEventError("rawQueryString: not a string")
    raw_headers = event.get("headers") or {}
    if not isinstance(raw_headers, Mapping):
        raise BadEventError("headers: not an object")
    headers = {str(name).lower(): str(value) for name, value in raw_headers.items()}
    cookies = event.get("cookies") or []
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        raise BadEventError("cookies: not a list of strings")
    if cookies:
        # One Cookie header again, as a client sends it (RFC 6265: pairs separated by "; ").
        headers["cookie"] = "; ".join(cookies)
    return IncomingRequest(method=method, path=path, query=query, headers=headers, body=_body(event))


def _body(event: Mapping[str, Any]) -> bytes:
    raw = event.get("body")
    if raw is None:
        return b""
    if not isinstance(raw, str):
        raise BadEventError("body: not a string")
    if not event.get("isBase64Encoded"):
        return raw.encode("utf-8")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise BadEventError("body: isBase64Encoded is true but the body is not valid base64") from None


def bad_request(error: BadEventError) -> HttpResponse:
    return json_response(400, {"error": "bad_request", "message": f"unreadable request event: {error}"})


def response_to_http_api(response: HttpResponse) -> dict[str, Any]:
    """The answer in payload format 2.0: Set-Cookie headers go to ``cookies``."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in response.headers.items():
        if name.lower() == "set-cookie":
            cookies.append(value)
        else:
            headers[name] = value
    return {
        "statusCode": response.status,
        "headers": headers,
        "cookies": cookies,
        "body": response.body,
        "isBase64Encoded": False,
    }
