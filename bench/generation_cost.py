"""What reading the report generation costs a cached report (one primary-key
SELECT per report request): in-process, a cached revenue report 1,000 times,
median of 5, with the read and with a constant generation.

    .venv/bin/python -m bench.generation_cost"""
import asyncio, time, statistics
from datetime import datetime, timezone
from app.config import Settings
from app.services import Services
from app.storage.pool import create_pool
from app.reports.revenue import RevenueSpec
from bench import common

async def run(url):
    pool = await create_pool(url, min_size=2, max_size=4)
    s = Services.build(Settings(report_ttl=600), pool)
    keys = await s.auth.create_project("gen")
    spec = RevenueSpec(datetime(2024,1,1,tzinfo=timezone.utc), datetime(2024,3,1,tzinfo=timezone.utc))
    r = s.reports
    await r.revenue(keys.id, spec)
    for label in ("with generation read", "without (constant)"):
        if label.startswith("without"):
            async def zero(pid): return 0
            r._generation = zero
            await r.revenue(keys.id, spec)
        rounds = []
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(1000):
                assert (await r.revenue(keys.id, spec)).cached
            rounds.append((time.perf_counter() - t) / 1000 * 1e6)
        print(f"{label}: cached report {statistics.median(rounds):.0f} us (median of 5 x 1000)")
    rounds = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(1000):
            await pool.fetchval("SELECT 1")
        rounds.append((time.perf_counter() - t) / 1000 * 1e6)
    print(f"a bare pool.fetchval('SELECT 1'): {statistics.median(rounds):.0f} us")
    await r.close(); await pool.close()

def main() -> None:
    with common.fresh_database("whodid_bench_gen") as url:
        asyncio.run(run(url))


if __name__ == "__main__":
    main()
