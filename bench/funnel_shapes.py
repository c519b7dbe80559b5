"""Where the funnel's time goes at 1M events: parts and shapes of its statement
(4 steps, 14-day window, segmented by the first step's Campaign Source, as
bench.statements) timed side by side on already loaded databases, read-only,
beside DuckDB over the same rows (bench/cohort_shapes.py's method).

Each contender is timed by wall time and by CPU time: the PostgreSQL
backend's (/proc/<backend pid>/schedstat, so only for a server on this
machine) and DuckDB's (the process's CPU time, all its threads). On a machine
shared with other work the wall times swell and their ratios mean little; the
CPU times stay put. The statement runs **serially** here
(max_parallel_workers_per_gather 0): a parallel worker's CPU time is not in
the leader's schedstat, so a parallel plan would hide part of the work.
Every round times every contender (one warm-up, then the median of --runs
runs); the table gives the medians over --rounds rounds.

Shapes (prefixes of the report's statement, app/reports/funnel/statement.py,
cut after a part and counted, and the floor of reading the steps' entries):
- now: the report's statement (build_query), serial;
- now_parallel: the same with its parallel settings (leader's CPU only);
- scans: one index-only count of each step's entries in range (285k + 51k +
  24k + 9k): what any shape reading the events from events_name_person_ts
  pays at least;
- best: the chains without the segment (window pass, levels, DISTINCT ON,
  lone people), counted;
- chains: `chains` with the segment value (the step-0 events with the
  property, hashed), counted;
- segment_rows / segment_values: the segment's step-0 events with the
  property alone (the bitmap heap scan), counted, and with their values;
- presorted: the report's statement with the durations sorted once by
  (step, segment, duration) under segstats' grouping (answer compared with
  now's);
- counts_only: the report without the duration statistics (the people per
  step and segment only: what DuckDB's statement computes; its answer is
  compared with DuckDB's).

    .venv/bin/python -m bench.funnel_shapes --db whodid_bench_stmt_NAME[,...] \\
        --csv /tmp/whodid_bench_stmt_NAME [--shapes now,scans,best,chains,counts_only] [--rounds 3] [--runs 3]
"""
from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from . import common, duckdb_reports, generate, reports


def _typed_unused(sql: str, params: list[Any]) -> str:
    """A condition naming every parameter the SQL does not use, with its
    type, so that a prefix of the statement takes the same parameter list."""
    used = {int(m) for m in re.findall(r"\$(\d+)", sql)}
    conds = []
    for i, v in enumerate(params, 1):
        if i in used:
            continue
        t = ("int" if isinstance(v, int) else "timestamptz" if isinstance(v, datetime)
             else "uuid" if isinstance(v, uuid.UUID) else "text")
        conds.append(f"${i}::{t} IS NOT NULL")
    return " AND ".join(conds) or "true"


