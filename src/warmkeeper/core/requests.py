"""The answer to a request that reached the waker: classify it, then plan the reply.

A browser navigating gets the waiting page; an API call (JSON, XHR, not a GET) may be held until
traffic goes to a healthy service, then redirected (307) to the same URL, else answered 503 with
Retry-After; a configured bot or uptime checker, or a client that sends no User-Agent at all, gets
503 and never wakes the service. Whether and
how long a request is held is :func:`warmkeeper.core.hold.answer_cold_request`'s plan, shared by the
Lambda and the twin's waker: it asks :func:`answer_while_cold` for every answer that is not a hold.
"""

from __future__ import annotations

import html
import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from warmkeeper.core.machine import Policy, State
from warmkeeper.core.pages import (
    ENDPOINT_PREFIX,
    KEEPALIVE_PATH,
    STATUS_PATH,
    HttpResponse,
    redirect_to_same_url,
    unavailable,
    waiting_page,
)


class RequestKind(StrEnum):
    NAVIGATION = "navigation"  # a browser loading a page: gets the waiting page
    API = "api"  # JSON / XHR / fetch / not a GET: held, then 307 or 503
    IGNORED = "ignored"  # a configured bot or uptime checker, or no User-Agent: 503, no wake
    STATUS = "status"  # /_warmkeeper/status
    KEEPALIVE = "keepalive"  # /_warmkeeper/keepalive
    UNKNOWN_ENDPOINT = "unknown_endpoint"  # any other /_warmkeeper/ path: 404, no wake


@dataclass(frozen=True)
class IncomingRequest:
    """A request as the waker sees it. Header names are stored lower-case (one value each)."""

    method: str
    path: str
    query: str = ""  # the raw query string, without "?"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    # The client's address as the front door saw it (each side says where it comes from); "" unknown.
    client_address: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", self.method.upper())
        object.__setattr__(self, "path", self.path or "/")
        object.__setattr__(self, "headers", {k.lower(): v for k, v in self.headers.items()})

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    @property
    def path_and_query(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


_WORD = re.compile(r"[0-9a-z]+")


def agent_words(text: str) -> tuple[str, ...]:
    """The words of a User-Agent or of a name in the ignore list: runs of letters and digits, lower-case."""
    return tuple(_WORD.findall(text.lower()))


def is_ignored_agent(user_agent: str, policy: Policy) -> bool:
    """True when the User-Agent is empty or names an ignored agent.

    A name matches when its words appear in a row among the User-Agent's words, so "bot" matches
    "(+http://www.google.com/bot.html)" and "Uptime-Kuma" matches "Uptime-Kuma/1.23", while a phone
    whose model merely contains the letters ("CUBOT X30") is a visitor. A client that says nothing
    about itself is a script or a probe, not a person's browser: it does not wake the service.
    """
    words = agent_words(user_agent)
    if not words:
        return True
    for name in policy.ignore_user_agents:
        needle = agent_words(name)
        size = len(needle)
        if size and any(words[i : i + size] == needle for i in range(len(words) - size + 1)):
            return True
    return False


def is_outsider(request: IncomingRequest, policy: Policy) -> bool:
    """True when the environment is private (``wake_allowed_from``) and the client is not in it; an
    unknown or unreadable address is outside."""
    if not policy.wake_allowed_from:
        return False
    try:
        client = ipaddress.ip_address(request.client_address.strip())
    except ValueError:
        return True
    return not any(client in ipaddress.ip_network(cidr, strict=False) for cidr in policy.wake_allowed_from)


def is_navigation(request: IncomingRequest) -> bool:
    """A browser loading a document (not a script's fetch/XHR)."""
    if request.method not in ("GET", "HEAD"):
        return False
    if request.header("x-requested-with").lower() == "xmlhttprequest":
        return False
    if "json" in request.header("content-type").lower():
        return False
    # Browsers send Sec-Fetch-Mode on every request: "navigate" only for a document load.
    fetch_mode = request.header("sec-fetch-mode").lower()
    if fetch_mode:
        return fetch_mode == "navigate"
    return "text/html" in request.header("accept").lower()


def classify_request(request: IncomingRequest, policy: Policy) -> RequestKind:
    if request.path == STATUS_PATH:
        return RequestKind.STATUS
    if request.path == KEEPALIVE_PATH:
        return RequestKind.KEEPALIVE
    if request.path.startswith(ENDPOINT_PREFIX) or request.path == ENDPOINT_PREFIX.rstrip("/"):
        return RequestKind.UNKNOWN_ENDPOINT
    # A client outside a private environment is answered like an ignored agent: it never wakes it.
    if is_outsider(request, policy) or is_ignored_agent(request.header("user-agent"), policy):
        return RequestKind.IGNORED
    if is_navigation(request):
        return RequestKind.NAVIGATION
    return RequestKind.API


def private_environment(app_name: str) -> HttpResponse:
    """403 for a client outside a private environment: a short page, nothing woken, no retry."""
    name = html.escape(app_name)
    body = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{name}: private</title>'
        f"</head><body><h1>{name} is private</h1><p>This environment only answers its own team's "
        "network. Nothing was started.</p></body></html>\n"
    )
    return HttpResponse(403, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}, body)


