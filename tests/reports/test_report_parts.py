"""Reports split over connections in one snapshot (ReportKind.build_parts,
ReportService._fetch_parts): the parts see exactly what one statement
would, a busy pool still answers (the one statement, no waiting), a
failing part fails the report and leaves the pool whole.

The oracle tests of lifecycle and cohort (test_lifecycle_properties.py,
test_cohort_properties.py) run both ways: parts side by side and the one
statement."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from app.config import Settings
from app.errors import ReportTimeout
from app.ingest.validation import EventIn
from app.reports.cohort import COHORT, CohortSpec
from app.reports.cohort.statement import build_parts as cohort_parts
from app.reports.contract import ReportKind
from app.reports.lifecycle import LIFECYCLE, LifecycleSpec
from app.reports.lifecycle.statement import build_parts as lifecycle_parts
from app.reports.periods import Period
from app.reports.revenue import REVENUE, RevenueSpec
from app.reports.revenue.statement import build_parts as revenue_parts
from app.reports.service import ReportService
from app.reports.stickiness import STICKINESS, StickinessSpec
from app.reports.stickiness.statement import build_parts as stickiness_parts
from app.storage.pool import create_pool
from tests.support.server import make_project
from tests.support.parts import ON_CITUS_SKIP

pytestmark = ON_CITUS_SKIP

UTC = timezone.utc
FROM = datetime(2024, 1, 1, tzinfo=UTC)
TO = datetime(2024, 1, 29, tzinfo=UTC)
LIFE = LifecycleSpec("Used", FROM + timedelta(days=7), TO, interval=Period.WEEK)
COH = CohortSpec("Used", "Used", FROM, TO, Period.WEEK, Period.DAY, 7)
STICKY = StickinessSpec("Used", FROM, TO, interval=Period.DAY)
MONEY = RevenueSpec(FROM, TO, Period.WEEK)
# Enough people that both ranges of person ids hold some (ids are uniform).
PEOPLE = 40


def world(prefix: str) -> list[EventIn]:
    """Each person a few days of use over the four weeks; a third of them
    pays (and one in five of those is refunded a little), from a source."""
    out = []
    for i in range(PEOPLE):
        for day in range(i % 5, 28, 3 + i % 7):
            out.append(EventIn(f"{prefix}{i}", "Used", None, FROM + timedelta(days=day, hours=i % 24)))
        if i % 3 == 0:
            source = ["ads", "mail", None][i % 4 % 3]
            out.append(EventIn(f"{prefix}{i}", "Billed", {"Revenue": f"{i}.25", **({"Campaign Source": source} if source else {})},
                               FROM + timedelta(days=i % 28, hours=1)))
            if i % 5 == 0:
                out.append(EventIn(f"{prefix}{i}", "Billed", {"Revenue": "-1.10"}, FROM + timedelta(days=i % 28, hours=2)))
    return out


@pytest.fixture
async def reports(services):
    """A service of its own: no cache (every call computes), two parts."""
    service = ReportService(Settings(report_ttl=0, report_parts=2), services.pool)
    yield service
    await service.close()


async def answer(reports: ReportService, kind, project_id, spec, parts: int):
    reports.parts = parts
    return (await reports.report(kind, project_id, spec)).value


@pytest.mark.parametrize("kind,spec", [(LIFECYCLE, LIFE), (COHORT, COH), (STICKINESS, STICKY), (REVENUE, MONEY)],
                         ids=["lifecycle", "cohort", "stickiness", "revenue"])
async def test_the_parts_add_up_to_the_one_statement(services, reports, kind, spec):
    project = await make_project(services, "parts")
    await services.ingest.record_events(project.id, world("p"))
    one = await answer(reports, kind, project.id, spec, 1)
    assert reports.split_computations[kind.name] == 0
    for parts in (2, 3, 4):
        assert await answer(reports, kind, project.id, spec, parts) == one, parts
    assert reports.split_computations[kind.name] == 3


@pytest.mark.parametrize("kind,spec", [(LIFECYCLE, LIFE), (COHORT, COH), (STICKINESS, STICKY), (REVENUE, MONEY)],
                         ids=["lifecycle", "cohort", "stickiness", "revenue"])
async def test_a_commit_after_the_snapshot_is_not_seen_by_any_part(services, reports, kind, spec):
    """Between the export of the first connection's snapshot and the start
    of the other parts, new people's events and a merge of two people commit:
    the answer is the one before them (and a later report sees them)."""
    project = await make_project(services, "parts-snapshot")
    await services.ingest.record_events(project.id, world("p"))
    before = await answer(reports, kind, project.id, spec, 1)

    async def commit(snapshot: str) -> None:
        await services.ingest.record_events(project.id, world("late"))
        await services.ingest.identify(project.id, "p1", "p2")

    reports.after_snapshot_export = commit
    try:
        assert await answer(reports, kind, project.id, spec, 2) == before
        assert reports.split_computations[kind.name] == 1
    finally:
        reports.after_snapshot_export = None
    after = await answer(reports, kind, project.id, spec, 2)
    assert after != before
    assert after == await answer(reports, kind, project.id, spec, 1)


async def test_a_pool_with_no_free_connection_answers_with_the_one_statement(services, database_url):
    """The report's connection is the pool's last: no second one, no wait
    (the one statement answers); and with every other connection taken."""
    project = await make_project(services, "parts-busy")
    await services.ingest.record_events(project.id, world("p"))
    for size in (1, 3):
        pool = await create_pool(database_url, min_size=1, max_size=size)
        reports = ReportService(Settings(report_ttl=0, report_parts=2, report_timeout=10), pool)
        held = [await pool.acquire() for _ in range(size - 1)]
        try:
            got = await asyncio.wait_for(reports.report(LIFECYCLE, project.id, LIFE), 5)
            assert reports.split_computations["lifecycle"] == 0
            for c in held:
                await pool.release(c)
            held = []
            assert (await reports.report(LIFECYCLE, project.id, LIFE)).value == got.value
            assert reports.split_computations["lifecycle"] == (1 if size > 1 else 0)
        finally:
            for c in held:
                await pool.release(c)
            await reports.close()
            await pool.close()


async def test_many_reports_at_once_on_a_small_pool_all_answer(services, database_url):
    """More split reports at once than the pool has connections: none waits
    for a second connection while holding one (no deadlock), all answer
    alike."""
    project = await make_project(services, "parts-many")
    await services.ingest.record_events(project.id, world("p"))
    pool = await create_pool(database_url, min_size=1, max_size=3)
    reports = ReportService(Settings(report_ttl=0, report_parts=2, report_timeout=10), pool)
    try:
        one = (await reports.report(COHORT, project.id, COH)).value
        got = await asyncio.wait_for(
            asyncio.gather(*(reports.report(COHORT, project.id, COH) for _ in range(12))), 30)
        assert all(r.value == one for r in got)
        assert pool.get_size() - pool.get_idle_size() == 0
    finally:
        await reports.close()
        await pool.close()


async def test_a_part_that_times_out_cancels_the_others(services, database_url):
    """A part over statement_timeout: ReportTimeout, the other part
    cancelled, every connection back in the pool and usable."""
    project = await make_project(services, "parts-timeout")
    await services.ingest.record_events(project.id, world("p"))
    pool = await create_pool(database_url, min_size=2, max_size=4)
    reports = ReportService(Settings(report_ttl=0, report_parts=2, report_timeout=0.5), pool)
    real = LIFECYCLE.build_parts
    assert real is not None
    # The first part (on the report's connection) outlives statement_timeout.
    parts = [("SELECT 1 AS x FROM pg_sleep(5)", []), *real(project.id, LIFE, 2)[1:]]
    kind = ReportKind(LIFECYCLE.name + ".slow", LIFECYCLE.build, LIFECYCLE.assemble,
                      build_parts=lambda *_: parts)
    try:
        with pytest.raises(ReportTimeout):
            await asyncio.wait_for(reports.report(kind, project.id, LIFE), 10)
        assert pool.get_size() - pool.get_idle_size() == 0
        assert await pool.fetchval("SELECT 1") == 1
        assert (await reports.report(LIFECYCLE, project.id, LIFE)).value.points
    finally:
        await reports.close()
        await pool.close()


def test_the_parts_cut_the_persons_once_each():
    """Each part is one range of person ids: the parts' conditions differ."""
    for make, spec, column in ((lifecycle_parts, LIFE, "e.person_id"), (cohort_parts, COH, "e.person_id"),
                               (stickiness_parts, STICKY, "e.person_id"), (revenue_parts, MONEY, "person_id")):
        statements = make(uuid.UUID(int=1), spec, 2)
        assert len(statements) == 2
        assert f" {column} < '80000000-0000-0000-0000-000000000000'::uuid" in statements[0][0]
        assert f" {column} >= '80000000-0000-0000-0000-000000000000'::uuid" in statements[1][0]


async def test_revenue_parts_add_up_exactly_past_28_digits(services, reports):
    """Revenue keeps amounts exact up to 10^30 with fractions down to
    10^-30 (app/ingest/validation.py parse_revenue); the parts' sums are
    added in Python, which must not round them to Decimal's default 28
    digits where PostgreSQL's numeric sum of the one statement does not."""
    project = await make_project(services, "parts-exact")
    events = [EventIn(f"rich{i}", "Billed", {"Revenue": amount, "Campaign Source": "ads"}, FROM + timedelta(days=i))
              for i, amount in enumerate(["100000000000000000000000000000", "0.000000000000000000000000000001"] * 10)]
    await services.ingest.record_events(project.id, events)
    one = await answer(reports, REVENUE, project.id, MONEY, 1)
    assert str(one.money.total) == "1000000000000000000000000000000.000000000000000000000000000010"
    for parts in (2, 3):
        assert await answer(reports, REVENUE, project.id, MONEY, parts) == one, parts
