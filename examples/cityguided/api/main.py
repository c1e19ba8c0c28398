"""CityGuided API: `/api/health`, `/api/places`, `/api/version` and `/api/route`, served by uvicorn.

Run from examples/cityguided: `python -m uvicorn api.main:app --port 8000`. The places come from a
JSON file bundled with the code (``PLACES_FILE`` overrides where it is read from); they are read and
validated once at start-up, so a broken file stops the process before it reports healthy instead of
failing on the first request. uvicorn handles SIGTERM gracefully: it stops accepting connections and
lets in-flight requests finish (``--timeout-graceful-shutdown`` bounds the wait).

``APP_VERSION`` (set per release: in the container's environment on ECS, in ``local.environment``
on the twin) is what `/api/version` answers, so a client can tell which release served it during a
rolling deploy.

`/api/route?from=LAT,LON&to=LAT,LON` asks the routing service (OSRM, at ``OSRM_URL``) for the fastest
route. OSRM is a separate service that sleeps on its own: while it wakes, its address answers 503
with Retry-After (the waker's answer) or does not answer at all. Both become a 503 with Retry-After
and "routing is warming up, retry in N s" for the API's client, within a bounded time
(``OSRM_TIMEOUT_SECONDS``), so a page never waits on a sleeping service.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import math
import os
import time
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, TypeAdapter

logger = logging.getLogger("cityguided.api")

DEFAULT_PLACES_FILE = Path(__file__).with_name("places.json")
UNVERSIONED = "dev"


class Place(BaseModel):
    id: str
    name: str
    city: str
    category: str
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    description: str


_places_adapter = TypeAdapter(list[Place])


def load_places(path: Path) -> list[Place]:
    """Read and validate the places file; a bad file is an error at start-up, not at request time."""
    return _places_adapter.validate_python(json.loads(path.read_text(encoding="utf-8")))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    path = Path(os.environ.get("PLACES_FILE", str(DEFAULT_PLACES_FILE)))
    app.state.places = load_places(path)
    app.state.version = os.environ.get("APP_VERSION") or UNVERSIONED
    logger.warning("cityguided api: %d places loaded from %s", len(app.state.places), path)
    yield
    # Reached after uvicorn has stopped accepting connections and in-flight requests have finished.
    logger.warning("cityguided api: stopped")


app = FastAPI(title="CityGuided API", version="1.0.0", lifespan=lifespan, docs_url="/api/docs")


@app.get("/api/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/version")
def version() -> dict[str, str]:
    """The release this process runs."""
    result: str = app.state.version
    return {"version": result}


@app.get("/api/places")
def places() -> list[Place]:
    result: list[Place] = app.state.places
    return result


@app.get("/api/places/{place_id}")
def place(place_id: str) -> Place:
    for candidate in app.state.places:
        if candidate.id == place_id:
            result: Place = candidate
            return result
    raise HTTPException(status_code=404, detail=f"no place {place_id!r}")


# Routing through OSRM. The standard library's HTTP client keeps the API image free of another
# dependency for one GET per request.
DEFAULT_OSRM_TIMEOUT_SECONDS = 5.0
# What the client is told when OSRM gives no Retry-After (no connection, a timeout): about the time
# a stand-in or a warm task needs; a cold Fargate task takes longer and its waker says so itself.
DEFAULT_RETRY_AFTER_SECONDS = 5
MAX_RETRY_AFTER_SECONDS = 120
MAX_OSRM_ANSWER_BYTES = 4 * 1024 * 1024
OSRM_ROUTE_OPTIONS = "overview=full&geometries=geojson"


@dataclass(frozen=True)
class OsrmSettings:
    url: str | None  # None: routing is not configured
    timeout_seconds: float


def osrm_settings(environment: Mapping[str, str]) -> OsrmSettings:
    """Read ``OSRM_URL`` and ``OSRM_TIMEOUT_SECONDS`` once; a bad value stops the start, naming it."""
    url = environment.get("OSRM_URL", "").strip().rstrip("/") or None
    if url is not None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SystemExit(f"cityguided api: OSRM_URL must be an http:// or https:// URL, got {url!r}")
    raw = environment.get("OSRM_TIMEOUT_SECONDS", "").strip()
    try:
        timeout = float(raw) if raw else DEFAULT_OSRM_TIMEOUT_SECONDS
    except ValueError:
        timeout = math.nan
    if not (0 < timeout <= 60):
        raise SystemExit(
            f"cityguided api: OSRM_TIMEOUT_SECONDS must be a number of seconds in (0, 60], got {raw!r}"
        )
    return OsrmSettings(url, timeout)


# Read at import, before uvicorn starts serving: a bad value ends the process with one line naming the
# variable (raised in the lifespan, it would come with uvicorn's traceback).
OSRM = osrm_settings(os.environ)


@dataclass(frozen=True)
class OsrmAnswer:
    status: int
    body: bytes
    retry_after: str | None


class OsrmUnreachableError(Exception):
    """No HTTP answer from OSRM within the bound (refused, reset, timed out, too slow)."""


def parse_coordinate(name: str, value: str | None) -> tuple[float, float]:
    """``LAT,LON`` in degrees; a ValueError names the parameter and what is wrong."""
    if value is None or not value.strip():
        raise ValueError(f"{name}: missing; expected LAT,LON in degrees, e.g. {name}=48.8584,2.2945")
    parts = value.split(",")
    if len(parts) != 2:
        raise ValueError(f"{name}: expected LAT,LON (two numbers separated by a comma), got {value!r}")
    try:
        latitude, longitude = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"{name}: LAT and LON must be numbers, got {value!r}") from None
    if not (math.isfinite(latitude) and -90 <= latitude <= 90):
        raise ValueError(f"{name}: latitude must be between -90 and 90, got {parts[0].strip()}")
    if not (math.isfinite(longitude) and -180 <= longitude <= 180):
        raise ValueError(f"{name}: longitude must be between -180 and 180, got {parts[1].strip()}")
    return latitude, longitude


def retry_after_seconds(header: str | None, now: float | None = None) -> int:
    """Retry-After as whole seconds (delay-seconds or an HTTP date), kept between 1 and 120."""
    seconds: float = DEFAULT_RETRY_AFTER_SECONDS
    if header:
        text = header.strip()
        if text.isdigit():
            seconds = int(text)
        else:
            try:
                with_date = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError):
                with_date = None  # neither a number nor a date: the default
            if with_date is not None:
                seconds = with_date.timestamp() - (time.time() if now is None else now)
    return int(min(MAX_RETRY_AFTER_SECONDS, max(1, math.ceil(seconds))))


def ask_osrm(url: str, timeout: float) -> OsrmAnswer:
    """GET one OSRM URL (http or https); the whole exchange, not each read, is bounded by ``timeout``.

    A plain connection, without the environment's HTTP proxy: OSRM is an internal address.
    """
    deadline = time.monotonic() + timeout
    parts = urllib.parse.urlsplit(url)
    kind = {"http": http.client.HTTPConnection, "https": http.client.HTTPSConnection}.get(parts.scheme)
    if kind is None or not parts.hostname:
        raise ValueError(f"OSRM_URL must be an http:// or https:// URL, got {url!r}")
    connection = kind(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}", headers={"Accept": "application/json"})
        if connection.sock is not None:  # what the connection took is not given again to the answer
            connection.sock.settimeout(max(0.001, deadline - time.monotonic()))
        response = connection.getresponse()
        chunks: list[bytes] = []
        size = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OsrmUnreachableError(f"no complete answer within {timeout:g} s")
            if connection.sock is not None:
                connection.sock.settimeout(remaining)
            chunk = response.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_OSRM_ANSWER_BYTES:
                raise OsrmUnreachableError(f"answer larger than {MAX_OSRM_ANSWER_BYTES} bytes")
            chunks.append(chunk)
        return OsrmAnswer(response.status, b"".join(chunks), response.getheader("Retry-After"))
    except (OSError, http.client.HTTPException) as error:
        raise OsrmUnreachableError(f"{type(error).__name__}: {error}") from None
    finally:
        connection.close()


def warming_up(retry_after: int) -> JSONResponse:
    return JSONResponse(
        status_code=503,
        content={"error": f"routing is warming up, retry in {retry_after} s", "retry_after": retry_after},
        headers={"Retry-After": str(retry_after), "Cache-Control": "no-store"},
    )


def route_answer(answer: OsrmAnswer) -> JSONResponse:
    """Turn OSRM's answer into the API's: the route, a retry, or an error that says whose it is."""
    if answer.status == 503:
        return warming_up(retry_after_seconds(answer.retry_after))
    try:
        body: Any = json.loads(answer.body)
    except ValueError:
        body = None
    code = body.get("code") if isinstance(body, dict) else None
    if answer.status == 200 and code == "Ok":
        try:
            best = body["routes"][0]
            result = {
                "distance_m": float(best["distance"]),
                "duration_s": float(best["duration"]),
                "geometry": best["geometry"],
            }
        except (KeyError, IndexError, TypeError, ValueError):
            logger.warning("cityguided api: OSRM answered Ok without a usable route: %.200r", answer.body)
        else:
            return JSONResponse(status_code=200, content=result)
    elif code in ("NoRoute", "NoSegment"):
        what = "no road connects from and to" if code == "NoRoute" else "from or to is too far from any road"
        return JSONResponse(status_code=404, content={"error": f"no route: {what}", "osrm_code": code})
    logger.warning("cityguided api: OSRM answered %d %.200r", answer.status, answer.body)
    return JSONResponse(
        status_code=502,
        content={"error": f"the routing service answered HTTP {answer.status}", "osrm_code": code},
    )


@app.get("/api/route", response_model=None)
def route(
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
) -> JSONResponse:
    """The fastest route between two points: ``{"distance_m", "duration_s", "geometry"}`` (GeoJSON)."""
    try:
        origin = parse_coordinate("from", from_)
        destination = parse_coordinate("to", to)
    except ValueError as error:
        parameter = str(error).split(":", 1)[0]
        return JSONResponse(status_code=400, content={"error": str(error), "parameter": parameter})
    settings = OSRM
    if settings.url is None:
        return JSONResponse(
            status_code=503, content={"error": "routing is not configured (OSRM_URL is not set)"}
        )
    base, timeout = settings.url, settings.timeout_seconds
    # OSRM takes longitude first.
    url = (
        f"{base}/route/v1/driving/{origin[1]:.6f},{origin[0]:.6f};{destination[1]:.6f},{destination[0]:.6f}"
        f"?{OSRM_ROUTE_OPTIONS}"
    )
    try:
        answer = ask_osrm(url, timeout)
    except OsrmUnreachableError as error:
        logger.warning("cityguided api: OSRM at %s unreachable (%s): answering retry", base, error)
        return warming_up(DEFAULT_RETRY_AFTER_SECONDS)
    return route_answer(answer)
