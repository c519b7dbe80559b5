"""The revenue statement's cost as the CPU time of the PostgreSQL backend that
runs it (/proc/<pid>/schedstat, nanoseconds), beside its wall time and
DuckDB's (process CPU time, all its threads, and wall): a comparison that a
loaded, shared machine disturbs much less than wall time alone (the backend
waiting for a core is not counted).

Interleaved, on one kept data set of bench.statements (`--keep NAME` there):

- `ref`: the statement of git REF (default main), run without the index
  events_revenue_person (dropped inside the run's own transaction, rolled
  back: the schema before migration 0011);
- `new, no 0011`: this tree's statement without that index;
- `new`: this tree's statement as the server runs it;
- DuckDB: bench/duckdb_reports.py's revenue in-process over the same rows.

Each run is its own transaction with REPORT_SETTINGS, as the report service
runs it; medians (and minima) over --runs. The answers are compared with
bench.statements (`--reports revenue`), not here. Needs the database server
on this machine (its backends' /proc).

    .venv/bin/python -m bench.revenue_cpu --keep NAME [--ref main] [--runs 20]"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from . import common, cpu_time, duckdb_reports, generate, reports
from . import statements as stmt


async def _run(conn, backend: int, sql: str, params: list, without_index: bool) -> tuple[float, float]:
    from app.reports.service import REPORT_SETTINGS

    tr = conn.transaction(isolation="repeatable_read")
    await tr.start()
    try:
        await conn.execute(REPORT_SETTINGS, "900000")
        if without_index:
            await conn.execute("DROP INDEX IF EXISTS events_revenue_person")
        cpu, wall = cpu_time.backend_cpu_ns(backend), time.perf_counter()
        await conn.fetch(sql, *params)
        return (cpu_time.backend_cpu_ns(backend) - cpu) / 1e9, time.perf_counter() - wall
    finally:
        await tr.rollback()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", required=True, metavar="NAME", help="the kept data set whodid_bench_stmt_NAME")
    ap.add_argument("--ref", default="main")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    name = f"whodid_bench_stmt_{args.keep}"
    url = common.db_url(name)
    project_id, start, end = generate.generate(people=1, seed=42).project_id, generate.START, generate.END
    ours = stmt.build(project_id, start, end, 10, ("revenue",))["revenue"]
    ref = stmt.ref_statements(args.ref, url, project_id, 10, ("revenue",))["statements"]["revenue"]
    con = duckdb_reports.connect({n: Path(f"/tmp/{name}/{n}.csv") for n in ("events", "persons", "property_changes")})

    def duck():
        return duckdb_reports.revenue(con, start, end, reports.SEGMENT)

    async def timed() -> dict:
        from app.storage.pool import connect

        conn = await connect(url)
        try:
            backend = await conn.fetchval("SELECT pg_backend_pid()")
            cases = {args.ref: (ref, True), "new, no 0011": (ours, True), "new": (ours, False)}
            out: dict[str, tuple[list, list]] = {k: ([], []) for k in [*cases, "DuckDB"]}
            for statement, without in cases.values():  # warm-up
                await _run(conn, backend, *statement, without)
            duck()
            for _ in range(args.runs):
                for k, (statement, without) in cases.items():
                    cpu, wall = await _run(conn, backend, *statement, without)
                    out[k][0].append(cpu)
                    out[k][1].append(wall)
                cpu, wall = time.process_time(), time.perf_counter()
                duck()
                out["DuckDB"][0].append(time.process_time() - cpu)
                out["DuckDB"][1].append(time.perf_counter() - wall)
            return out
        finally:
            await conn.close()

    out = asyncio.run(timed())
    ms = 1000
    print(f"revenue by month, {name}; medians (minima) of {args.runs} interleaved runs")
    print("| statement | CPU ms | CPU / DuckDB's | wall ms | wall / DuckDB's |")
    print("|---|---|---|---|---|")
    dcpu, dwall = statistics.median(out["DuckDB"][0]), statistics.median(out["DuckDB"][1])
    for k, (cpu, wall) in out.items():
        print(f"| {k} | {statistics.median(cpu) * ms:.1f} ({min(cpu) * ms:.1f}) | {statistics.median(cpu) / dcpu:.2f}"
              f" | {statistics.median(wall) * ms:.1f} ({min(wall) * ms:.1f}) | {statistics.median(wall) / dwall:.2f} |")


if __name__ == "__main__":
    main()
