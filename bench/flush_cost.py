"""What one group commit costs PostgreSQL, by group size: the writer's own
statement (app/storage/events.resolve_and_insert: identities resolved and
share-locked, events inserted with all of the table's indexes) and a NOTIFY,
in one transaction, on one connection, in a loop, with nothing else running.

Prints the backend's CPU time per event and the wall time per event for each
group size. The per-flush part (planning, executor start, the commit) is paid
once per group, the rest per event: this is why the writer groups concurrent
events, and what a single-event request costs the database at the group sizes
the ingestion benchmarks reach.

    .venv/bin/python -m bench.flush_cost [--flushes 1500] [--sizes 1,5,15,50,200]"""
from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import orjson
import psutil

from app.ingest.identity import person_id_for
from app.storage.events import Flush, resolve_and_insert
from app.storage.pool import init_connection

from . import common

IDENTITIES = 5000
PROPERTIES = orjson.dumps({"URL": "https://example.com/pricing", "Campaign Source": "google",
                           "Variant": "B"}).decode()


async def measure(url: str, size: int, flushes: int, plan_cache_mode: str = "auto") -> tuple[float, float]:
    """(backend CPU µs per event, wall µs per event) over `flushes` groups of `size`."""
    conn = await asyncpg.connect(url, server_settings={"plan_cache_mode": plan_cache_mode})
    await init_connection(conn)
    project = uuid.uuid4()
    await conn.execute("INSERT INTO projects (id, name, write_key_hash, read_key_hash) VALUES ($1, $2, $3, $4)",
                       project, f"flush-{project.hex[:8]}", uuid.uuid4().bytes * 2, uuid.uuid4().bytes * 2)
    backend = psutil.Process(await conn.fetchval("SELECT pg_backend_pid()"))
    now = datetime.now(timezone.utc)
    sent = 0

    async def flush() -> None:
        nonlocal sent
        who = [f"u{(sent + i) % IDENTITIES}" for i in range(size)]
        distinct = sorted(set(who))
        async with conn.transaction():
            await resolve_and_insert(conn, Flush(
                project, distinct, [person_id_for(project, i) for i in distinct],
                [uuid.uuid4() for _ in who], who, ["Viewed Site"] * size, [PROPERTIES] * size, [None] * size,
                [now - timedelta(seconds=sent + i) for i in range(size)], [now] * size,
                [f"k{sent + i}" for i in range(size)]))
            await conn.execute("SELECT pg_notify($1, $2)", "whodid_bench", "x" * 600)
        sent += size

    try:
        # Warm up: the identities exist (as they do for returning visitors), plans are cached.
        while sent < IDENTITIES:
            await flush()
        cpu_before = sum(backend.cpu_times()[:2])
        wall_before, sent_before = time.perf_counter(), sent
        for _ in range(flushes):
            await flush()
        cpu = sum(backend.cpu_times()[:2]) - cpu_before
        wall = time.perf_counter() - wall_before
        events = sent - sent_before
        return 1e6 * cpu / events, 1e6 * wall / events
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flushes", type=int, default=1500)
    ap.add_argument("--sizes", default="1,5,15,50,200")
    ap.add_argument("--plan-cache-modes", default="auto",
                    help="PostgreSQL's plan_cache_mode for the connection, several comma-separated to compare"
                         " (auto, force_generic_plan, force_custom_plan), interleaved per size")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = args.plan_cache_modes.split(",")
    rows = []
    with common.fresh_database() as url:
        for size in sizes:
            flushes = max(50, args.flushes // max(1, size // 5))  # fewer, larger groups: similar run times
            for mode in modes:
                cpu, wall = asyncio.run(measure(url, size, flushes, mode))
                rows.append([size, mode, f"{cpu:.1f}", f"{cpu * size:.0f}", f"{wall:.1f}"])
                print(f"  {size} events per group, {mode}: {cpu:.1f} µs of backend CPU per event", flush=True)
    print("\none connection, the writer's statement + NOTIFY per transaction, identities known (warmed up)")
    print(common.table(["events per group", "plan_cache_mode", "backend CPU µs per event", "backend CPU µs per group",
                        "wall µs per event"], rows))


if __name__ == "__main__":
    main()