def _statements(project_id: uuid.UUID, limit: int) -> dict[str, tuple[str, list[Any]]]:
    from app.reports.funnel import FunnelSpec, FunnelStepSpec, SegmentSpec
    from app.reports.funnel.statement import build_query

    spec = FunnelSpec(steps=tuple(FunnelStepSpec(s) for s in reports.FUNNEL_STEPS), from_=generate.START,
                      to=generate.END, window_seconds=reports.WINDOW,
                      segment_by=SegmentSpec(first_step_property=reports.SEGMENT, limit=limit))
    sql, params = build_query(project_id, spec)
    out = {"now": (sql, params), "now_parallel": (sql, params)}
    # The durations sorted once by (step, segment, duration) under the
    # grouping, so that each group's array_agg(d ORDER BY d) sorts input
    # already in order (PostgreSQL 15 sorts an ordered aggregate's input per
    # group whatever the plan; 16 plans the one sort itself).
    old = "AS d FROM lab l WHERE l.level > 3) d\n    GROUP BY d.k, d.segrank"
    if old in sql:
        pre = sql.replace(old, "AS d FROM lab l WHERE l.level > 3 ORDER BY 2, 1, 3) d\n    GROUP BY d.k, d.segrank")
        out["presorted"] = (pre, params)
    # The parts: the statement's text up to a CTE, then a count of it.
    head, _, _ = sql.partition(",\nchains AS MATERIALIZED (")
    cut = head + "\nSELECT count(*), sum(level) FROM best"
    out["best"] = (cut + " WHERE " + _typed_unused(cut, params), params)
    head, _, _ = sql.partition(",\ncounts AS (")
    cut = head + "\nSELECT count(*), sum(level), count(sv) FROM chains"
    out["chains"] = (cut + " WHERE " + _typed_unused(cut, params), params)
    # The people per step and segment only (no duration statistics).
    cut = head + f""",
counts AS (SELECT c.sv, count(*) AS n FROM chains c GROUP BY c.sv),
kept AS (
    SELECT c.sv FROM counts c WHERE c.sv IS NOT NULL ORDER BY c.n DESC, c.sv COLLATE "C" LIMIT ${len(params)}::int
)
SELECT GROUPING(k.sv) AS overall, k.sv, count(*) FILTER (WHERE c.level > 0), count(*) FILTER (WHERE c.level > 1),
       count(*) FILTER (WHERE c.level > 2), count(*) FILTER (WHERE c.level > 3)
FROM chains c LEFT JOIN kept k ON k.sv = c.sv GROUP BY ROLLUP (k.sv)"""
    out["counts_only"] = (cut + "\nHAVING " + _typed_unused(cut, params), params)
    # The segment's step-0 events with the property, alone: read (count) and
    # with their values in text form.
    sub = sql.split("FROM best b LEFT JOIN (", 1)[1].split(") x ON", 1)[0]
    cut = f"SELECT count(*) FROM ({sub.replace(' AS sv FROM', ' AS sv, 1 AS one FROM')}) x"
    cut = cut.replace("SELECT e.person_id, e.ts, e.seq,", "SELECT e.person_id, e.ts, e.seq, e.properties IS NULL AS z,", 1)
    out["segment_rows"] = (cut + " WHERE " + _typed_unused(cut, params), params)
    cut = f"SELECT count(*), sum(length(x.sv)) FROM ({sub}) x"
    out["segment_values"] = (cut + " WHERE " + _typed_unused(cut, params), params)
    names = [f"${i + 1}" for i, v in enumerate(params) if v in reports.FUNNEL_STEPS][:4]
    scans = "\nUNION ALL\n".join(
        f"SELECT count(*) FROM events e WHERE e.project_id = $1 AND e.name = {n}::text"
        f" AND e.ts >= $2::timestamptz AND e.ts < $3::timestamptz" for n in names)
    scans = f"SELECT sum(count) FROM ({scans}) s"
    out["scans"] = (scans + " WHERE " + _typed_unused(scans, params), params)
    return out


def _people(rows: list) -> dict:
    """counts_only's rows in duckdb_reports.funnel's shape."""
    return {"steps": next(list(r[2:]) for r in rows if r[0] == 1),
            "segments": {r[1]: list(r[2:]) for r in rows if r[0] == 0}}


def _cpu_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def _med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


FULL = ("now", "now_parallel", "presorted")
SERIAL = "SELECT set_config('max_parallel_workers_per_gather', '0', true)"


