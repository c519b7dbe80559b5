"""The funnel, cohort and revenue reports with and without their options
(exclusions, holdConstant, people, the chains trend reads; RECURRING,
cumulative, people) on a `whodid demo` project: each computation in a
read-only REPEATABLE READ transaction with REPORT_SETTINGS, median of 7.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/DB whodid demo --people 30000 --project demo30k
    .venv/bin/python -m bench.report_options postgresql://postgres@127.0.0.1:5432/DB demo30k
"""
import asyncio
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from app.reports.funnel import FunnelSpec, FunnelStepSpec, ExclusionSpec, compute_funnel
from app.reports.cohort import CohortSpec, compute_cohort
from app.reports.revenue import RevenueSpec, compute_revenue
from app.reports.population import Population
from app.reports.periods import Period
from app.reports.service import REPORT_SETTINGS
from app.storage.filters import PropertyFilter, FilterOp
from app.storage.pool import create_pool

async def timed(pool, fn, rounds=7):
    ts = []
    for _ in range(rounds):
        async with pool.acquire() as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                await conn.execute(REPORT_SETTINGS, "60000")
                t = time.perf_counter()
                await fn(conn)
                ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1000

async def main():
    pool = await create_pool(sys.argv[1], min_size=1, max_size=2)
    pid = await pool.fetchval("SELECT id FROM projects WHERE name = $1", sys.argv[2])
    await pool.execute("VACUUM ANALYZE")
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    frm, to = today - timedelta(days=182), today
    steps = tuple(FunnelStepSpec(n) for n in ("Visited Site", "Viewed Pricing Page", "Signed Up", "Billed"))
    google = Population(properties=(PropertyFilter("Campaign Source", FilterOp.EQ, "google"),))
    cases = {
        "funnel default": FunnelSpec(steps, frm, to),
        "funnel exclusions": FunnelSpec(steps, frm, to, exclusions=(ExclusionSpec("Refunded", 2, 3),)),
        "funnel holdConstant": FunnelSpec(steps, frm, to, hold_constant="URL"),
        "funnel people": FunnelSpec(steps, frm, to, people=google),
    }
    for name, spec in cases.items():
        ms = await timed(pool, lambda c, s=spec: compute_funnel(c, pid, s, with_people=False))
        r = await compute_funnel(pool, pid, spec, with_people=False)
        print(f"{name:24s} {ms:7.1f} ms  {[s.people for s in r.steps]}")
    ms = await timed(pool, lambda c: compute_funnel(c, pid, cases["funnel default"], with_people=True))
    print(f"{'funnel + chains (trend)':24s} {ms:7.1f} ms")
    for name, spec in {
        "cohort default": CohortSpec("Signed Up", "Logged In", frm, to, Period.WEEK, Period.WEEK, 12),
        "cohort RECURRING": CohortSpec("Logged In", "Logged In", frm, to, Period.WEEK, Period.WEEK, 12, mode="RECURRING"),
        "cohort cumulative": CohortSpec("Signed Up", "Logged In", frm, to, Period.WEEK, Period.WEEK, 12, cumulative=True),
        "cohort people": CohortSpec("Signed Up", "Logged In", frm, to, Period.WEEK, Period.WEEK, 12, people=google),
    }.items():
        ms = await timed(pool, lambda c, s=spec: compute_cohort(c, pid, s, today))
        print(f"{name:24s} {ms:7.1f} ms")
    for name, spec in {"revenue default": RevenueSpec(frm, to), "revenue people": RevenueSpec(frm, to, people=google)}.items():
        ms = await timed(pool, lambda c, s=spec: compute_revenue(c, pid, s))
        print(f"{name:24s} {ms:7.1f} ms")
if __name__ == "__main__":
    asyncio.run(main())
