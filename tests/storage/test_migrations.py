"""app/storage/migrations.py: the real migrations applied by several processes
at once (as the workers of `whodid serve` do at start), once each; and the
no-transaction kind (CREATE INDEX CONCURRENTLY) among them, safe to run again."""
from __future__ import annotations

import asyncio

import asyncpg
import pytest

from app.config import Settings
from app.storage.migrations import NO_TRANSACTION, migrate, migration_files, statements
from tests.support.database import scratch_database

MIGRATIONS = Settings().migrations_dir


@pytest.fixture
def scratch_url(admin_url):
    with scratch_database(admin_url, "whodid_migrations") as url:
        yield url


def test_statements_of_a_no_transaction_migration():
    text = f"{NO_TRANSACTION}\n-- why\nDROP INDEX CONCURRENTLY IF EXISTS a;\nCREATE INDEX CONCURRENTLY a\n  ON t (x);\nSELECT 1"
    assert statements(text) == ["DROP INDEX CONCURRENTLY IF EXISTS a;", "CREATE INDEX CONCURRENTLY a\n  ON t (x);",
                                "SELECT 1"]


async def test_workers_starting_together_apply_each_migration_once(scratch_url):
    assert any(p.read_text().startswith(NO_TRANSACTION) for p in migration_files(MIGRATIONS))
    conns = [await asyncpg.connect(scratch_url) for _ in range(3)]
    try:
        # A session waiting in pg_advisory_lock would deadlock with the
        # concurrent index build in the session holding the lock.
        applied = await asyncio.wait_for(asyncio.gather(*(migrate(c, MIGRATIONS) for c in conns)), timeout=120)
        names = [p.name for p in migration_files(MIGRATIONS)]
        assert sorted(sum(applied, [])) == names  # each applied by exactly one of them
        rows = await conns[0].fetch("SELECT name FROM schema_migrations ORDER BY name")
        assert [r["name"] for r in rows] == names
        index = await conns[0].fetchrow(
            "SELECT i.indisvalid, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'events_name_person_ts'")
        assert index["indisvalid"] and "ts DESC, seq DESC" in index["def"]
        assert not await conns[0].fetchval("SELECT count(*) FROM pg_class WHERE relname = 'events_name_person_ts_new'")
    finally:
        for c in conns:
            await c.close()


async def test_a_no_transaction_migration_runs_again_after_an_interruption(scratch_url):
    conn = await asyncpg.connect(scratch_url)
    try:
        await migrate(conn, MIGRATIONS)
        (path,) = [p for p in migration_files(MIGRATIONS) if p.name.startswith("0006")]
        steps = statements(path.read_text())
        # Interrupted after its first two statements (the new index built, the
        # old one still there), then run again from the start.
        for statement in steps[:2]:
            await conn.execute(statement)
        for statement in steps:
            await conn.execute(statement)
        names = await conn.fetch("SELECT relname FROM pg_class WHERE relname LIKE 'events_name_person_ts%'")
        assert [r["relname"] for r in names] == ["events_name_person_ts"]
    finally:
        await conn.close()
