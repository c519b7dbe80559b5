"""HTTP routes of the dashboard: its page, its ES modules and CSS, and the
vendored chart library under a versioned, immutable path.

The dashboard is a plain client of the public GraphQL API (same origin): the
server only hands out static files; the read key stays in the browser."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).resolve().parent / "static"
ECHARTS_VERSION = "5.6.0"  # app/dashboard/static/vendor/echarts-<version>/ (docs/dashboard.md)

# Scripts and styles from this origin only; fetch/WebSocket to this origin only.
# ECharts sets style attributes on its elements, hence 'unsafe-inline' for styles.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
    "img-src 'self' data: blob:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
IMMUTABLE = "public, max-age=31536000, immutable"


@lru_cache(maxsize=1)
def _page() -> str:
    return (STATIC / "index.html").read_text(encoding="utf-8").replace("{{ECHARTS_VERSION}}", ECHARTS_VERSION)


async def dashboard_page(request: Request) -> HTMLResponse:
    """GET /dashboard: the single page; every view lives in the URL fragment."""
    return HTMLResponse(_page(), headers=PAGE_HEADERS)


class _Static(StaticFiles):
    """StaticFiles with caching headers: the vendored library is immutable
    (its path carries its version); the app's own modules revalidate (ETag)."""

    def __init__(self, *, directory: Path, cache_control: str):
        super().__init__(directory=directory)
        self.cache_control = cache_control

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = self.cache_control
            response.headers["X-Content-Type-Options"] = "nosniff"
        if path.endswith((".js", ".mjs")):
            response.headers["Content-Type"] = "text/javascript; charset=utf-8"
        return response


def routes() -> list[BaseRoute]:
    return [
        Route("/dashboard", dashboard_page, methods=["GET"]),
        Route("/dashboard/", dashboard_page, methods=["GET"]),
        # ECharts is 1 MB as is, ~340 KB compressed.
        Mount("/dashboard/vendor", app=GZipMiddleware(_Static(directory=STATIC / "vendor", cache_control=IMMUTABLE))),
        Mount("/dashboard/static", app=GZipMiddleware(_Static(directory=STATIC / "app", cache_control="no-cache"))),
    ]
