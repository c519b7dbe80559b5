"""Single events through the writer, in process, on plain PostgreSQL and on a
Citus cluster side by side: `concurrency` tasks each call record_event in a
loop (one event per call, as /e and recordEvent do) for `seconds`; the
writer's group commits are all there is between them and the database.

Prints events/s, the mean events per flush and the mean flush time, and, with
--profile, each statement of the Citus flushes with its mean time (asyncpg's
query logger on the writer's connections).

    .venv/bin/python -m bench.citus_flush --citus postgresql://postgres@127.0.0.1:9700/postgres \\
        [--seconds 10] [--rounds 2] [--concurrency 32] [--keys/--no-keys] [--profile]"""
from __future__ import annotations

import argparse
import asyncio
import collections
import time
import uuid

from app.config import Settings
from app.ingest.validation import EventIn
from app.services import Services
from app.storage.pool import create_pool

from . import common


async def measure(url: str, seconds: float, concurrency: int, keys: bool, profile: bool) -> dict:
    pool = await create_pool(url, min_size=2, max_size=8)
    services = Services.build(Settings(), pool)
    services.start()
    flushes: list[tuple[int, float]] = []
    services.writer.observers.append(lambda size, elapsed: flushes.append((size, elapsed)))
    statements: collections.defaultdict[str, list[float]] = collections.defaultdict(list)
    if profile:
        def logged(record) -> None:
            statements[" ".join(record.query.split())[:90]].append(record.elapsed)

        for holder in pool._holders:  # (a benchmark: asyncpg's private list of connections)
            if holder._con is not None:
                holder._con.add_query_logger(logged)
    try:
        project = await services.auth.create_project(f"flush-{uuid.uuid4().hex[:6]}")
        sent = 0
        deadline = time.perf_counter() + seconds

        async def client(n: int) -> None:
            nonlocal sent
            i = 0
            while time.perf_counter() < deadline:
                await services.ingest.record_event(project.id, EventIn(
                    identity=f"user-{n}-{i % 50}", name="Viewed", properties={"URL": "/pricing", "n": i},
                    id=f"k-{n}-{i}" if keys else None))
                i += 1
                sent += 1

        started = time.perf_counter()
        await asyncio.gather(*(client(n) for n in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await services.close()
        await pool.close()
    sizes = [s for s, _ in flushes] or [0]
    return {
        "events/s": round(sent / elapsed),
        "events/flush": round(sum(sizes) / len(sizes), 1),
        "flush ms": round(1000 * sum(e for _, e in flushes) / max(len(flushes), 1), 1),
        "statements": {q: (len(v), round(1000 * sum(v) / len(v), 2)) for q, v in statements.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--citus", required=True, metavar="URL")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--keys", action=argparse.BooleanOptionalAction, default=True,
                    help="an idempotency key on every event (recordEvent's `id`)")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    rows = []
    with common.fresh_database("whodid_bench_citus2") as plain, \
            common.fresh_citus_database(args.citus, "whodid_bench_citus2_c") as citus:
        for r in range(args.rounds):
            results = {}
            for name, url in (("plain", plain), ("citus", citus)):
                results[name] = asyncio.run(measure(url, args.seconds, args.concurrency, args.keys,
                                                    args.profile and name == "citus"))
            ratio = results["citus"]["events/s"] / max(results["plain"]["events/s"], 1)
            rows.append([r + 1, results["plain"]["events/s"], results["plain"]["events/flush"],
                         results["plain"]["flush ms"], results["citus"]["events/s"],
                         results["citus"]["events/flush"], results["citus"]["flush ms"], f"{ratio:.2f}"])
            if args.profile:
                for query, (count, ms) in sorted(results["citus"]["statements"].items(), key=lambda x: -x[1][0]):
                    print(f"  {count:6d} × {ms:7.2f} ms  {query}")
    print(common.table(["round", "plain ev/s", "plain ev/flush", "plain flush ms", "citus ev/s",
                        "citus ev/flush", "citus flush ms", "citus/plain"], rows))


if __name__ == "__main__":
    main()
