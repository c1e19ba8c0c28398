// Lists the places from the API (same origin: Caddy sends /api/* to the API container).
"use strict";

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
}

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
