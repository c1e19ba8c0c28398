"""Rendering of the waker's answers: pure functions from values to an HTTP response.

The AWS Lambda and the local twin's waker both answer through these functions, so a visitor sees
the same bytes from both. The waiting page is one self-contained HTML document (inline CSS and
JavaScript, no other asset: nothing else can be served while the service sleeps).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from warmkeeper.core.machine import State

STATUS_PATH = "/_warmkeeper/status"
KEEPALIVE_PATH = "/_warmkeeper/keepalive"
ENDPOINT_PREFIX = "/_warmkeeper/"
# Once the status says the service is routed, the waiting page reloads after this many seconds plus
# a random part of RELOAD_SPREAD_SECONDS: hundreds of pages of one herd must not reload in the same
# instant, the front door's route change takes a few seconds to reach it anyway, and a page that
# reloads too early gets the waiting page again, ready, which reloads it a second later.
RELOAD_AFTER_SECONDS = 0.5
RELOAD_SPREAD_SECONDS = 1.5

# What a visitor reads for each state while waiting.
PHASES: Mapping[str, str] = {
    State.COLD.value: "Starting a server",
    State.WAKING.value: "Starting the app and waiting for its health checks",
    State.WARM.value: "Ready, loading the page",
    State.DRAINING.value: "The app was going to sleep; starting it again",
    State.ALWAYS_ON.value: "Waiting for a healthy server",
    "FAILED": "This is taking longer than usual; still trying",
}

_NO_STORE = "no-store"


@dataclass(frozen=True)
class HttpResponse:
    """A complete answer: status, headers (one value each) and a text body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


