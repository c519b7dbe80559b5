"""The Starlette application: routes of every area and the lifespan that owns
the pool, the writer and the other per-process services."""
from __future__ import annotations

import contextlib
import logging
from typing import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute

from .config import Settings
from .dashboard.routes import routes as dashboard_routes
from .database import database_url, prepare_database
from .graphql.schema import schema
from .graphql.view import WhodidGraphQL
from .heap import settle_after_startup
from .http import AuthenticatedGraphQL, RequestLog
from .logs import setup_logging
from .live.goingaway import GoingAway
from .live.goingaway import install as install_going_away
from .live.routes import routes as live_routes
from .metrics import flush_requests, metrics_endpoint, observe_flush, observe_request, set_known_routes
from .services import Services
from .storage.pool import CONNECTION_ERRORS, create_pool
from .tracking.routes import TrackingRoutes
from .vendor import routes as vendor_routes

log = logging.getLogger("whodid.server")


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    try:
        await request.state.services.pool.fetchval("SELECT 1", timeout=2)
    except (TimeoutError, *CONNECTION_ERRORS):
        return JSONResponse({"status": "database unavailable"}, status_code=503, headers={"Retry-After": "5"})
    return JSONResponse({"status": "ready"})


def create_app(settings: Settings | None = None, *, dsn: str | None = None) -> RequestLog:
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict]:
        url = dsn or database_url(settings)
        await prepare_database(url, settings)
        pool = await create_pool(url, min_size=settings.pool_min, max_size=settings.pool_max)
        services = Services.build(settings, pool)
        services.writer.observers.append(observe_flush)
        await services.start_areas(key_cache=True)
        services.start()
        if settings.role != "live":  # the API's processes remove old events
            services.start_retention()
        settle_after_startup()
        try:
            yield {"services": services}
        finally:
            await services.close()
            await pool.close()
            flush_requests()

    # Browsers may call /graphql only from the configured origins (none by default).
    graphql = CORSMiddleware(
        AuthenticatedGraphQL(WhodidGraphQL(schema)),
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["authorization", "content-type"],
        max_age=600,
    )
    # The role (Settings.role): a "live" process serves subscriptions only, an
    # "api" process everything else; both share the database and its NOTIFYs.
    role = settings.role
    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        *([Route("/graphql", graphql, methods=["GET", "POST", "OPTIONS"])] if role != "live" else []),
        *([WebSocketRoute("/graphql", graphql)] if role != "api" else []),
        *(live_routes() if role != "api" else []),
        *(dashboard_routes() if role != "live" else []),
        *vendor_routes(),
    ]
    # Before uvicorn's shutdown: subscriptions completed, WebSockets closed 1001.
    install_going_away()
    inner = Starlette(routes=routes, lifespan=lifespan)
    app = TrackingRoutes(inner) if role != "live" else inner
    set_known_routes({route.path for route in routes if hasattr(route, "path")} | getattr(app, "paths", set()))
    return RequestLog(GoingAway(app), observer=observe_request, access_log=settings.access_log)


def create_served_app() -> RequestLog:
    """The application of a `whodid serve` process (uvicorn's factory, called
    in every worker): logging set up as in the CLI's own process first. A
    worker of `--workers N` is a spawned process that starts with no log
    handler, so until this it wrote no access line and no INFO line at all
    (docs/benchmarks.md §16.2)."""
    settings = Settings.from_env()
    setup_logging(settings.log_format)
    return create_app(settings)
