"""The twin's model of an HTTP API front door: a discovery list of healthy tasks, cached.

With ``front_door = "http_api"`` API Gateway reaches the tasks through a VPC link and Cloud Map: it
asks Cloud Map which instances are healthy and caches the answer for a while. ECS deregisters a task
from Cloud Map and sends it SIGTERM at once (no deregistration delay, unlike a load balancer's target
group: aws/containers-roadmap#1639), so API Gateway may still send requests to a task that is stopping
until its cache refreshes. The task's entry container covers that race by accepting requests for a
drain window after SIGTERM (``drain_seconds``).

The twin's edge, in this mode, routes from :class:`DiscoveryCache`: the healthy tasks' entry ports as
last looked up, looked up again only once ``cache_seconds`` have passed. How long API Gateway caches is
not published by AWS: the default (``discovery_cache_seconds``, 60 s) is ASSUMED from public reports
of 503s for about a minute after a deploy.

Also assumed: when the warm route is switched to the service after a wake, the first lookup is fresh
(the twin's wake then behaves as with a load balancer).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from warmkeeper.config import DRAIN_ENVIRONMENT_VARIABLE, AppConfig

HTTP_API = "http_api"


class DiscoveryCache:
    """The edge's cached copy of the registered (healthy, in-service) tasks' entry ports."""

    def __init__(self, cache_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if cache_seconds < 0:
            raise ValueError("cache_seconds must be 0 or more")
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._ports: tuple[int, ...] = ()
        self._looked_up_at: float | None = None
        self._lock = threading.Lock()
        self.lookups = 0  # lookups that went to the registry (Cloud Map's DiscoverInstances)

    @property
    def ports(self) -> tuple[int, ...]:
        """What the edge routes to: the registered ports at the last lookup."""
        with self._lock:
            return self._ports

    def lookup(self, registered: Sequence[int]) -> tuple[int, ...]:
        """The cached list, looked up again from `registered` once it is `cache_seconds` old."""
        with self._lock:
            now = self._clock()
            if self._looked_up_at is None or now - self._looked_up_at >= self.cache_seconds:
                self._store(registered, now)
            return self._ports

    def refresh(self, registered: Sequence[int]) -> tuple[int, ...]:
        """Look up now, whatever the cache's age (the route switch of a wake)."""
        with self._lock:
            self._store(registered, self._clock())
            return self._ports

    def _store(self, registered: Sequence[int], now: float) -> None:
        self._ports = tuple(registered)
        self._looked_up_at = now
        self.lookups += 1


def with_drain_window(cfg: AppConfig, seconds: int) -> AppConfig:
    """`cfg` whose entry container gets ``WARMKEEPER_DRAIN_SECONDS``, as ECS sets it in the task
    definition (the entry container keeps accepting requests that long after SIGTERM)."""
    entry = cfg.entry_container
    drain = {DRAIN_ENVIRONMENT_VARIABLE: str(seconds)}
    local = entry.local.model_copy(update={"environment": {**entry.local.environment, **drain}})
    # Both: the processes runtime runs the `local` command, the containers runtime the image with the
    # task definition's environment.
    changed = entry.model_copy(update={"local": local, "environment": {**entry.environment, **drain}})
    containers = [changed if c.entry else c for c in cfg.containers]
    return cfg.model_copy(update={"containers": containers})
