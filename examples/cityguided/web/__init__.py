"""CityGuided web front end: a static page served by a tiny standard-library server."""
