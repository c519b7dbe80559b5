"""Retention's background removal: its deletion rate, and what it does to
ingestion running at the same time (issue 15; docs/operations.md "Data
lifecycle").

In a fresh database: a project with `--old` events older than its retention
(inserted directly, spread over 1,000 people and 30 days, a year ago) and a
retention of 30 days. Then, in this process, the ingest service (group-commit
writer, as a server runs it) takes `--clients` concurrent senders of
recordEvents batches of `--batch` events:

  alone    for `--seconds` seconds, nothing else running;
  during   while RetentionKeeper.run_once removes the old events
           (WHODID_RETENTION_BATCH-sized transactions, `--delete-batch`),
           until it has finished.

Printed: events/s and p50/p99 latency of a batch in each phase, the
deletion's rows/s and batches, and whether any ingest call failed.

    .venv/bin/python -m bench.retention [--old 300000] [--delete-batch 2000] [--rest-ratio 1] [--seconds 8]"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import datetime, timedelta, timezone

from app.config import Settings
from app.ingest.validation import EventIn
from app.services import Services
from app.storage.pool import create_pool
from app.storage.retention import RetentionKeeper

from . import common


async def load_old(pool, project_id, count: int) -> None:
    start = datetime.now(timezone.utc) - timedelta(days=365)
    await pool.execute(
        """
        WITH p AS (SELECT g, md5('p' || (g % 1000))::uuid AS person, 'p' || (g % 1000) AS identity
                   FROM generate_series(1, $2) g)
        INSERT INTO events (project_id, id, person_id, identity, name, properties, ts, received_at)
        SELECT $1, gen_random_uuid(), person, identity, 'Old ' || (g % 7), jsonb_build_object('n', g),
               $3::timestamptz + (g * interval '30 days' / $2), now()
        FROM p
        """,
        project_id, count, start,
    )
    await pool.execute("ANALYZE events")


async def ingest(services, project_id, clients: int, batch: int, until) -> tuple[int, list[float], int]:
    sent, latencies, failures = 0, [], 0

    async def client(c: int) -> None:
        nonlocal sent, failures
        n = 0
        while not until():
            events = [EventIn(f"c{c}-{n % 500}", "New", {"n": n, "i": i}) for i in range(batch)]
            t0 = time.perf_counter()
            try:
                await services.ingest.record_events(project_id, events)
                sent += batch
            except Exception:
                failures += 1
            latencies.append(time.perf_counter() - t0)
            n += 1

    await asyncio.gather(*(client(c) for c in range(clients)))
    return sent, latencies, failures


def describe(name: str, sent: int, latencies: list[float], seconds: float, failures: int) -> str:
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [latencies[0]] * 99
    return (f"{name:7s} {sent / seconds:8.0f} events/s  batch p50 {q[49] * 1000:6.1f} ms"
            f"  p99 {q[98] * 1000:6.1f} ms  over {seconds:5.1f} s  failures {failures}")


async def run(url: str, args) -> None:
    if True:
        pool = await create_pool(url, min_size=2, max_size=10)
        services = Services.build(Settings(), pool)
        await services.start_areas()
        services.start()
        try:
            keys = await services.auth.create_project("retention-bench")
            await load_old(pool, keys.id, args.old)
            await pool.execute("UPDATE projects SET retention_days = 30 WHERE id = $1", keys.id)

            deadline = time.perf_counter() + args.seconds
            t0 = time.perf_counter()
            sent, lat, failed = await ingest(services, keys.id, args.clients, args.batch,
                                             lambda: time.perf_counter() > deadline)
            print(describe("alone", sent, lat, time.perf_counter() - t0, failed))

            keeper = RetentionKeeper(pool, batch=args.delete_batch, rest_ratio=args.rest_ratio)
            done = asyncio.Event()

            async def remove():
                try:
                    return await keeper.run_once()
                finally:
                    done.set()

            t0 = time.perf_counter()
            (result, (sent, lat, failed)) = await asyncio.gather(
                remove(), ingest(services, keys.id, args.clients, args.batch, done.is_set))
            elapsed = time.perf_counter() - t0
            print(describe("during", sent, lat, elapsed, failed))
            removed = sum(result.deleted.values())
            print(f"removed {removed} events in {result.batches} batches of {args.delete_batch},"
                  f" {result.seconds:.1f} s: {removed / result.seconds:.0f} rows/s")
            left = await pool.fetchval("SELECT count(*) FROM events WHERE project_id = $1 AND name LIKE 'Old%'",
                                       keys.id)
            print(f"old events left: {left}")
        finally:
            await services.close()
            await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=int, default=300_000)
    parser.add_argument("--delete-batch", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rest-ratio", type=float, default=1.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=50)
    arguments = parser.parse_args()
    with common.fresh_database("whodid_bench_retention") as database:
        asyncio.run(run(database, arguments))
