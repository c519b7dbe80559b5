"""Shapes of the cohort statement (12 weekly rows × 12 weekly cells, Signed Up →
Logged In, as bench.statements) timed side by side on one or more already
loaded databases, read-only, beside DuckDB over the same rows.

Each contender is timed by wall time and by CPU time: the PostgreSQL
backend's (/proc/<backend pid>/schedstat, so only for a server on this
machine) and DuckDB's (the process's CPU time, all its threads). On a machine
shared with other work the wall times swell and their ratios mean little;
the CPU times stay put: a single-backend statement's CPU time is its wall
time on a quiet machine, and DuckDB's quiet wall time is at best its CPU time
over its threads. Every round times every contender (one warm-up, then the
median of --runs runs); the table gives the medians over --rounds rounds.
The full shapes' answers are compared with DuckDB's.

Shapes (all from app/reports/cohort/statement.py's parts):
- now: the report's statement (COHORT.build);
- members: only the members part (its rows counted per row);
- descents: the members and, per member, the first return event only
  (LIMIT 1: one B-tree descent each and no reading along the leaf);
- any_array: one index scan for every member, person_id = ANY(sorted ids)
  with the members' overall time bounds, joined back and masked per member
  (PostgreSQL 17+ reads keys on the same leaf page without a new descent);
- range: one pass over the return event's index range from `from` to
  `to` + buckets·B, merged or hashed with the members;
- name_key: the report's statement with the return event's name compared
  `COLLATE "C"`, a key of events_person_ts's member range instead of a filter
  on its every entry (docs/benchmarks.md §18.2: −2 to −5 % on PostgreSQL 15,
  3.4× slower on 18, whose skip scan then takes events_name_person_ts; not
  in the report).

`--mode recurring` or `--mode cumulative` times the report's statement
(`now`, `name_key`) for that spec instead (the other shapes are
FIRST_TIME's); their answers are compared with each other (`now`'s is the
expected one), DuckDB's cohort being FIRST_TIME and not cumulative.

    .venv/bin/python -m bench.cohort_shapes --db whodid_bench_stmt_NAME[,postgresql://...] \\
        --csv /tmp/whodid_bench_stmt_NAME [--shapes now,members,descents,any_array,range,name_key] \\
        [--mode first_time|recurring|cumulative] [--rounds 5] [--runs 5]
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import uuid
from pathlib import Path
from typing import Any, Callable


from . import common, cpu_time, duckdb_reports, generate, reports


def _statements(project_id: uuid.UUID, mode: str = "first_time") -> dict[str, tuple[str, list[Any]]]:
    from app.reports.cohort import COHORT, CohortSpec, Mode
    from app.reports.cohort.statement import MASK_BITS, Slots, masks_sql, members_part
    from app.reports.periods import Period
    from app.reports.sql import Statement
    from app.storage.filters import Params

    spec = CohortSpec("Signed Up", "Logged In", reports.COHORT_FROM, reports.COHORT_TO, Period.WEEK, Period.WEEK, 12,
                      mode=(Mode.RECURRING if mode == "recurring" else Mode.FIRST_TIME).value,
                      cumulative=mode == "cumulative")
    now_sql, now_params = COHORT.build(project_id, spec)
    lookup = "r.name = $3 AND r.person_id = m.person_id"
    assert lookup in now_sql, "the report's per-member lookup changed: update the name_key shape"
    name_key = (now_sql.replace(lookup, 'r.name COLLATE "C" = $3 AND r.person_id = m.person_id'), now_params)
    if mode != "first_time":
        return {"now": (now_sql, now_params), "name_key": name_key}

    def shape(final: Callable[[Statement, Slots, str], str], materialized: bool = False) -> tuple[str, list[Any]]:
        q = Statement(Params(project_id))
        s = Slots.of(q, spec)
        members = members_part(q, s, spec, None)
        if materialized:
            q.parts[-1] = dataclasses.replace(q.parts[-1], materialized=True)
        return q.select(final(q, s, members))

    span = "({b}::bigint * {n}::int) * interval '1 second'"
    def per_row(s: Slots, members: str, masks: str) -> str:
        """grid_select's per-row counts over `masks`(person_id, m0, ...), every member kept."""
        counts = ", ".join(f"count(*) FILTER (WHERE x.m{n // MASK_BITS} & (1::bigint << {n % MASK_BITS}) <> 0)"
                           for n in range(spec.buckets))
        return (f"SELECT m.row_start, count(*) AS size, ARRAY[{counts}] AS people\n"
                f"FROM {members} m LEFT JOIN {masks} x ON x.person_id = m.person_id\n"
                "GROUP BY m.row_start\nORDER BY m.row_start")

    def any_array(q: Statement, s: Slots, members: str) -> str:
        ids = q.part("ids", f"SELECT array_agg(person_id ORDER BY person_id) AS a, min(t0) AS lo, max(t0) AS hi"
                            f" FROM {members}")
        masks = q.part("masks", f"""SELECT m.person_id, {", ".join(masks_sql(spec.buckets))}
FROM {members} m JOIN events r ON r.person_id = m.person_id
WHERE r.project_id = $1 AND r.name = {s.return_event} AND r.person_id = ANY((SELECT a FROM {ids})::uuid[])
  AND r.ts >= (SELECT lo FROM {ids}) AND r.ts < (SELECT hi FROM {ids}) + {span.format(b=s.bucket, n=s.buckets)}
  AND r.ts >= m.t0 AND r.ts < m.t0 + {span.format(b=s.bucket, n=s.buckets)}
GROUP BY m.person_id""")
        return per_row(s, members, masks)

    def whole_range(q: Statement, s: Slots, members: str) -> str:
        masks = q.part("masks", f"""SELECT m.person_id, {", ".join(masks_sql(spec.buckets))}
FROM {members} m JOIN events r ON r.person_id = m.person_id
WHERE r.project_id = $1 AND r.name = {s.return_event}
  AND r.ts >= {s.from_} AND r.ts < {s.to} + {span.format(b=s.bucket, n=s.buckets)}
  AND r.ts >= m.t0 AND r.ts < m.t0 + {span.format(b=s.bucket, n=s.buckets)}
GROUP BY m.person_id""")
        return per_row(s, members, masks)

    def members_only(q: Statement, s: Slots, members: str) -> str:
        # every slot stays in the statement (the same parameter list)
        return (f"SELECT m.row_start, count(*) AS size, ARRAY[count(*)] AS people FROM {members} m\n"
                f"WHERE {s.return_event}::text IS NOT NULL AND {s.buckets}::int > 0\n"
                "GROUP BY m.row_start ORDER BY m.row_start")

    def descents(q: Statement, s: Slots, members: str) -> str:
        return f"""SELECT m.row_start, count(*) AS size, ARRAY[count(x.one)] AS people
FROM {members} m
CROSS JOIN LATERAL (
    SELECT 1 AS one FROM events r
    WHERE r.project_id = $1 AND r.name = {s.return_event} AND r.person_id = m.person_id
      AND r.ts >= m.t0 AND r.ts < m.t0 + {span.format(b=s.bucket, n=s.buckets)}
    LIMIT 1
) AS x
GROUP BY m.row_start ORDER BY m.row_start"""

    return {
        "now": (now_sql, now_params),
        "name_key": name_key,
        "members": shape(members_only),
        "descents": shape(descents),
        "any_array": shape(any_array, materialized=True),
        "range": shape(whole_range, materialized=True),
    }