@dataclass(frozen=True)
class ColdAnswer:
    """The plan for one request: wake or not, hold (poll again) or answer now."""

    wake: bool
    hold: bool
    response: HttpResponse | None  # None exactly when hold is true


def answer_while_cold(
    request: IncomingRequest,
    kind: RequestKind,
    policy: Policy,
    *,
    app_name: str,
    state: State,
    ready: bool,
    wake_elapsed_seconds: float | None = None,
    wake_failed: bool = False,
    route_settling_seconds: float = 0.0,
) -> ColdAnswer:
    """Plan the reply to an ordinary request that reached the waker.

    ``ready`` is true when a target is healthy AND traffic is routed to it (only then may a client be
    sent back to the same URL). Whether a hold can still succeed, and for how long, is the hold's own
    planning (:func:`warmkeeper.core.hold.answer_cold_request`): here a request that could be held is.
    ``route_settling_seconds``: how long the front door may still take to apply a warm route created
    moments ago; until then a 307 would bring the client straight back here (below).
    """
    if kind in (RequestKind.STATUS, RequestKind.KEEPALIVE, RequestKind.UNKNOWN_ENDPOINT):
        raise ValueError(f"{kind.value} requests are endpoints, not cold requests")
    retry = policy.retry_after_seconds
    if kind is RequestKind.IGNORED and is_outsider(request, policy):
        return ColdAnswer(wake=False, hold=False, response=private_environment(app_name))
    if kind is RequestKind.IGNORED:
        if ready:
            return ColdAnswer(wake=False, hold=False, response=redirect_to_same_url(request.path_and_query))
        return ColdAnswer(
            wake=False,
            hold=False,
            response=unavailable(
                state,
                retry,
                "The service is asleep; this client is configured not to wake it.",
                error="asleep",
            ),
        )
    if kind is RequestKind.NAVIGATION:
        # Always the page, even when ready: it reloads after a moment, which avoids a redirect loop
        # while a new listener rule is still spreading through the load balancer.
        return ColdAnswer(
            wake=not ready,
            hold=False,
            response=waiting_page(
                app_name,
                state,
                wake_elapsed_seconds or 0.0,
                retry,
                ready=ready,
                wake_failed=wake_failed,
            ),
        )
    if ready and route_settling_seconds > 0:
        # A 307 now would come back to the waker until the route is applied, and again at once: a
        # client following redirects gives up after 20 or 30 of them ("too many redirects"; the
        # simulated herd behind the HTTP API saw about 50 a client). Tell it when instead.
        wait = max(1, math.ceil(route_settling_seconds))
        return ColdAnswer(
            wake=False,
            hold=False,
            response=unavailable(
                state,
                wait,
                f"The service is ready; its route is being applied. Retry in {wait} s.",
                error="routing",
            ),
        )
    if ready:
        return ColdAnswer(wake=False, hold=False, response=redirect_to_same_url(request.path_and_query))
    if wake_failed:
        # Holding would only make the client wait for the same 503.
        return ColdAnswer(
            wake=True,
            hold=False,
            response=unavailable(state, retry, "The service is not healthy yet; try again shortly."),
        )
    return ColdAnswer(wake=True, hold=True, response=None)
