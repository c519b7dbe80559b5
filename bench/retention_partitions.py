"""Retention by batched DELETE (what whodid does, app/storage/retention.py)
against monthly partitions dropped whole (issue 15 asked to measure both).

In a fresh database, the same `--events` events spread over 12 months go into
whodid's `events` table and into a copy partitioned by month (same columns and
indexes; its idempotency index must include `ts`, a partitioned table's
unique indexes include the partition key). Then the oldest 6 months go:

  delete   RetentionKeeper.run_once with a retention that cuts there
           (batches of `--batch`, resting as long as each batch took);
  drop     ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY, then DROP TABLE,
           per month.

Printed: rows removed and seconds for each.

    .venv/bin/python -m bench.retention_partitions [--events 300000] [--batch 2000]"""
from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime, timedelta, timezone

from app.storage.pool import create_pool
from app.storage.retention import RetentionKeeper

from . import common

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
INSERT = """
INSERT INTO {table} (project_id, id, person_id, identity, name, properties, ts, received_at)
SELECT $1, gen_random_uuid(), md5('p' || (g % 1000))::uuid, 'p' || (g % 1000), 'E ' || (g % 7),
       jsonb_build_object('n', g), $3::timestamptz + (g * interval '365 days' / $2), now()
FROM generate_series(1, $2) g
"""


def month(n: int) -> datetime:
    return datetime(2024 + (n // 12), n % 12 + 1, 1, tzinfo=timezone.utc)


async def run(url: str, args) -> None:
    pool = await create_pool(url, min_size=1, max_size=4)
    try:
        project = await pool.fetchval(
            "INSERT INTO projects (id, name, write_key_hash, read_key_hash, retention_days)"
            " VALUES (gen_random_uuid(), 'bench', 'w', 'r', 1) RETURNING id")
        await pool.execute(INSERT.format(table="events"), project, args.events, START)
        await pool.execute("""
            CREATE TABLE events_by_month (LIKE events INCLUDING DEFAULTS) PARTITION BY RANGE (ts);
            ALTER TABLE events_by_month ALTER COLUMN seq DROP IDENTITY IF EXISTS;
            CREATE UNIQUE INDEX ON events_by_month (project_id, idempotency_key, ts) WHERE idempotency_key IS NOT NULL;
            CREATE INDEX ON events_by_month (project_id, name, ts);
            CREATE INDEX ON events_by_month (project_id, person_id, ts);
            CREATE INDEX ON events_by_month (project_id, ts, seq);
        """)
        for n in range(13):
            await pool.execute(
                f"CREATE TABLE events_m{n} PARTITION OF events_by_month FOR VALUES FROM ('{month(n).isoformat()}')"
                f" TO ('{month(n + 1).isoformat()}')")
        await pool.execute("INSERT INTO events_by_month SELECT * FROM events")
        await pool.execute("ANALYZE")
        cut = month(6)

        keeper = RetentionKeeper(pool, batch=args.batch, clock=lambda: cut + timedelta(days=1))
        started = time.perf_counter()
        result = await keeper.run_once()
        deleted = sum(result.deleted.values())
        print(f"delete  {deleted:8d} rows in {time.perf_counter() - started:6.2f} s"
              f" ({result.batches} batches of {args.batch})")

        expected = await pool.fetchval("SELECT count(*) FROM events_by_month WHERE ts < $1", cut)
        started = time.perf_counter()
        for n in range(6):
            await pool.execute(f"ALTER TABLE events_by_month DETACH PARTITION events_m{n} CONCURRENTLY")
            await pool.execute(f"DROP TABLE events_m{n}")
        print(f"drop    {expected:8d} rows in {time.perf_counter() - started:6.2f} s (6 monthly partitions)")
    finally:
        await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=2000)
    arguments = parser.parse_args()
    with common.fresh_database("whodid_bench_partitions") as database:
        asyncio.run(run(database, arguments))