FULL = ("now", "any_array", "range", "name_key")


async def run(dsns: list[str], csv: Path, shapes: list[str], rounds: int, runs: int, mode: str = "first_time") -> None:
    from app.reports.service import REPORT_SETTINGS

    project_id = generate.generate(people=1, seed=42).project_id
    statements = _statements(project_id, mode)
    shapes = [s for s in shapes if s in statements]
    con = duckdb_reports.connect({n: csv / f"{n}.csv" for n in ("events", "persons", "property_changes")})

    def duck():
        return duckdb_reports.cohort(con, "Signed Up", "Logged In", reports.COHORT_FROM, reports.COHORT_TO,
                                     7 * 86400, 12)

    expected = [(r[0], r[1], list(r[2])) for r in duck()]
    now_rows: dict[int, list] = {}  # per database: `now`'s answer (judged first in each round)

    async def prepare(conn, shape: str) -> None:
        await conn.execute(REPORT_SETTINGS, "900000")

    def judge(k: int, shape: str, rows: list) -> str | None:
        if shape not in FULL:
            return None
        got = [(r["row_start"], r["size"], list(r["people"])) for r in rows]
        if mode != "first_time":  # DuckDB's cohort is FIRST_TIME: the shapes against `now`'s answer
            return "yes (now)" if got == now_rows.setdefault(k, got) else "NO"
        return "yes" if got == expected else "NO"

    times = await cpu_time.time_shapes(dsns, statements, shapes, rounds, runs, duck, prepare, judge)
    threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    cpu_time.print_shapes(times, shapes, threads, rounds, runs, "same answer as DuckDB", "yes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="database names on 127.0.0.1 or postgresql:// URLs, comma-separated")
    ap.add_argument("--csv", required=True, type=Path, help="the CSV folder of the same data (bench.statements --keep)")
    ap.add_argument("--shapes", default="now,members,descents,any_array,range,name_key")
    ap.add_argument("--mode", default="first_time", choices=("first_time", "recurring", "cumulative"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    dsns = [d if d.startswith("postgresql://") else common.db_url(d) for d in args.db.split(",")]
    asyncio.run(run(dsns, args.csv, args.shapes.split(","), args.rounds, args.runs, args.mode))


if __name__ == "__main__":
    main()
