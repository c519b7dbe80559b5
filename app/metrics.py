"""Prometheus metrics (prometheus-client) and the /metrics endpoint.

With several uvicorn workers, `whodid serve` sets PROMETHEUS_MULTIPROC_DIR so
that every worker writes its samples there and /metrics (answered by any
worker) aggregates all of them."""
from __future__ import annotations

import asyncio
import os
from bisect import bisect_left

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


class RequestTally:
    """The request metrics of this process, counted in plain Python and added
    to the Prometheus children at most `interval` seconds later (a timer on
    the running loop), and at once before this process answers /metrics.

    With several workers (PROMETHEUS_MULTIPROC_DIR) every inc() and observe()
    of prometheus-client writes an mmap'd file and asks for the process id (a
    system call): three values per request cost a tracking request 12-17 µs
    of its ~240 (docs/benchmarks.md §16.2). Added up here, a second of requests
    costs those writes once per (route, method, status). A scrape may see a
    worker's last second of requests in its next scrape instead: within
    Prometheus' own scrape-interval resolution."""

    def __init__(self, interval: float = 1.0):
        self.interval = interval
        # (route, method, status) -> [count, seconds, count per histogram bucket]
        self.pending: dict[tuple[str, str, int], list] = {}
        self.scheduled = False
        self.bounds = REQUEST_SECONDS._upper_bounds  # the histogram's, +Inf last

    def add(self, route: str, method: str, status: int, seconds: float) -> None:
        entry = self.pending.get((route, method, status))
        if entry is None:
            entry = self.pending[(route, method, status)] = [0, 0.0, [0] * len(self.bounds)]
        entry[0] += 1
        entry[1] += seconds
        # Histogram.observe's bucket: the first upper bound >= the value.
        entry[2][bisect_left(self.bounds, seconds)] += 1
        if not self.scheduled:
            try:
                asyncio.get_running_loop().call_later(self.interval, self.flush)
            except RuntimeError:  # no loop (a direct call): at once
                self.flush()
                return
            self.scheduled = True

    def flush(self) -> None:
        """Everything counted so far into the Prometheus children."""
        self.scheduled = False
        pending, self.pending = self.pending, {}
        for (route, method, status), (count, seconds, buckets) in pending.items():
            REQUESTS.labels(route, method, str(status)).inc(count)
            # What `count` observe() calls would have added (Histogram.observe:
            # the sum, and one per observation to its bucket).
            histogram = REQUEST_SECONDS.labels(route)
            histogram._sum.inc(seconds)
            for bucket, n in zip(histogram._buckets, buckets):
                if n:
                    bucket.inc(n)


_tally = RequestTally()


def observe_request(path: str, method: str, status: int, seconds: float) -> None:
    _tally.add(path if path in _known_routes else "other", method, status, seconds)


def flush_requests() -> None:
    """The requests counted but not yet in the metrics (a process ending)."""
    _tally.flush()


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
    _tally.flush()  # this process's requests up to now
    observe_pool(services.pool)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
