"""The statistics keeper (app/storage/statistics.py): the planner's statistics
follow the data, from the writer's side and from the reports' side, on a
database of its own (the session database's statistics are everyone's)."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from app.config import Settings
from app.database import prepare_database
from app.ingest.validation import EventIn
from app.reports.funnel import FunnelSpec, FunnelStepSpec
from app.services import Services
from app.storage.pool import create_pool
from app.storage.statistics import StatisticsKeeper, Thresholds, stale_tables, table_state
from tests.support.database import scratch_database

T0 = datetime(2025, 3, 3, tzinfo=timezone.utc)


def test_stale_tables_rule():
    rule = Thresholds(growth=0.2, min_rows=1000)
    # never analyzed (reltuples -1): stale once more than min_rows changed
    assert stale_tables([("events", -1, 1001)], rule) == ["events"]
    assert stale_tables([("events", -1, 1000)], rule) == []
    # analyzed: stale past growth × known + min_rows
    assert stale_tables([("events", 100_000, 21_001), ("persons", 100_000, 21_000)], rule) == ["events"]
    assert stale_tables([("b", 0, 5000), ("a", 0, 5000)], rule) == ["a", "b"]


@pytest.fixture(scope="module")
def keeper_database(admin_url):
    with scratch_database(admin_url, "whodid_stats") as url:
        asyncio.run(prepare_database(url, Settings()))
        yield url


async def _known_rows(conn, table: str) -> float:
    # (on Citus the shards' statistics: the coordinator's table is a shell)
    return {name: known for name, known, _ in await table_state(conn)}[table]


async def _copy_events(conn, project_id: uuid.UUID, count: int) -> None:
    """Events straight into the table, as a restore or another tool would: the
    writer never sees them."""
    person = uuid.uuid4()
    await conn.execute("INSERT INTO persons (project_id, id) VALUES ($1, $2)", project_id, person)
    await conn.copy_records_to_table(
        "events", columns=["project_id", "id", "person_id", "identity", "name", "ts", "received_at"],
        records=[(project_id, uuid.uuid4(), person, "p", "Copied", T0 + timedelta(seconds=i), T0)
                 for i in range(count)])


async def test_a_report_waits_for_statistics_of_data_loaded_elsewhere(keeper_database):
    pool = await create_pool(keeper_database, min_size=1, max_size=4)
    services = Services.build(Settings(report_ttl=0), pool)
    try:
        project = await services.auth.create_project("copied")
        async with pool.acquire() as conn:
            await conn.execute("ANALYZE events")
            before = await _known_rows(conn, "events")
            await _copy_events(conn, project.id, 5000)
        keeper = services.statistics
        assert keeper is not None and keeper.analyzed == 0
        spec = FunnelSpec(steps=(FunnelStepSpec("Copied"),), from_=T0, to=T0 + timedelta(days=1))
        report = await services.reports.funnel(project.id, spec)
        assert report.value.steps[0].people == 1
        assert keeper.analyzed == 1
        async with pool.acquire() as conn:
            assert await _known_rows(conn, "events") >= before + 5000
        # Fresh now: the next report (after the recheck interval) analyzes nothing.
        keeper._checked.clear()
        await services.reports.funnel(project.id, FunnelSpec(steps=spec.steps, from_=T0, to=T0 + timedelta(days=2)))
        assert keeper.analyzed == 1
    finally:
        await services.close()
        await pool.close()


async def _until_counted(conn, table: str, rows: int) -> None:
    """Wait until the cumulative statistics count `rows` changes to `table`."""
    for _ in range(300):
        if any(name == table and changed >= rows for name, _, changed in await table_state(conn)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{table}: {rows} changed rows never reached the statistics")


async def test_a_small_new_project_in_a_big_table_is_noticed(keeper_database):
    """The table-wide count barely moves; the project's estimate is far off."""
    pool = await create_pool(keeper_database, min_size=1, max_size=4)
    keeper = StatisticsKeeper(pool, thresholds=Thresholds(growth=0.2, min_rows=1000))
    try:
        async with pool.acquire() as conn:
            big, small = uuid.uuid4(), uuid.uuid4()
            for pid, name in ((big, "big"), (small, "small")):
                await conn.execute("INSERT INTO projects (id, name, write_key_hash, read_key_hash)"
                                   " VALUES ($1, $2, $3, $4)", pid, f"{name}-{pid}", pid.bytes, pid.bytes[::-1])
            await _copy_events(conn, big, 60_000)
            # A backend reports its row counts to the statistics at most once a
            # second: ANALYZE before they arrive would be undone by them (the
            # 60,000 rows would count as changed after it).
            await _until_counted(conn, "events", 60_000)
            await conn.execute("ANALYZE events")
            await _copy_events(conn, small, 3000)
            events = [row for row in await table_state(conn) if row[0] == "events"]
            assert len(events) == 1 and stale_tables(events, keeper.thresholds) == []
        await keeper.ensure_fresh(big)
        assert keeper.analyzed == 0  # the big project's estimate is right
        await keeper.ensure_fresh(small)
        assert keeper.analyzed == 1
    finally:
        await pool.close()


async def test_the_writer_keeps_statistics_up_while_it_writes(keeper_database):
    pool = await create_pool(keeper_database, min_size=1, max_size=4)
    services = Services.build(Settings(), pool)
    keeper = services.statistics
    assert keeper is not None
    keeper.thresholds = Thresholds(growth=0.2, min_rows=500)
    keeper.interval = 0.05
    services.start()
    try:
        project = await services.auth.create_project("written")
        events = [EventIn(identity=f"w-{i % 50}", name="Written", timestamp=T0 + timedelta(seconds=i))
                  for i in range(3000)]
        for start in range(0, len(events), 500):
            await services.ingest.record_events(project.id, events[start:start + 500])
        assert keeper.written or keeper.analyzed
        for _ in range(100):  # the background task analyzes within its interval
            if keeper.analyzed:
                break
            await asyncio.sleep(0.05)
        assert keeper.analyzed >= 1
        async with pool.acquire() as conn:
            assert {name: changed for name, _, changed in await table_state(conn)}["events"] < 3000
    finally:
        await services.close()
        await pool.close()
