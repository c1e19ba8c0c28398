"""Generate the synthetic street map the local routing stand-in serves: `python -m osrm.make_map`.

Run from examples/cityguided. The output (``osrm/paris-synthetic.json``) is committed; the tests
check that this script still produces exactly that file, so the map and its recipe cannot drift.

The map is made up, not OpenStreetMap data: a slightly irregular grid of streets over central Paris
(the bounding box of the bundled places, from the Arc de Triomphe to the Panthéon), so that every
place snaps to a street close to it. Three things make its shortest paths worth computing:

- a river (a rough line along the Seine) that only the bridges cross: a route between the banks
  must find one;
- faster boulevards every fifth row and column, and one-way side streets on alternate rows, so the
  fastest route is not the straight one and a route and its reverse can differ;
- a small street cluster with no connection to the rest (a closed estate west of the grid), so that
  a route to it has no answer (OSRM's ``NoRoute``).

Node coordinates are rounded to 6 decimals (about 0.1 m), like OSM's 7 are to a centimetre.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from pathlib import Path

MAP_FILE = Path(__file__).with_name("paris-synthetic.json")

ROWS, COLUMNS = 18, 22
SOUTH, NORTH = 48.840, 48.890
WEST, EAST = 2.285, 2.360
JITTER = 0.12  # of a grid step, so the streets are not perfectly straight
SEED = 75001  # fixed: the same map every time
BOULEVARD_EVERY = 5
STREET_KMH, BOULEVARD_KMH = 30, 50
BRIDGE_COLUMNS = frozenset({1, 4, 7, 10, 13, 16, 19})

# (longitude, latitude) points of the river, west to east; between them the line is straight.
RIVER = ((2.280, 48.8530), (2.2945, 48.8605), (2.3266, 48.8616), (2.3376, 48.8588), (2.3600, 48.8500))

# The isolated cluster: a square of streets west of the grid, joined to nothing else.
ISLAND_ORIGIN = (2.2660, 48.8480)
ISLAND_STEP = 0.0012


def river_latitude(longitude: float) -> float:
    for (lon_a, lat_a), (lon_b, lat_b) in itertools.pairwise(RIVER):
        if lon_a <= longitude <= lon_b:
            return lat_a + (lat_b - lat_a) * (longitude - lon_a) / (lon_b - lon_a)
    return RIVER[0][1] if longitude < RIVER[0][0] else RIVER[-1][1]


def north_of_river(point: tuple[float, float]) -> bool:
    return point[1] > river_latitude(point[0])


def build() -> dict[str, object]:
    rng = random.Random(SEED)  # noqa: S311 - a reproducible map, nothing secret
    lat_step = (NORTH - SOUTH) / (ROWS - 1)
    lon_step = (EAST - WEST) / (COLUMNS - 1)
    nodes: list[list[float | int]] = []
    where: dict[tuple[int, int], tuple[float, float]] = {}

    def node_id(row: int, column: int) -> int:
        return row * COLUMNS + column + 1

    for row in range(ROWS):
        for column in range(COLUMNS):
            lon = WEST + column * lon_step + rng.uniform(-JITTER, JITTER) * lon_step
            lat = SOUTH + row * lat_step + rng.uniform(-JITTER, JITTER) * lat_step
            where[(row, column)] = (round(lon, 6), round(lat, 6))
            nodes.append([node_id(row, column), *where[(row, column)]])

    ways: list[dict[str, object]] = []

    def add_way(name: str, speed: int, oneway: bool, ids: list[int]) -> None:
        if len(ids) >= 2:
            ways.append({"name": name, "speed_kmh": speed, "oneway": oneway, "nodes": ids})

    # Rows run west-east. A row never crosses the river in one step unless it runs along it: split
    # a row where consecutive nodes lie on different banks (no bridge there).
    for row in range(ROWS):
        boulevard = row % BOULEVARD_EVERY == 0
        name = f"Boulevard Nord {row // BOULEVARD_EVERY + 1}" if boulevard else f"Rue Est-Ouest {row + 1}"
        speed = BOULEVARD_KMH if boulevard else STREET_KMH
        oneway = not boulevard and row % 2 == 1
        ids = [node_id(row, 0)]
        for column in range(1, COLUMNS):
            if north_of_river(where[(row, column - 1)]) != north_of_river(where[(row, column)]):
                add_way(name, speed, oneway, ids)
                ids = []
            ids.append(node_id(row, column))
        add_way(name, speed, oneway, ids)

    # Columns run south-north; where a column meets the river it is split, except at the bridges.
    for column in range(COLUMNS):
        boulevard = column % BOULEVARD_EVERY == 0
        name = f"Boulevard Est {column // BOULEVARD_EVERY + 1}" if boulevard else f"Rue Nord-Sud {column + 1}"
        speed = BOULEVARD_KMH if boulevard else STREET_KMH
        ids = [node_id(0, column)]
        for row in range(1, ROWS):
            below, above = where[(row - 1, column)], where[(row, column)]
            if north_of_river(below) != north_of_river(above):
                add_way(name, speed, False, ids)
                if column in BRIDGE_COLUMNS:
                    bridge = [node_id(row - 1, column), node_id(row, column)]
                    add_way(f"Pont {column + 1}", STREET_KMH, False, bridge)
                ids = []
            ids.append(node_id(row, column))
        add_way(name, speed, False, ids)

    # The isolated cluster: 3 x 3 nodes, its own streets, no edge to the grid.
    first = len(nodes) + 1
    for i in range(3):
        for j in range(3):
            lon = round(ISLAND_ORIGIN[0] + j * ISLAND_STEP, 6)
            lat = round(ISLAND_ORIGIN[1] + i * ISLAND_STEP, 6)
            nodes.append([first + i * 3 + j, lon, lat])
    for i in range(3):
        add_way("Allée Privée", STREET_KMH, False, [first + i * 3 + j for j in range(3)])
        add_way("Impasse Privée", STREET_KMH, False, [first + j * 3 + i for j in range(3)])

    return {
        "name": "CityGuided synthetic Paris",
        "description": (
            "A made-up street grid over central Paris for the local routing stand-in; not OpenStreetMap "
            "data. Generated by osrm/make_map.py."
        ),
        "nodes": nodes,
        "ways": ways,
    }


def render() -> str:
    return json.dumps(build(), ensure_ascii=False, separators=(",", ":")) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m osrm.make_map", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, default=MAP_FILE, help=f"where to write (default: {MAP_FILE.name})"
    )
    args = parser.parse_args(argv)
    args.output.write_text(render(), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
