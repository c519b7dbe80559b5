"""Reports in parts under concurrency (docs/benchmarks.md §19.2): N clients
in one process, each asking ReportService (no cache: WHODID_REPORT_TTL 0)
for its own variant of one report (`to` moved by a few µs, so that no two
requests share a cache key or a computation) in a loop for `--seconds`,
with WHODID_REPORT_PARTS 1 and 2 alternately; reports per second, p50 and
p95 latency, and how many ran split. On a kept bench database (pool of 10,
as a server worker's).

    .venv/bin/python -m bench.split_load [--db whodid_bench_stmt_nrspeed1m] [--reports cohort,lifecycle,stickiness]
        [--clients 1,2,4] [--seconds 4] [--repeat 2]"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import time
from datetime import timedelta

from . import common, generate, statements


async def one_run(url: str, kind_name: str, parts: int, clients: int, seconds: float) -> tuple[float, float, float, int, int]:
    """(reports/s, p50 ms, p95 ms, split, reports)."""
    from app.config import Settings
    from app.reports.service import ReportService
    from app.storage.pool import create_pool

    pool = await create_pool(url, min_size=2, max_size=10)
    service = ReportService(Settings(report_ttl=0, report_parts=parts, report_timeout=60), pool)
    project_id = await pool.fetchval("SELECT id FROM projects LIMIT 1")
    kind, spec = statements.split_kinds(generate.START, generate.END, 10, (kind_name,))[kind_name]
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def client(i: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            variant = dataclasses.replace(spec, to=spec.to + timedelta(microseconds=1000 * i + n))
            started = time.perf_counter()
            await service.report(kind, project_id, variant)
            latencies.append(time.perf_counter() - started)
            n += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(client(i) for i in range(clients)))
    finally:
        elapsed = time.perf_counter() - started
        split = sum(service.split_computations.values())
        await service.close()
        await pool.close()
    latencies.sort()
    return (len(latencies) / elapsed, statistics.median(latencies) * 1000,
            latencies[int(len(latencies) * 0.95)] * 1000, split, len(latencies))


async def main_async(args) -> None:
    url = common.db_url(args.db)
    for kind in args.reports.split(","):
        for clients in (int(c) for c in args.clients.split(",")):
            for _ in range(args.repeat):
                for parts in (1, 2):
                    rps, p50, p95, split, n = await one_run(url, kind, parts, clients, args.seconds)
                    print(f"{kind} clients={clients} parts={parts}: {rps:.1f} reports/s, p50 {p50:.0f} ms,"
                          f" p95 {p95:.0f} ms, split {split}/{n}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="whodid_bench_stmt_nrspeed1m")
    ap.add_argument("--reports", default="cohort,lifecycle,stickiness")
    ap.add_argument("--clients", default="1,2,4")
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--repeat", type=int, default=2)
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
