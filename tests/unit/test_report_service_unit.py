"""The report service with a fake pool: it owns the connection (a read-only
repeatable-read transaction under the report settings), the clock
(computedAt), the cache (one computation per key) and the timeout."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from app.config import Settings
from app.errors import ReportTimeout
from app.reports.service import REPORT_SETTINGS, ReportService
from tests.support.fakes import T0, FakeConnection, FakePool

PROJECT = uuid.UUID(int=3)


class Spec:
    """A report input as the cache keys it (reports.cache.Spec)."""

    def __init__(self, text: str):
        self.text = text

    def cache_key(self) -> str:
        return self.text


def service(pool: FakePool, timeout: float = 5.0) -> ReportService:
    settings = Settings(redis_url=None, report_ttl=60, report_timeout=timeout)
    return ReportService(settings, pool, namespace=f"unit-{uuid.uuid4().hex}", clock=lambda: T0)


async def test_a_report_runs_once_per_key_in_a_read_only_snapshot_at_the_services_clock():
    pool = FakePool()
    reports = service(pool)
    seen = []

    async def compute(conn, computed_at):
        seen.append((conn, computed_at))
        return {"people": 3}

    try:
        first = await reports.run("unit", PROJECT, Spec("1"), compute)
        second = await reports.run("unit", PROJECT, Spec("1"), compute)
        other = await reports.run("unit", PROJECT, Spec("2"), compute)
    finally:
        await reports.close()
    assert (first.value, first.computed_at, first.cached) == ({"people": 3}, T0, False)
    assert second.cached and second.value == first.value
    assert not other.cached and reports.computations == 2
    assert seen == [(pool.connection, T0), (pool.connection, T0)]
    assert pool.connection.transactions[0] == {"isolation": "repeatable_read", "readonly": True}
    assert pool.connection.statements[0] == (REPORT_SETTINGS, ("5000",))


async def test_concurrent_asks_for_one_report_compute_it_once():
    pool = FakePool(delay=0.05)
    reports = service(pool)

    async def compute(conn, computed_at):
        return "value"

    try:
        answers = await asyncio.gather(*(reports.run("unit", PROJECT, Spec("same"), compute) for _ in range(5)))
    finally:
        await reports.close()
    assert {a.value for a in answers} == {"value"} and reports.computations == 1


async def test_a_report_past_its_timeout_is_cancelled_as_report_timeout():
    reports = service(FakePool(FakeConnection()), timeout=0.05)

    async def compute(conn, computed_at):
        await asyncio.sleep(5)

    try:
        with pytest.raises(ReportTimeout):
            await reports.run("unit", PROJECT, Spec("slow"), compute)
    finally:
        await reports.close()
    assert reports.timeouts == 1
