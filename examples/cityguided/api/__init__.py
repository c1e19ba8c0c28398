"""CityGuided API: a small FastAPI service listing a city's places."""