def json_response(
    status: int, document: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> HttpResponse:
    return HttpResponse(
        status=status,
        headers={
            "Content-Type": "application/json",
            "Cache-Control": _NO_STORE,
            **(headers or {}),
        },
        body=json.dumps(document, sort_keys=True),
    )


# Characters a Location keeps as they came; everything else is percent-encoded. "%" stays so a path or
# query the client already encoded is sent back byte for byte; "\\", spaces and control characters go,
# since browsers read "\\" as "/" and drop tabs and newlines before resolving a URL.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def same_host_location(path_and_query: str) -> str:
    """The request's own path and query as a Location that cannot leave this host (CWE-601).

    Always an absolute path: one leading "/" and never "//" or "/\\" (a scheme-relative URL, which a
    client resolves to another host: ``//evil.example/x``); nothing a browser would reinterpret.
    """
    path, separator, query = path_and_query.partition("?")
    safe_path = quote(path, safe=_PATH_SAFE)
    # "//evil.example/x", "/%2F..." stays a path; leading slashes collapse to one.
    safe_path = "/" + safe_path.lstrip("/")
    location = safe_path
    if separator:
        location += "?" + quote(query, safe=_QUERY_SAFE)
    return location


def redirect_to_same_url(path_and_query: str) -> HttpResponse:
    """307 keeps the method and body, so a held POST is replayed as a POST on the warm service.

    The Location is an absolute path on this host (:func:`same_host_location`): the client resolves
    it against the URL it used, so no Host header is trusted to build it, and no request path can
    turn it into another host.
    """
    return HttpResponse(
        status=307,
        headers={
            "Location": same_host_location(path_and_query),
            "Cache-Control": _NO_STORE,
            "Content-Type": "text/plain",
        },
        body="The service is ready.\n",
    )


def unavailable(
    state: State,
    retry_after_seconds: int,
    message: str,
    error: str = "waking",
) -> HttpResponse:
    """503 JSON with Retry-After: the answer to an API call that could not be held long enough."""
    return json_response(
        503,
        {
            "error": error,
            "state": state.value,
            "message": message,
            "retry_after_seconds": retry_after_seconds,
        },
        headers={"Retry-After": str(retry_after_seconds)},
    )


def phase_text(state: State, wake_failed: bool) -> str:
    return PHASES["FAILED"] if wake_failed else PHASES[state.value]


def waiting_page(
    app_name: str,
    state: State,
    elapsed_seconds: float,
    retry_after_seconds: int,
    ready: bool = False,
    wake_failed: bool = False,
    status_path: str = STATUS_PATH,
) -> HttpResponse:
    """The page a browser gets while the service wakes: it shows the phase and the seconds elapsed,
    polls ``status_path`` and reloads the same URL once traffic goes to a healthy service.

    Without JavaScript a ``<meta refresh>`` (inside ``<noscript>``) reloads it every
    ``retry_after_seconds``. Served as 503 with Retry-After and no-store, so no cache or crawler keeps
    it as the page's content.
    """
    elapsed = max(0, int(elapsed_seconds))
    phases_json = json.dumps(dict(PHASES), sort_keys=True)
    config_json = json.dumps(
        {
            "elapsed": elapsed,
            "ready": ready,
            "statusPath": status_path,
            "retryAfter": retry_after_seconds,
            "reloadAfter": RELOAD_AFTER_SECONDS,
            "reloadSpread": RELOAD_SPREAD_SECONDS,
        },
        sort_keys=True,
    )
    # JSON inside <script>: escape "<" so no value can close the script element.
    phases_js = phases_json.replace("<", "\\u003c")
    config_js = config_json.replace("<", "\\u003c")
    name = html.escape(app_name)
    phase = html.escape(phase_text(state, wake_failed))
    body = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<noscript><meta http-equiv="refresh" content="{retry_after_seconds}"></noscript>
<title>{name} is waking up</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;min-height:100vh;display:flex;
align-items:center;justify-content:center;background:#f6f7f9;color:#1d2330}}
main{{max-width:32rem;padding:2rem;text-align:center}}
h1{{font-size:1.4rem;margin:0 0 1rem}}
.bar{{height:4px;background:#dde1e8;border-radius:2px;overflow:hidden;margin:1.5rem 0}}
.bar span{{display:block;height:100%;width:30%;background:#3b6fd8;animation:slide 1.4s ease-in-out infinite}}
@keyframes slide{{0%{{margin-left:-30%}}100%{{margin-left:100%}}}}
.muted{{color:#5b6477;font-size:.9rem}}
</style>
</head>
<body>
<main>
<h1>{name} is waking up</h1>
<p id="wk-phase" data-state="{state.value}">{phase}</p>
<div class="bar" aria-hidden="true"><span></span></div>
<p class="muted"><span id="wk-elapsed">{elapsed}</span> s elapsed. This page reloads by itself.</p>
<noscript><p class="muted">It reloads every {retry_after_seconds} s.</p></noscript>
</main>
<script>
(function () {{
  var phases = {phases_js};
  var cfg = {config_js};
  var started = Date.now() - cfg.elapsed * 1000;
  var phaseEl = document.getElementById("wk-phase");
  var elapsedEl = document.getElementById("wk-elapsed");
  setInterval(function () {{
    elapsedEl.textContent = String(Math.floor((Date.now() - started) / 1000));
  }}, 1000);
  function reload() {{ window.location.reload(); }}
  function poll() {{
    fetch(cfg.statusPath, {{cache: "no-store", headers: {{"Accept": "application/json"}}}})
      .then(function (r) {{ return r.json(); }})
      .then(function (s) {{
        var failed = (s.problems || []).length > 0 && s.state === "WAKING";
        phaseEl.textContent = failed ? phases.FAILED : (phases[s.state] || s.state);
        phaseEl.setAttribute("data-state", s.state);
        if (s.routing === "service" && s.healthy > 0) {{
          setTimeout(reload, (cfg.reloadAfter + Math.random() * cfg.reloadSpread) * 1000);
          return;
        }}
        setTimeout(poll, (s.poll_after_seconds || 2) * 1000);
      }})
      .catch(function () {{ setTimeout(poll, 3000); }});
  }}
  if (cfg.ready) {{ setTimeout(reload, 1000); }} else {{ setTimeout(poll, 1000); }}
}})();
</script>
</body>
</html>
"""
    return HttpResponse(
        status=503,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": _NO_STORE,
            "Retry-After": str(retry_after_seconds),
        },
        body=body,
    )


def not_found(path: str) -> HttpResponse:
    return json_response(404, {"error": "not_found", "message": f"no warmkeeper endpoint at {path}"})


def method_not_allowed(allowed: str) -> HttpResponse:
    return json_response(
        405, {"error": "method_not_allowed", "message": f"use {allowed}"}, headers={"Allow": allowed}
    )
