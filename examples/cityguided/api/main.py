"""CityGuided API: `/api/health`, `/api/places` and `/api/version`, served by uvicorn.

Run from examples/cityguided: `python -m uvicorn api.main:app --port 8000`. The places come from a
JSON file bundled with the code (``PLACES_FILE`` overrides where it is read from); they are read and
validated once at start-up, so a broken file stops the process before it reports healthy instead of
failing on the first request. uvicorn handles SIGTERM gracefully: it stops accepting connections and
lets in-flight requests finish (``--timeout-graceful-shutdown`` bounds the wait).

``APP_VERSION`` (set per release: in the container's environment on ECS, in ``local.environment``
on the twin) is what `/api/version` answers, so a client can tell which release served it during a
rolling deploy.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException
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
