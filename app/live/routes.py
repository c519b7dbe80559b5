"""HTTP routes of the live area: the Live page and this process's live stats."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Route

from ..auth import Role, bearer_token
from ..problems import http_headers, plain_body, problem

STATIC = Path(__file__).resolve().parent / "static"

# Inline script and style only, WebSocket/fetch to this origin only.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
        "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@lru_cache(maxsize=1)
def _page() -> str:
    return (STATIC / "live.html").read_text(encoding="utf-8")


async def live_page(request: Request) -> HTMLResponse:
    """GET /live: watch a project's events as they are committed."""
    return HTMLResponse(_page(), headers=PAGE_HEADERS)


async def live_stats(request: Request) -> JSONResponse:
    """GET /live/stats (read key): this process's live bus as seen by the
    caller's project: listener state and each subscriber's queue and drops."""
    services = request.state.services
    token = bearer_token(request.headers.get("authorization"))
    try:
        principal = await services.auth.authorize(token, Role.READ, "this needs the project's read key")
    except Exception as exc:
        error = problem(exc)
        if error is None:
            raise
        return JSONResponse(plain_body(error), status_code=error.status, headers=http_headers(error, challenge=True))
    bus = services.live
    if bus is None:
        return JSONResponse({"error": "live events are not enabled", "code": "UNAVAILABLE"}, status_code=503)
    return JSONResponse({"pid": os.getpid(), **bus.describe(principal.project_id)},
                        headers={"Cache-Control": "no-store"})


def routes() -> list[BaseRoute]:
    return [
        Route("/live", live_page, methods=["GET"]),
        Route("/live/stats", live_stats, methods=["GET"]),
    ]
