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
  step and segment only: what DuckDB's counts-only statement computes; its
  answer is compared with DuckDB's).

The DuckDB figure is the counts-only yardstick (duckdb_reports.funnel_counts,
as in docs/benchmarks.md §11) by default, or with `--duck full` the whole
answer, durations included (duckdb_reports.funnel, as bench.statements times
it: §19.1); counts_only is compared on the people either way.

    .venv/bin/python -m bench.funnel_shapes --db whodid_bench_stmt_NAME[,...] \\
        --csv /tmp/whodid_bench_stmt_NAME [--shapes now,scans,best,chains,counts_only] [--rounds 3] [--runs 3] \\
        [--duck counts|full]
"""
from __future__ import annotations

import argparse
import asyncio
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any


from . import common, cpu_time, duckdb_reports, generate, reports


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


FULL = ("now", "now_parallel", "presorted")
SERIAL = "SELECT set_config('max_parallel_workers_per_gather', '0', true)"


async def run(dsns: list[str], csv: Path, shapes: list[str], rounds: int, runs: int, limit: int,
              duck_kind: str = "counts") -> None:
    from app.reports.funnel import STATEMENT_SETTINGS
    from app.reports.service import REPORT_SETTINGS

    project_id = generate.generate(people=1, seed=42).project_id
    statements = _statements(project_id, limit)
    con = duckdb_reports.connect({n: csv / f"{n}.csv" for n in ("events", "persons", "property_changes")})

    yardstick = duckdb_reports.funnel if duck_kind == "full" else duckdb_reports.funnel_counts

    def duck():
        return yardstick(con, reports.FUNNEL_STEPS, generate.START, generate.END, reports.WINDOW, reports.SEGMENT,
                         limit)

    def duck_people():
        answer = duck()
        return duckdb_reports.people_counts(answer) if duck_kind == "full" else answer

    reference: dict[int, list] = {}

    async def prepare(conn, shape: str) -> None:
        await conn.execute(REPORT_SETTINGS, "900000")
        await conn.execute(STATEMENT_SETTINGS)
        if shape != "now_parallel":
            await conn.execute(SERIAL)

    def judge(k: int, shape: str, rows: list) -> str | None:
        if shape == "counts_only":
            return "yes (DuckDB)" if _people(rows) == duck_people() else "NO (DuckDB)"
        if shape not in FULL:
            return None
        answer = sorted(repr(tuple(r)) for r in rows)
        if shape == "now":
            reference[k] = answer
        return "yes" if answer == reference.get(k) else "NO"

    times = await cpu_time.time_shapes(dsns, statements, shapes, rounds, runs, duck, prepare, judge)
    threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    print(f"DuckDB's yardstick: {'the whole answer (funnel)' if duck_kind == 'full' else 'counts only (funnel_counts)'}")
    cpu_time.print_shapes(times, shapes, threads, rounds, runs, "same rows as now / DuckDB", "-")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="database names on 127.0.0.1 or postgresql:// URLs, comma-separated")
    ap.add_argument("--csv", required=True, type=Path, help="the CSV folder of the same data (bench.statements --keep)")
    ap.add_argument("--shapes", default="now,now_parallel,presorted,scans,best,chains,segment_rows,segment_values,counts_only")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=10, help="the funnel's segment limit")
    ap.add_argument("--duck", choices=("counts", "full"), default="counts",
                    help="DuckDB's yardstick: the people alone (funnel_counts) or the whole answer (funnel)")
    args = ap.parse_args()
    dsns = [d if d.startswith("postgresql://") else common.db_url(d) for d in args.db.split(",")]
    asyncio.run(run(dsns, args.csv, args.shapes.split(","), args.rounds, args.runs, args.limit, args.duck))


if __name__ == "__main__":
    main()
