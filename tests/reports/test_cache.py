"""The report cache (DESIGN.md §5 Caching) against a real Redis and PostgreSQL:
hits, a second worker process, stampedes, project isolation, TTL, and the report
timeout. Each test uses its own Redis key namespace and removes it afterwards."""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import textwrap
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from app.auth import Principal, Role
from app.config import Settings
from app.errors import ReportTimeout
from app.graphql.context import Context
from app.graphql.schema import schema
from app.ingest.validation import EventIn
from app.reports.cache import ReportCache
from app.reports.cohort import CohortSpec
from app.reports.periods import Period
from app.reports.revenue import RevenueSpec
from app.reports.service import ReportService
from app.storage.pool import create_pool

try:
    from tests.support.scenarios import T, fresh_project
except ModuleNotFoundError:  # pragma: no cover
    from test_revenue_cohort_support import T, fresh_project  # type: ignore[no-redef]

REDIS_URL = os.environ.get("WHODID_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[2]
SPEC = RevenueSpec(T(2024, 1, 1), T(2024, 3, 1), Period.MONTH)


@pytest.fixture
def namespace() -> str:
    return f"whodid-test:{secrets.token_hex(6)}"


@pytest.fixture
async def make_service(services, namespace):
    """ReportServices on the test database sharing one Redis namespace (like the
    workers of one deployment); all closed and the namespace cleared at the end."""
    made: list[ReportService] = []

    def make(*, redis: bool = True, ttl: int = 60, timeout: float = 30.0, pool=None) -> ReportService:
        settings = Settings(redis_url=REDIS_URL if redis else None, report_ttl=ttl, report_timeout=timeout)
        service = ReportService(settings, pool or services.pool, namespace=namespace)
        made.append(service)
        return service

    yield make
    if made:
        await made[0].cache.clear()
    for service in made:
        await service.close()


async def seed(services, project_id, amount: str = "10") -> None:
    await services.ingest.record_events(project_id, [
        EventIn("a", "Billed", {"Revenue": amount, "Campaign Source": "google"}, T(2024, 1, 5)),
        EventIn("b", "Billed", {"Revenue": "5"}, T(2024, 2, 5)),
    ])


@pytest.mark.parametrize("redis", [True, False], ids=["redis", "memory"])
async def test_hit_is_marked_cached_with_the_same_computed_at(services, make_service, redis):
    project = await fresh_project(services, "cache-hit")
    await seed(services, project.id)
    reports = make_service(redis=redis)
    first = await reports.revenue(project.id, SPEC)
    second = await reports.revenue(project.id, SPEC)
    assert (first.cached, second.cached) == (False, True)
    assert second.computed_at == first.computed_at
    assert second.value == first.value and str(second.value.money.total) == "15"
    assert reports.computations == 1
    # The same input written differently (another offset) is the same entry.
    from datetime import timedelta, timezone
    plus2 = timezone(timedelta(hours=2))
    same = RevenueSpec(SPEC.from_.astimezone(plus2), SPEC.to.astimezone(plus2), Period.MONTH)
    assert (await reports.revenue(project.id, same)).cached is True
    assert reports.computations == 1


async def test_second_worker_process_sees_the_entry(services, make_service, namespace, database_url):
    project = await fresh_project(services, "cache-worker")
    await seed(services, project.id)
    first = await make_service().revenue(project.id, SPEC)
    script = textwrap.dedent(f"""
        import asyncio, json
        from app.config import Settings
        from app.reports.periods import Period
        from app.reports.revenue import RevenueSpec
        from app.reports.service import ReportService
        from app.storage.pool import create_pool
        from datetime import datetime
        import uuid

        async def main():
            pool = await create_pool({database_url!r}, min_size=1, max_size=2)
            reports = ReportService(Settings(redis_url={REDIS_URL!r}, report_ttl=60), pool, namespace={namespace!r})
            spec = RevenueSpec(datetime.fromisoformat({SPEC.from_.isoformat()!r}),
                               datetime.fromisoformat({SPEC.to.isoformat()!r}), Period.MONTH)
            report = await reports.revenue(uuid.UUID({str(project.id)!r}), spec)
            print(json.dumps({{"cached": report.cached, "computedAt": report.computed_at.isoformat(),
                              "total": str(report.value.money.total), "computations": reports.computations}}))
            await reports.close()
            await pool.close()

        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"cached": True, "computedAt": first.computed_at.isoformat(), "total": "15", "computations": 0}


@pytest.mark.parametrize("redis", [True, False], ids=["redis", "memory"])
async def test_stampede_of_identical_requests_computes_once(services, make_service, redis):
    project = await fresh_project(services, "cache-stampede")
    await seed(services, project.id)
    reports = make_service(redis=redis)
    spec = CohortSpec("Billed", "Billed", T(2024, 1, 1), T(2024, 3, 1), Period.WEEK, Period.WEEK, 12)
    answers = await asyncio.gather(*(reports.cohort(project.id, spec) for _ in range(20)))
    assert reports.computations == 1
    assert len({a.computed_at for a in answers}) == 1
    assert sorted(a.cached for a in answers) == [False] + [True] * 19
    assert all(a.value == answers[0].value for a in answers)


async def test_stampede_across_workers_computes_once(services, make_service, database_url):
    """Two workers (separate ReportServices, caches and pools) sharing Redis: the
    Redis lock makes the second wait for the first's entry."""
    project = await fresh_project(services, "cache-workers")
    await seed(services, project.id)
    pools = [await create_pool(database_url, min_size=1, max_size=3) for _ in range(2)]
    try:
        workers = [make_service(pool=pool) for pool in pools]
        answers = await asyncio.gather(*(workers[i % 2].revenue(project.id, SPEC) for i in range(20)))
        assert sum(w.computations for w in workers) == 1
        assert len({a.computed_at for a in answers}) == 1
        assert sum(not a.cached for a in answers) == 1
    finally:
        for w in workers:
            await w.close()
        for pool in pools:
            await pool.close()


async def test_projects_never_share_an_entry(services, make_service):
    one, two = await fresh_project(services, "cache-one"), await fresh_project(services, "cache-two")
    await seed(services, one.id, amount="10")
    await seed(services, two.id, amount="100")
    reports = make_service()
    a, b = await reports.revenue(one.id, SPEC), await reports.revenue(two.id, SPEC)
    assert (a.cached, b.cached) == (False, False) and reports.computations == 2
    assert (str(a.value.money.total), str(b.value.money.total)) == ("15", "105")
    assert ReportCache.key("revenue", one.id, SPEC) != ReportCache.key("revenue", two.id, SPEC)
    assert str(one.id) in ReportCache.key("revenue", one.id, SPEC)


async def test_entries_expire_after_the_ttl(services, make_service):
    project = await fresh_project(services, "cache-ttl")
    await seed(services, project.id)
    reports = make_service(ttl=1)
    first = await reports.revenue(project.id, SPEC)
    assert (await reports.revenue(project.id, SPEC)).cached is True
    await asyncio.sleep(1.3)
    again = await reports.revenue(project.id, SPEC)
    assert again.cached is False and reports.computations == 2 and again.computed_at != first.computed_at


async def test_unreachable_redis_degrades_to_computing(services):
    project = await fresh_project(services, "cache-down")
    await seed(services, project.id)
    reports = ReportService(Settings(redis_url="redis://127.0.0.1:1/0", report_ttl=60), services.pool)
    try:
        first = await reports.revenue(project.id, SPEC)
        second = await reports.revenue(project.id, SPEC)
        assert (first.cached, second.cached) == (False, False) and str(first.value.money.total) == "15"
        assert reports.cache.errors > 0
    finally:
        await reports.close()


# ---------------------------------------------------------------- the timeout


async def test_slow_report_is_cancelled_and_the_connection_is_healthy(database_url, make_service):
    pool = await create_pool(database_url, min_size=1, max_size=1)  # one connection: it must come back usable
    try:
        reports = make_service(redis=False, timeout=0.3, pool=pool)
        spec = SPEC

        async def slow(conn, computed_at):
            await conn.execute("SELECT pg_sleep(10)")

        with pytest.raises(ReportTimeout) as err:
            await reports.run("slow", uuid.uuid4(), spec, slow)
        assert err.value.code == "TIMEOUT" and "cancelled" in err.value.message
        assert reports.timeouts == 1
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT 1") == 1
            assert await conn.fetchval("SHOW statement_timeout") == "0"
            assert await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(10)%'"
                                       " AND state = 'active'") == 0
        # The failure was not cached: the next request computes again.
        with pytest.raises(ReportTimeout):
            await reports.run("slow", uuid.uuid4(), spec, slow)
    finally:
        await pool.close()


async def test_timeout_is_a_graphql_timeout_error(services, make_service):
    project = await fresh_project(services, "cache-timeout")
    reports = make_service(redis=False, timeout=1e-6)
    context = Context(services=replace(services, reports=reports),
                      principal=Principal(project.id, "p", Role.READ), request_id="test")
    result = await schema.execute(
        """{ cohort(input: {cohortEvent: "a", returnEvent: "a", from: "2024-01-01T00:00:00Z",
                             to: "2024-02-01T00:00:00Z"}) { cached } }""",
        context_value=context,
    )
    (error,) = result.errors
    assert error.extensions["code"] == "TIMEOUT"


async def test_reports_read_from_the_replica_pool_when_configured(services, database_url):
    project = await fresh_project(services, "cache-replica")
    await seed(services, project.id)
    # The test database stands in for the replica: what matters is which pool is used.
    reports = ReportService(Settings(read_database_url=database_url, report_ttl=60), services.pool)
    await reports.start()
    try:
        assert reports.read_pool is not None and reports.read_pool is not services.pool
        report = await reports.revenue(project.id, SPEC)
        assert str(report.value.money.total) == "15" and reports.read_pool.get_size() >= 1
    finally:
        await reports.close()
    assert reports.read_pool is None


async def test_whole_computation_is_bounded_and_the_connection_is_healthy(database_url, make_service):
    """Many statements each under statement_timeout: the overall bound cancels the
    one running (asyncpg sends a cancel) and the single connection is reusable."""
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        reports = make_service(redis=False, timeout=0.3, pool=pool)

        async def many_short(conn, computed_at):
            for _ in range(50):
                await conn.execute("SELECT pg_sleep(0.2)")

        with pytest.raises(ReportTimeout):
            await reports.run("slow", uuid.uuid4(), SPEC, many_short)
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT 1") == 1
            assert await conn.fetchval("SHOW transaction_read_only") == "off"
            assert await conn.fetchval("SHOW statement_timeout") == "0"
    finally:
        await pool.close()
