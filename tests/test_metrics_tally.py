"""The request metrics counted per process and added up (app/metrics.py,
RequestTally) equal what prometheus-client's own inc() and observe() give."""
from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter, Histogram

from app import metrics


def _samples(metric) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in metric.collect() for s in family.samples if not s.name.endswith("_created")}


def test_a_flushed_tally_equals_direct_observations():
    durations = [0.0, 0.0004, 0.001, 0.0010001, 0.003, 0.05, 0.7, 9.9, 10, 11, 250.0]
    registry = CollectorRegistry()
    direct_requests = Counter("t_requests_total", "", ["route", "method", "status"], registry=registry)
    direct_seconds = Histogram("t_seconds", "", ["route"], buckets=metrics.REQUEST_SECONDS._upper_bounds[:-1],
                               registry=registry)
    before_requests, before_seconds = _samples(metrics.REQUESTS), _samples(metrics.REQUEST_SECONDS)
    tally = metrics.RequestTally()
    for n, seconds in enumerate(durations):
        status = 200 if n % 3 else 404
        tally.add("/tally-test", "GET", status, seconds)  # no running loop: added at once
        direct_requests.labels("/tally-test", "GET", str(status)).inc()
        direct_seconds.labels("/tally-test").observe(seconds)

    def grown(metric, before, prefix):
        return {(name.replace(metric._name, prefix), labels): value - before.get((name, labels), 0)
                for (name, labels), value in _samples(metric).items() if ("route", "/tally-test") in labels}

    assert grown(metrics.REQUESTS, before_requests, "t_requests") == _samples(direct_requests)
    assert grown(metrics.REQUEST_SECONDS, before_seconds, "t_seconds") == _samples(direct_seconds)


def test_counted_requests_reach_the_metrics_within_the_interval():
    async def run():
        tally = metrics.RequestTally(interval=0.05)
        before = _samples(metrics.REQUESTS)
        key = ("whodid_http_requests_total", (("method", "GET"), ("route", "/tally-later"), ("status", "200")))
        for _ in range(5):
            tally.add("/tally-later", "GET", 200, 0.001)
        assert _samples(metrics.REQUESTS).get(key, 0) == before.get(key, 0)  # counted, not yet written
        await asyncio.sleep(0.2)
        assert _samples(metrics.REQUESTS)[key] - before.get(key, 0) == 5
        assert not tally.scheduled and not tally.pending

    asyncio.run(run())
