"""CPU time of the contract reports' statements (stickiness, lifecycle,
trends, paths as bench.statements builds them) and the cohort's on an already loaded
bench.statements data set, read-only, beside another tree's statements
(--compare-ref) and DuckDB over the same rows.

On a machine shared with other work the wall times swell and their ratios
mean little (parallel workers most of all: they wait for a free core); CPU
time stays steadier. Each statement is timed three ways, as the report
service runs it (REPORT_SETTINGS and the report's own settings):
- `wall`: wall time, parallel workers allowed (as served);
- `leader`: the backend's CPU (/proc/<pid>/schedstat) in that run: with
  parallel workers this is only the leader's share;
- `serial`: the backend's CPU with max_parallel_workers_per_gather = 0, the
  whole work of the statement in one process.
DuckDB: its process CPU time (all its threads) and wall time. One warm-up,
then the median of --runs runs per round, the median of --rounds rounds
interleaved. Answers are compared by bench.statements, not here.

    .venv/bin/python -m bench.report_cpu --keep NAME [--reports stickiness,lifecycle] \\
        [--compare-ref main] [--rounds 3] [--runs 5]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import timedelta

import asyncpg

from bench import cpu_time, duckdb_reports, generate, reports, statements


def _cpu_ms(pid: int) -> float:
    return cpu_time.backend_cpu_ns(pid) / 1e6


async def _time(conn, pid: int, sql: str, params: list, extra: str | None, serial: bool, runs: int) -> tuple:
    from app.reports.service import REPORT_SETTINGS

    walls, cpus = [], []
    for i in range(runs + 1):
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await conn.execute(REPORT_SETTINGS, "900000")
            if extra:
                await conn.execute(extra)
            if serial:
                await conn.execute("SELECT set_config('max_parallel_workers_per_gather', '0', true)")
            c0, t0 = _cpu_ms(pid), time.perf_counter()
            await conn.fetch(sql, *params)
            t1, c1 = time.perf_counter(), _cpu_ms(pid)
        if i:
            walls.append((t1 - t0) * 1e3)
            cpus.append(c1 - c0)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", required=True, help="the NAME of a loaded whodid_bench_stmt_NAME (read as it is)")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--reports", default="stickiness,lifecycle")
    ap.add_argument("--compare-ref")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    kinds = tuple(k for k in ("cohort", *statements.CONTRACT_KINDS) if k in args.reports.split(","))
    start, end = generate.START, generate.END
    with statements.dataset(args.events, args.seed, args.keep, read_only=True) as (url, project_id, paths):
        trees = {"whodid": (statements.build(project_id, start, end, 10, kinds), statements.settings())}
        if args.compare_ref:
            ref = statements.ref_statements(args.compare_ref, url, project_id, 10, kinds)
            trees[args.compare_ref] = (ref["statements"], ref.get("settings", {}))
        con = duckdb_reports.connect(paths)
        duckdb_reports.connect_persons(con, paths)
        duck = {
            "cohort": lambda: duckdb_reports.cohort(con, "Signed Up", "Logged In", reports.COHORT_FROM,
                                                    reports.COHORT_TO, 7 * 86400, 12),
            "stickiness": lambda: duckdb_reports.stickiness(con, statements.STICKY_EVENT, start, end,
                                                            statements.STICKY_INTERVAL),
            "lifecycle": lambda: duckdb_reports.lifecycle(con, reports.LIFECYCLE_EVENT, start, end, "week", start,
                                                          end - timedelta(weeks=1)),
            "trends": lambda: duckdb_reports.trends(con, statements.TREND_SERIES, start, end, "DAY",
                                                    statements.TREND_BREAKDOWN),
            "paths": lambda: duckdb_reports.paths(con, reports.PATHS_START, start, end, 4, 10),
        }
        out = asyncio.run(_run(url, kinds, trees, duck, args.rounds, args.runs))
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(f"\n{args.events:,} events requested (seed {args.seed}); medians of {args.runs} runs, of {args.rounds} "
          f"interleaved rounds; DuckDB threads: {threads}")
    print("| report | statement | wall ms | leader CPU ms | serial CPU ms | serial CPU / DuckDB CPU |")
    print("|---|---|---|---|---|---|")
    for kind in kinds:
        dw, dc = (statistics.median(x) for x in zip(*out[(kind, "duckdb")]))
        for name in trees:
            w, c, s = (statistics.median(x) for x in zip(*out[(kind, name)]))
            print(f"| {kind} | {name} | {w:,.0f} | {c:,.0f} | {s:,.0f} | {s / dc:.2f} |")
        print(f"| {kind} | DuckDB | {dw:,.0f} | {dc:,.0f} (process, all threads) | | |")


async def _run(url: str, kinds: tuple, trees: dict, duck: dict, rounds: int, runs: int) -> dict:
    conn = await asyncpg.connect(url)
    pid = await conn.fetchval("SELECT pg_backend_pid()")
    out: dict = {}
    try:
        for rnd in range(rounds):
            for kind in kinds:
                for name, (stmts, settings) in trees.items():
                    sql, params = stmts[kind]
                    w, c = await _time(conn, pid, sql, params, settings.get(kind), False, runs)
                    _, s = await _time(conn, pid, sql, params, settings.get(kind), True, runs)
                    out.setdefault((kind, name), []).append((w, c, s))
                    print(f"  round {rnd + 1} {kind} {name}: wall {w:.0f} ms, leader CPU {c:.0f}, serial CPU {s:.0f}",
                          flush=True)
                ws, cs = [], []
                for i in range(runs + 1):
                    c0, t0 = time.process_time(), time.perf_counter()
                    duck[kind]()
                    t1, c1 = time.perf_counter(), time.process_time()
                    if i:
                        ws.append((t1 - t0) * 1e3)
                        cs.append((c1 - c0) * 1e3)
                out.setdefault((kind, "duckdb"), []).append((statistics.median(ws), statistics.median(cs)))
                print(f"  round {rnd + 1} {kind} DuckDB: wall {statistics.median(ws):.0f} ms, CPU {statistics.median(cs):.0f}", flush=True)
    finally:
        await conn.close()
    return out


if __name__ == "__main__":
    main()
