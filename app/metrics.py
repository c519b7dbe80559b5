"""Prometheus metrics (prometheus-client) and the /metrics endpoint.

With several uvicorn workers, `whodid serve` sets PROMETHEUS_MULTIPROC_DIR so
that every worker writes its samples there and /metrics (answered by any
worker) aggregates all of them."""
from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response

REQUESTS = Counter("whodid_http_requests_total", "HTTP requests by route, method and status",
                   ["route", "method", "status"])
REQUEST_SECONDS = Histogram("whodid_http_request_duration_seconds", "HTTP request duration", ["route"],
                            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
EVENTS_ACCEPTED = Counter("whodid_events_accepted_total", "Events and property sets committed by the writer")
EVENTS_REFUSED = Counter("whodid_events_refused_total", "Writes refused as bad input", ["transport"])
WRITER_BATCH = Histogram("whodid_writer_batch_size", "Items committed per group-commit transaction",
                         buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000))
WRITER_SECONDS = Histogram("whodid_writer_flush_seconds", "Duration of one group-commit transaction",
                           buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
REPORT_CACHE = Counter("whodid_report_cache_total", "Report cache lookups", ["report", "result"])
REPORT_REPLICA_FALLBACKS = Counter(
    "whodid_report_replica_fallbacks_total",
    "Reports computed on the primary instead of the read replica, by reason (down, recovery_conflict)",
    ["reason"])
POOL_CONNECTIONS = Gauge("whodid_pool_connections", "Database pool connections", ["state"],
                         multiprocess_mode="livesum")
LIVE_SUBSCRIBERS = Gauge("whodid_live_subscribers", "Open liveEvents subscriptions", multiprocess_mode="livesum")

# Per-path labels only for the app's own routes: scanners must not blow up cardinality.
_known_routes: set[str] = set()


def set_known_routes(paths: set[str]) -> None:
    _known_routes.clear()
    _known_routes.update(paths)


# (route, method, status) -> the two metrics' children: labels() validates and
# locks on every call; the set of keys is small (known routes only).
_request_children: dict[tuple[str, str, int], tuple] = {}


def observe_request(path: str, method: str, status: int, seconds: float) -> None:
    route = path if path in _known_routes else "other"
    children = _request_children.get((route, method, status))
    if children is None:
        children = (REQUESTS.labels(route, method, str(status)), REQUEST_SECONDS.labels(route))
        _request_children[(route, method, status)] = children
    children[0].inc()
    children[1].observe(seconds)


def observe_flush(items: int, seconds: float) -> None:
    EVENTS_ACCEPTED.inc(items)
    WRITER_BATCH.observe(items)
    WRITER_SECONDS.observe(seconds)


def observe_pool(pool) -> None:
    size, idle = pool.get_size(), pool.get_idle_size()
    POOL_CONNECTIONS.labels("used").set(size - idle)
    POOL_CONNECTIONS.labels("idle").set(idle)


async def metrics_endpoint(request: Request) -> Response:
    services = request.state.services
    observe_pool(services.pool)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
