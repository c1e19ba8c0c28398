// Lists the places from the API (same origin: Caddy sends /api/* to the API container), and asks the
// API for a route between two of them. Routing runs in its own service that sleeps on its own: while
// it wakes, the API answers 503 with `retry_after`, and the page says so and asks again after that.
"use strict";

const ROUTE_ATTEMPTS = 10; // bound the automatic retries: a routing service that never wakes is an error
let routeTimer = null;

function mapLink(place) {
  const link = document.createElement("a");
  link.href = `https://www.openstreetmap.org/?mlat=${place.latitude}&mlon=${place.longitude}#map=17/${place.latitude}/${place.longitude}`;
  link.textContent = `${place.latitude.toFixed(4)}, ${place.longitude.toFixed(4)}`;
  link.rel = "noopener";
  return link;
}

function render(places) {
  const list = document.getElementById("places");
  list.replaceChildren(
    ...places.map((place) => {
      const item = document.createElement("li");
      item.className = "place";
      item.dataset.id = place.id;
      const name = document.createElement("h2");
      name.textContent = place.name;
      const meta = document.createElement("p");
      meta.className = "meta";
      meta.append(`${place.category} · ${place.city} · `, mapLink(place));
      const description = document.createElement("p");
      description.textContent = place.description;
      item.append(name, meta, description);
      return item;
    }),
  );
  document.getElementById("status").textContent = `${places.length} places`;
  fillRouteForm(places);
}

function fillRouteForm(places) {
  for (const [id, pick] of [["route-from", 0], ["route-to", 1]]) {
    const select = document.getElementById(id);
    select.replaceChildren(
      ...places.map((place) => {
        const option = document.createElement("option");
        option.value = `${place.latitude},${place.longitude}`;
        option.textContent = place.name;
        return option;
      }),
    );
    select.selectedIndex = Math.min(pick, places.length - 1);
  }
}

function describeRoute(route) {
  const km = (route.distance_m / 1000).toFixed(1);
  const minutes = Math.max(1, Math.round(route.duration_s / 60));
  return `${km} km, about ${minutes} min by car (${route.geometry.coordinates.length} points)`;
}

async function findRoute(from, to, attempt) {
  const result = document.getElementById("route-result");
  clearTimeout(routeTimer);
  const query = new URLSearchParams({ from, to });
  try {
    const response = await fetch(`/api/route?${query}`, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => ({}));
    if (response.ok) {
      result.textContent = describeRoute(body);
      return;
    }
    const retryAfter = Number(body.retry_after || response.headers.get("Retry-After"));
    if (response.status === 503 && retryAfter > 0 && attempt < ROUTE_ATTEMPTS) {
      result.textContent = `Routing is warming up, retry in ${retryAfter} s…`;
      routeTimer = setTimeout(() => findRoute(from, to, attempt + 1), retryAfter * 1000);
      return;
    }
    result.textContent = `No route: ${body.error || `HTTP ${response.status}`}`;
  } catch (error) {
    result.textContent = `Could not ask for the route (${error.message}).`;
  }
}

document.getElementById("route-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const from = document.getElementById("route-from").value;
  const to = document.getElementById("route-to").value;
  document.getElementById("route-result").textContent = "Finding the route…";
  findRoute(from, to, 1);
});

async function load() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/api/places", { headers: { Accept: "application/json" } });
    if (!response.ok) {
      throw new Error(`HTTP ${response.status}`);
    }
    render(await response.json());
  } catch (error) {
    status.textContent = `Could not load the places (${error.message}). Retrying…`;
    setTimeout(load, 2000);
  }
}

load();
