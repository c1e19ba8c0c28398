"""Simulated clients and what they got: browsers (the waiting page's script), API clients (307 and
Retry-After), bots. Each client is a process; each of its requests goes through the simulated front
door (the ALB or the HTTP API).

A request **failed** when its answer is none of: the app's 200, the waiting page, a 307 back to the
same URL, a 503 with Retry-After, or (for the waiting page's status poll) the status document.
Answers the front door makes itself (ALB's 502 and 503, API Gateway's 429 and 5xx, its timeout) and
the waker's catch-all 503 (an error inside the waker, Retry-After or not) are always failures.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from warmkeeper.core.pages import RELOAD_AFTER_SECONDS, RELOAD_SPREAD_SECONDS
from warmkeeper_sim.front import Response
from warmkeeper_sim.world import World

BROWSER = {
    "accept": "text/html,application/xhtml+xml",
    "sec-fetch-mode": "navigate",
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
}
STATUS_POLL = {"accept": "application/json", "sec-fetch-mode": "cors", "user-agent": BROWSER["user-agent"]}
API = {"accept": "application/json", "user-agent": "cityguided-app/2.3"}
BOT = {"accept": "text/html", "user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"}
STATUS_PATH = "/_warmkeeper/status"
GIVE_UP_SECONDS = 300.0
PERSON_RELOAD_SECONDS = 5.0  # assumed: a person looking at an error page reloads after a moment


@dataclass
class Traffic:
    world: World
    requests: int = 0
    failed: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    app_200_times: list[float] = field(default_factory=list)
    client_done: list[float] = field(default_factory=list)  # seconds from a client's start to its 200
    gave_up: int = 0
    navigation_errors: int = 0  # a browser navigation answered by anything but a page it can show
    catch_all: int = 0  # the handler's catch-all 503: an error inside the waker
    front_door_own: int = 0  # answers the front door made itself (ALB 502/503, API Gateway 429/5xx)
    served_times: list[float] = field(default_factory=list)  # when each of this traffic's 200s came

    def send(self, path: str, headers: dict[str, str], kind: str) -> Response:
        self.requests += 1
        response = self.world.front.handle("GET", path, headers)
        label = f"{kind} {response.status} {response.source}"
        if "retry-after" in response.headers:
            label += " retry-after"
        catch_all = (
            response.source == "waker"
            and response.status == 503
            and "could not check the service" in response.body
        )
        if catch_all:
            self.catch_all += 1
            label += " catch-all"
        self.answers[label] += 1
        if response.source in ("alb", "apigw"):
            self.front_door_own += 1
        # The waker's catch-all (an error inside it) is a failure even with its Retry-After.
        if catch_all or not acceptable(kind, response):
            self.failed += 1
            self.failures[label] += 1
            if kind == "navigation":
                self.navigation_errors += 1
        if response.source == "app" and response.status == 200:
            self.app_200_times.append(self.world.kernel.now)
            self.served_times.append(self.world.kernel.now)
        return response

    def once(self, path: str, headers: dict[str, str], kind: str) -> None:
        """One request, whatever it gets (a flood's client)."""
        self.send(path, headers, kind)

    # the clients ----------------------------------------------------------------------------------------

    def browser(self, path: str = "/") -> None:
        kernel = self.world.kernel
        start = kernel.now
        response = self.send(path, BROWSER, "navigation")
        while kernel.now - start < GIVE_UP_SECONDS:
            if response.source == "app" and response.status == 200:
                self.client_done.append(kernel.now - start)
                return
            if is_waiting_page(response):
                if '"ready": true' in response.body:
                    kernel.sleep(1.0)
                else:
                    self._poll_status(start)
            elif response.status == 307:
                pass
            else:
                kernel.sleep(PERSON_RELOAD_SECONDS)
            response = self.send(path, BROWSER, "navigation")
        self.gave_up += 1

    def _poll_status(self, start: float) -> None:
        """The waiting page's script (core/pages.py): poll after the status' ``poll_after_seconds`` (3 s
        after an error), reload once routed."""
        kernel = self.world.kernel
        kernel.sleep(1.0)
        while kernel.now - start < GIVE_UP_SECONDS:
            response = self.send(STATUS_PATH, STATUS_POLL, "status")
            try:
                status = json.loads(response.body)
            except ValueError:
                kernel.sleep(3.0)
                continue
            if (
                isinstance(status, dict)
                and status.get("routing") == "service"
                and (status.get("healthy") or 0) > 0
            ):
                kernel.sleep(RELOAD_AFTER_SECONDS + kernel.random.random() * RELOAD_SPREAD_SECONDS)
                return
            kernel.sleep(float(status.get("poll_after_seconds", 2.0)) if isinstance(status, dict) else 2.0)

    def api_client(self, path: str = "/api/places") -> None:
        kernel = self.world.kernel
        start = kernel.now
        response = self.send(path, API, "api")
        while kernel.now - start < GIVE_UP_SECONDS:
            if response.source == "app" and response.status == 200:
                self.client_done.append(kernel.now - start)
                return
            if response.status == 307:
                pass
            elif response.status == 503 and "retry-after" in response.headers:
                kernel.sleep(float(response.headers["retry-after"]))
            else:
                kernel.sleep(PERSON_RELOAD_SECONDS)
            response = self.send(path, API, "api")
        self.gave_up += 1

    def bot(self, path: str = "/") -> None:
        self.send(path, BOT, "bot")


def is_waiting_page(response: Response) -> bool:
    return (
        response.status == 503
        and "retry-after" in response.headers
        and response.headers.get("content-type", "").startswith("text/html")
    )


def acceptable(kind: str, response: Response) -> bool:
    if response.source in ("alb", "apigw"):  # the front door's own answer (502, 503 without Retry-After)
        return False
    if response.source == "app":
        return response.status == 200
    if response.status == 307:
        return True
    if kind == "navigation":
        # A person navigating must see the waiting page, not a JSON error document.
        return is_waiting_page(response)
    if response.status == 503 and "retry-after" in response.headers:
        return True
    return kind == "status" and response.status == 200
