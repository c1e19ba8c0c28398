"""The twin's model of an HTTP API front door: a discovery list of healthy tasks, cached.

With ``front_door = "http_api"`` API Gateway reaches the tasks through a VPC link and Cloud Map: it
asks Cloud Map which instances are healthy and caches the answer for a while. ECS deregisters a task
from Cloud Map and sends it SIGTERM at once (no deregistration delay, unlike a load balancer's target
group: aws/containers-roadmap#1639), so API Gateway may still send requests to a task that is stopping
until its cache refreshes. The task's entry container covers that race by accepting requests for a
drain window after SIGTERM (``drain_seconds``).

The twin's edge, in this mode, routes from :class:`DiscoveryCache`: the healthy tasks' entry ports,
each change seen ``cache_seconds`` late. How long API Gateway caches is
not published by AWS: the default (``discovery_cache_seconds``, 60 s) is ASSUMED from public reports
of 503s for about a minute after a deploy.

Also assumed: when the warm route is switched to the service after a wake, the first lookup is fresh
(the twin's wake then behaves as with a load balancer).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from warmkeeper.config import DRAIN_ENVIRONMENT_VARIABLE, AppConfig

# The twin imports the name from here; warmkeeper.core.front_doors names every front door.


class DiscoveryCache:
    """The edge's cached view of the registered (healthy, in-service) tasks' entry ports.

    Each change of the registered list reaches the edge `cache_seconds` after it happened: the worst
    case of a cache of that age, the same every run (a cache refreshed at random moments would
    sometimes hide the race, and the drain window must cover the worst case anyway).
    """

    def __init__(self, cache_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if cache_seconds < 0:
            raise ValueError("cache_seconds must be 0 or more")
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._ports: tuple[int, ...] = ()  # what the edge routes to
        self._registered: tuple[int, ...] = ()  # what was registered at the last look
        self._pending: deque[tuple[float, tuple[int, ...]]] = deque()  # changes not visible yet
        self._lock = threading.Lock()

    @property
    def ports(self) -> tuple[int, ...]:
        """What the edge routes to now."""
        with self._lock:
            return self._ports

    def lookup(self, registered: Sequence[int]) -> tuple[int, ...]:
        """Note the registered list as it is now; return what the cache shows: the newest list that
        has been registered for at least `cache_seconds`."""
        with self._lock:
            now = self._clock()
            current = tuple(registered)
            if current != self._registered:
                self._pending.append((now, current))
                self._registered = current
            while self._pending and now - self._pending[0][0] >= self.cache_seconds:
                self._ports = self._pending.popleft()[1]
            return self._ports

    def refresh(self, registered: Sequence[int]) -> tuple[int, ...]:
        """Show `registered` at once (the route switch of a wake: assumed to look up afresh)."""
        with self._lock:
            self._ports = self._registered = tuple(registered)
            self._pending.clear()
            return self._ports


def with_drain_window(cfg: AppConfig, seconds: int) -> AppConfig:
    """`cfg` whose entry container gets ``WARMKEEPER_DRAIN_SECONDS``, as ECS sets it in the task
    definition (the entry container keeps accepting requests that long after SIGTERM)."""
    return with_entry_environment(cfg, {DRAIN_ENVIRONMENT_VARIABLE: str(seconds)})


def with_entry_environment(cfg: AppConfig, variables: Mapping[str, str]) -> AppConfig:
    """`cfg` whose entry container also gets these variables (both its image's and its local command's)."""
    if not variables:
        return cfg
    entry = cfg.entry_container
    local = (
        entry.local.model_copy(update={"environment": {**entry.local.environment, **variables}})
        if entry.local is not None
        else None
    )
    # Both: the processes runtime runs the `local` command, the containers runtime the image with the
    # task definition's environment.
    changed = entry.model_copy(update={"local": local, "environment": {**entry.environment, **variables}})
    containers = [changed if c.entry else c for c in cfg.containers]
    return cfg.model_copy(update={"containers": containers})