async def run(dsns: list[str], csv: Path, shapes: list[str], rounds: int, runs: int, limit: int) -> None:
    from app.reports.funnel import STATEMENT_SETTINGS
    from app.reports.service import REPORT_SETTINGS

    project_id = generate.generate(people=1, seed=42).project_id
    statements = _statements(project_id, limit)
    con = duckdb_reports.connect({n: csv / f"{n}.csv" for n in ("events", "persons", "property_changes")})

    def duck():
        return duckdb_reports.funnel(con, reports.FUNNEL_STEPS, generate.START, generate.END, reports.WINDOW,
                                     reports.SEGMENT, limit)

    conns = [await asyncpg.connect(d) for d in dsns]
    pids = [await c.fetchval("SELECT pg_backend_pid()") for c in conns]
    names = [(k, s) for k in range(len(conns)) for s in shapes]
    cpu: dict[Any, list[float]] = {n: [] for n in [*names, "duckdb"]}
    wall: dict[Any, list[float]] = {n: [] for n in [*names, "duckdb"]}
    reference: dict[int, list] = {}
    same: dict[Any, str] = {}
    try:
        for _ in range(rounds):
            for k, s in names:
                sql, params = statements[s]
                cs, ws = [], []
                for i in range(runs + 1):
                    async with conns[k].transaction(isolation="repeatable_read", readonly=True):
                        await conns[k].execute(REPORT_SETTINGS, "900000")
                        await conns[k].execute(STATEMENT_SETTINGS)
                        if s != "now_parallel":
                            await conns[k].execute(SERIAL)
                        c0, t0 = _cpu_ns(pids[k]), time.perf_counter()
                        got = await conns[k].fetch(sql, *params)
                        t1, c1 = time.perf_counter(), _cpu_ns(pids[k])
                    if i:
                        cs.append((c1 - c0) / 1e6)
                        ws.append((t1 - t0) * 1e3)
                if s == "counts_only":
                    same[(k, s)] = "yes (DuckDB)" if _people(got) == duck() else "NO (DuckDB)"
                if s in FULL:
                    answer = sorted(repr(tuple(r)) for r in got)
                    if s == "now":
                        reference[k] = answer
                    same[(k, s)] = "yes" if answer == reference.get(k) else "NO"
                cpu[(k, s)].append(_med(cs))
                wall[(k, s)].append(_med(ws))
            cs, ws = [], []
            for i in range(runs + 1):
                c0, t0 = time.process_time_ns(), time.perf_counter()
                duck()
                t1, c1 = time.perf_counter(), time.process_time_ns()
                if i:
                    cs.append((c1 - c0) / 1e6)
                    ws.append((t1 - t0) * 1e3)
            cpu["duckdb"].append(_med(cs))
            wall["duckdb"].append(_med(ws))
        versions = [await c.fetchval("SHOW server_version") for c in conns]
    finally:
        for c in conns:
            await c.close()
    threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    dc, dw = _med(cpu["duckdb"]), _med(wall["duckdb"])
    rows = []
    for k, s in names:
        c, w = _med(cpu[(k, s)]), _med(wall[(k, s)])
        rows.append([f"PostgreSQL {versions[k]} (db {k + 1})", s, f"{c:.1f}", f"{w:.0f}",
                     f"{c / (dc / threads):.2f}", f"{w / dw:.2f}", same.get((k, s), "-")])
    rows.append([f"DuckDB ({threads} threads)", "", f"{dc:.1f}", f"{dw:.0f}", "1", "1", "-"])
    print(f"medians of {rounds} interleaved rounds of the median of {runs} runs; DuckDB's quiet time taken as its"
          f" CPU time over its {threads} threads")
    print(common.table(["server", "shape", "CPU ms", "wall ms", "CPU / DuckDB CPU per thread", "wall / DuckDB wall",
                        "same rows as now / DuckDB"],
                       rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="database names on 127.0.0.1 or postgresql:// URLs, comma-separated")
    ap.add_argument("--csv", required=True, type=Path, help="the CSV folder of the same data (bench.statements --keep)")
    ap.add_argument("--shapes", default="now,now_parallel,presorted,scans,best,chains,segment_rows,segment_values,counts_only")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=10, help="the funnel's segment limit")
    args = ap.parse_args()
    dsns = [d if d.startswith("postgresql://") else common.db_url(d) for d in args.db.split(",")]
    asyncio.run(run(dsns, args.csv, args.shapes.split(","), args.rounds, args.runs, args.limit))


if __name__ == "__main__":
    main()
