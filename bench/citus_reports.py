"""The funnel, trends and paths on a Citus cluster, per shard (each report's
per-shard statement: docs/scaling.md, "Reports on Citus"), against plain
PostgreSQL's own statement on the same world: bench/generate.py's (default
1,000,000 events, seed 42, as bench.reports and bench.statements), loaded
into a fresh database on each side, or kept ones given by URL. The answers
(assembled, as the service returns them) are compared.

Each statement runs as the report service runs it: its own read-only
REPEATABLE READ transaction with REPORT_SETTINGS and the report's settings;
one warm-up run, then `--runs` timed runs (client wall time) per side, the
sides alternating.

    .venv/bin/python -m bench.citus_reports --citus postgresql://postgres@127.0.0.1:9700/postgres \\
        [--events 1000000] [--runs 3] [--citus-db URL] [--plain-db URL] [--coordinator]

`--coordinator` also times the coordinator's path (cluster.reads: the
project's rows pulled; tens of seconds at 1M events)."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from datetime import datetime, timezone
from typing import Any, Callable

import asyncpg

from app.reports import funnel as funnel_mod
from app.reports.paths import PATHS, PathsSpec
from app.reports.periods import Period
from app.reports.service import REPORT_SETTINGS
from app.reports.trends import TRENDS, BreakdownSpec, SeriesSpec, TrendMath, TrendsSpec
from app.storage import cluster
from app.storage.pool import connect

from . import common, generate, reports

COMPUTED_AT = datetime(2030, 1, 1, tzinfo=timezone.utc)


def cases(start: datetime, end: datetime) -> dict[str, tuple[Any, Callable, Callable, Callable, str | None]]:
    """{name: (spec, build, build_per_shard, assemble, settings)}."""
    steps = tuple(funnel_mod.FunnelStepSpec(s) for s in reports.FUNNEL_STEPS)
    funnel = funnel_mod.FunnelSpec(steps, start, end, window_seconds=reports.WINDOW,
                                   segment_by=funnel_mod.SegmentSpec(first_step_property=reports.SEGMENT, limit=10))
    plain_funnel = funnel_mod.FunnelSpec(steps, start, end, window_seconds=reports.WINDOW)
    excluded = funnel_mod.FunnelSpec(steps[:1] + steps[2:], start, end, window_seconds=reports.WINDOW,
                                     exclusions=(funnel_mod.ExclusionSpec("Viewed Pricing", 0, 1),))

    def funnel_case(spec: funnel_mod.FunnelSpec, people: bool = False) -> tuple:
        return (spec, lambda p, s: funnel_mod.build_query(p, s, people),
                lambda p, s: funnel_mod.build_query(p, s, people, per_shard=True),
                lambda rows, s, at: funnel_mod.assemble(rows, s, at, with_people=people), funnel_mod.STATEMENT_SETTINGS)

    series = tuple(SeriesSpec(s["event"], math=TrendMath(s["math"]), property=s.get("property"))
                   for s in reports.TREND_SERIES)
    trends = TrendsSpec(series, start, end, Period.DAY, BreakdownSpec(person_property=reports.TREND_BREAKDOWN))
    by_event = TrendsSpec(series, start, end, Period.WEEK, BreakdownSpec(event_property=reports.SEGMENT))
    paths = PathsSpec(start, end, start_event=reports.PATHS_START)
    to_end = PathsSpec(start, end, end_event="Subscribed")

    def kind_case(kind: Any, spec: Any) -> tuple:
        return spec, kind.build, kind.build_per_shard, kind.assemble, kind.settings

    return {
        "funnel (bench.reports': 4 steps, window, by first step)": funnel_case(funnel),
        "funnel, 4 steps, window": funnel_case(plain_funnel),
        "funnel, peopleList chains": funnel_case(funnel, people=True),
        "funnel, exclusion (walked)": funnel_case(excluded),
        "trends (bench.reports': DAY, by person Variant)": kind_case(TRENDS, trends),
        "trends, WEEK, by event Campaign Source": kind_case(TRENDS, by_event),
        "paths (bench.reports': from Visited Site)": kind_case(PATHS, paths),
        "paths, to Subscribed": kind_case(PATHS, to_end),
    }


async def timed(conn: asyncpg.Connection, settings: str | None, sql: str, params: list, reads: Any = None
                ) -> tuple[float, list]:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(REPORT_SETTINGS, "1800000")
        if settings:
            await conn.execute(settings)
        started = time.perf_counter()
        rows = await (reads or conn).fetch(sql, *params)
        return time.perf_counter() - started, rows


def comparable(answer: Any) -> Any:
    """An answer without what may differ by plan alone (the order of the
    people list's persons is not part of it: people.py sorts them)."""
    people = getattr(answer, "people", None)
    if people is not None:
        order = sorted(range(len(people)), key=people.person_id)
        chains = [(people.person_id(i), people.levels[i], people.segments[i],
                   tuple(people.times[i * people.steps:(i + 1) * people.steps])) for i in order]
        return (answer.__class__.__name__, repr(answer.__dict__ | {"people": None, "computed_at": None}), chains)
    return answer


async def run(citus_url: str, plain_url: str, runs: int, coordinator: bool) -> None:
    citus, plain = await connect(citus_url), await connect(plain_url)
    try:
        project = await plain.fetchval("SELECT id FROM projects ORDER BY created_at LIMIT 1")
        assert project == await citus.fetchval("SELECT id FROM projects ORDER BY created_at LIMIT 1"), "not one world"
        events = await plain.fetchval("SELECT count(*) FROM events WHERE project_id = $1", project)
        print(f"project {project}, {events} events; {runs} runs per side after a warm-up", flush=True)
        for name, (spec, build, build_per_shard, assemble, settings) in cases(generate.START, generate.END).items():
            sql, params = build(project, spec)
            per_shard = build_per_shard(project, spec)
            assert per_shard is not None, name
            await timed(plain, settings, sql, params)
            await timed(citus, settings, *per_shard)
            ours, theirs = [], []
            for _ in range(runs):
                t, prow = await timed(plain, settings, sql, params)
                ours.append(t)
                t, crow = await timed(citus, settings, *per_shard)
                theirs.append(t)
            equal = comparable(assemble(prow, spec, COMPUTED_AT)) == comparable(assemble(crow, spec, COMPUTED_AT))
            line = (f"{name}: plain {statistics.median(ours):.3f} s ({', '.join(f'{t:.3f}' for t in ours)}),"
                    f" Citus per shard {statistics.median(theirs):.3f} s ({', '.join(f'{t:.3f}' for t in theirs)}),"
                    f" ratio {statistics.median(theirs) / statistics.median(ours):.2f}")
            if coordinator:
                t, pulled = await timed(citus, settings, sql, params, cluster.reads(citus))
                line += f"; coordinator path {t:.3f} s"
                equal = equal and comparable(assemble(pulled, spec, COMPUTED_AT)) == comparable(
                    assemble(prow, spec, COMPUTED_AT))
            print(f"{line}; answers {'equal' if equal else 'DIFFER'}", flush=True)
    finally:
        await citus.close()
        await plain.close()


async def load(url: str, events: int, seed: int) -> None:
    ds = generate.generate(events=events, seed=seed)
    await generate.load_database(url, ds, f"citus-reports-{ds.project_id.hex[:8]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--citus", required=True, metavar="URL", help="the cluster's coordinator (a database is made)")
    ap.add_argument("--citus-db", metavar="URL", help="a loaded database on the cluster instead (kept)")
    ap.add_argument("--plain-db", metavar="URL", help="a loaded plain PostgreSQL database instead (kept)")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--coordinator", action="store_true", help="also the coordinator's path (slow)")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        citus_url, plain_url = args.citus_db, args.plain_db
        if citus_url is None:
            citus_url = stack.enter_context(common.fresh_citus_database(args.citus, "whodid_bench_citus_reports"))
            asyncio.run(load(citus_url, args.events, args.seed))
        if plain_url is None:
            plain_url = stack.enter_context(common.fresh_database("whodid_bench_citus_reports"))
            asyncio.run(load(plain_url, args.events, args.seed))
        asyncio.run(run(citus_url, plain_url, args.runs, args.coordinator))


if __name__ == "__main__":
    main()
