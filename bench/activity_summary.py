"""A per-year activity summary kept by the writer, measured for the stickiness
report (issue 12; docs/benchmarks.md, "An activity summary kept by the
writer, measured"). Nothing of it is in app/: the summary table, its
statements and the writer's upsert live here only.

The summary: one row per (project_id, name, person_id, year) with the UTC
days of that year on which the person had an event of that name, as a bit
mask, in one of two layouts:

- `activity_planes` (the one kept): seven bigints d0..d6, one per weekday
  (d0 Mondays .. d6 Sundays); bit w of d_j is the day `week0 + 7w + j`, where
  week0 is the Monday on or before 1 January of the year (w = 0..53). The
  days of a Monday-aligned week are bit w of the seven words, so a person's
  active weeks are the bits of `d0 | d1 | ... | d6`: six ORs of by-value
  bigints, no per-row allocation;
- `activity_days`: `days bit(366)`, bit d (from the left) the year's day d
  (1 January = 0); weeks need the days placed in a range-long string and
  folded by shifts (six varbit ORs and shifts per person, each allocating).

Subcommands (all against a scratch copy, never the kept database):

    build  CREATE DATABASE SCRATCH TEMPLATE whodid_bench_stmt_KEEP, both
           summaries built from its events; rows and sizes printed
    read   the stickiness of bench/statements.py (Logged In, WEEK, the year)
           from the summary on SCRATCH, beside the report's own statement on
           the kept database (read-only) and DuckDB, interleaved rounds;
           answers compared
    flush  the writer's statement (app/storage/events.resolve_and_insert) per
           flush of N events from the 1M CSV in time order, with and without
           the summary's upsert, on SCRATCH_flush (a copy of SCRATCH)

    flock /tmp/whodid-bench.lock .venv/bin/python -m bench.activity_summary build [--scratch actmask]
    flock /tmp/whodid-bench.lock .venv/bin/python -m bench.activity_summary read [--rounds 5] [--runs 5]
    flock /tmp/whodid-bench.lock .venv/bin/python -m bench.activity_summary flush [--sizes 1,32,1000] [--rounds 5] \\
        [--plan-cache-mode force_custom_plan | force_generic_plan]
    flock /tmp/whodid-bench.lock .venv/bin/python -m bench.activity_summary upkeep [--cases 15]

    upkeep  merges, person deletions and retention batches on SCRATCH_flush
            (after `flush`), each in a transaction rolled back, with and
            without what the summary would need
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import statistics
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import asyncpg

from . import common, cpu_time, duckdb_reports, generate, report_cpu, statements

KEEP = "nrspeed1m"

PLANES_DDL = """
CREATE TABLE activity_planes (
    project_id uuid NOT NULL, name text NOT NULL, person_id uuid NOT NULL, year smallint NOT NULL,
    d0 bigint NOT NULL, d1 bigint NOT NULL, d2 bigint NOT NULL, d3 bigint NOT NULL,
    d4 bigint NOT NULL, d5 bigint NOT NULL, d6 bigint NOT NULL,
    PRIMARY KEY (project_id, name, person_id, year))"""

DAYS_DDL = """
CREATE TABLE activity_days (
    project_id uuid NOT NULL, name text NOT NULL, person_id uuid NOT NULL, year smallint NOT NULL,
    days bit(366) NOT NULL,
    PRIMARY KEY (project_id, name, person_id, year))"""


def planes_rows(source: str, project: str) -> str:
    """SELECT of the planes' rows of the events of `source` (name, person_id,
    ts; `project` a column of it or a parameter), one per (project, name,
    person, year), in key order (the upsert's lock order: two writers'
    flushes upserting the same rows lock them in the same order)."""
    words = ",\n       ".join(
        f"coalesce(bit_or(1::bigint << (slot / 7)) FILTER (WHERE slot % 7 = {j}), 0)" for j in range(7))
    return f"""SELECT project_id, name, person_id, year,
       {words}
FROM (SELECT project_id, name, person_id, year, day - date_trunc('week', make_date(year, 1, 1))::date AS slot
      FROM (SELECT {project} AS project_id, name, person_id, extract(year FROM ts AT TIME ZONE 'UTC')::smallint AS year,
                   (ts AT TIME ZONE 'UTC')::date AS day FROM {source}) d) d
GROUP BY project_id, name, person_id, year
ORDER BY project_id, name, person_id, year"""


def days_rows(source: str, project: str) -> str:
    return f"""SELECT project_id, name, person_id, year, bit_or(set_bit(repeat('0', 366)::bit(366), doy, 1))
FROM (SELECT {project} AS project_id, name, person_id, extract(year FROM ts AT TIME ZONE 'UTC')::smallint AS year,
             extract(doy FROM ts AT TIME ZONE 'UTC')::int - 1 AS doy FROM {source}) d
GROUP BY project_id, name, person_id, year
ORDER BY project_id, name, person_id, year"""


PLANES_UPSERT = ("ON CONFLICT (project_id, name, person_id, year) DO UPDATE SET "
                 + ", ".join(f"d{j} = s.d{j} | EXCLUDED.d{j}" for j in range(7)))
DAYS_UPSERT = "ON CONFLICT (project_id, name, person_id, year) DO UPDATE SET days = s.days | EXCLUDED.days"


def _utc_midnight(t: datetime) -> date:
    t = t.astimezone(timezone.utc)
    if (t.hour, t.minute, t.second, t.microsecond) != (0, 0, 0, 0):
        raise ValueError("a day mask answers only ranges bounded at UTC midnight")
    return t.date()


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def planes_week_statement(project_id: uuid.UUID, event: str, from_: datetime, to: datetime) -> tuple[str, list]:
    """Stickiness by WEEK (periods from a Monday, UTC) from activity_planes:
    people per number n >= 1 of distinct weeks with an event in [from_, to),
    for a range of at most 63 weeks (one bigint per person: bit k = the k-th
    week overlapping the range). Each year row's weekday words are masked to
    the range's days, OR-ed into its week bits and shifted to the range's week
    index; a person's rows (two when the range crosses a year) are OR-ed by
    bit_or, so a week split by 1 January is counted once."""
    first, end = _utc_midnight(from_), _utc_midnight(to)
    base = _monday(first)
    weeks = (_monday(end - timedelta(days=1)) - base).days // 7 + 1
    if not 1 <= weeks <= 63:
        raise ValueError("one bigint per person: 1..63 weeks")
    params: list = [project_id, event]
    cases = []
    years = list(range(first.year, (end - timedelta(days=1)).year + 1))
    for y in years:
        week0 = _monday(date(y, 1, 1))
        words = []
        for j in range(7):
            mask = full = 0
            for w in range(54):
                day = week0 + timedelta(days=7 * w + j)
                if day.year == y:
                    full |= 1 << w
                    if first <= day < end:
                        mask |= 1 << w
            if mask == full:
                words.append(f"a.d{j}")
            elif mask:
                params.append(mask)
                words.append(f"(a.d{j} & ${len(params)}::bigint)")
        shift = (week0 - base).days // 7
        bits = f"({' | '.join(words)})" if words else "0::bigint"
        cases.append(f"WHEN {y} THEN {bits} {'<<' if shift >= 0 else '>>'} {abs(shift)}")
    params.append(years)
    sql = f"""SELECT n, count(*) AS people FROM (
    SELECT bit_count(bit_or(CASE a.year {' '.join(cases)} END)::bit(64)) AS n
    FROM activity_planes a
    WHERE a.project_id = $1 AND a.name = $2 AND a.year = ANY(${len(params)}::smallint[])
    GROUP BY a.person_id) c
WHERE n > 0 GROUP BY n ORDER BY n"""
    return sql, params


def days_week_statement(project_id: uuid.UUID, event: str, from_: datetime, to: datetime) -> tuple[str, list]:
    """The same from activity_days: each year row's days in the range placed in
    a string of the range's weeks (from the Monday of from_), the person's
    rows OR-ed (bit_or), each week's 7 bits folded onto its first by shifts
    (r | r<<1 | .. | r<<6, by doubling) and the weeks' first bits counted."""
    first, end = _utc_midnight(from_), _utc_midnight(to)
    base = _monday(first)
    length = ((_monday(end - timedelta(days=1)) - base).days // 7 + 1) * 7
    cases, years = [], list(range(first.year, (end - timedelta(days=1)).year + 1))
    for y in years:
        lo, hi = max(first, date(y, 1, 1)), min(end, date(y + 1, 1, 1))
        at, n = (lo - base).days, (hi - lo).days
        parts = [f"B'{'0' * at}'"] if at else []
        parts.append(f"substring(a.days FROM {(lo - date(y, 1, 1)).days + 1} FOR {n})")
        if length - at - n:
            parts.append(f"B'{'0' * (length - at - n)}'")
        cases.append(f"WHEN {y} THEN {' || '.join(parts)}")
    starts = "B'" + "".join("1" if i % 7 == 0 else "0" for i in range(length)) + "'"
    sql = f"""SELECT n, count(*) AS people FROM (
  SELECT bit_count((b | (f << 4) | (r << 6)) & {starts}) AS n FROM (
    SELECT r, f, f | (f << 2) AS b FROM (
      SELECT r, r | (r << 1) AS f FROM (
        SELECT bit_or(CASE a.year {' '.join(cases)} END) AS r
        FROM activity_days a
        WHERE a.project_id = $1 AND a.name = $2 AND a.year = ANY($3::smallint[])
        GROUP BY a.person_id) p OFFSET 0) q OFFSET 0) s) c
WHERE n > 0 GROUP BY n ORDER BY n"""
    return sql, [project_id, event, years]


def _unpacked(statement: tuple[str, list]) -> list:
    return [statement[0], *statement[1]]


# ---------------------------------------------------------------------- build


async def _build(scratch: str) -> None:
    admin = await asyncpg.connect(common.ADMIN_URL)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", scratch):
            # Needs no session on the template; the kept database is only read.
            await admin.execute(f'CREATE DATABASE "{scratch}" TEMPLATE "whodid_bench_stmt_{KEEP}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(common.db_url(scratch))
    try:
        for table, ddl, rows in (("activity_planes", PLANES_DDL, planes_rows),
                                 ("activity_days", DAYS_DDL, days_rows)):
            await conn.execute(f"DROP TABLE IF EXISTS {table}")
            await conn.execute(ddl)
            t0 = time.perf_counter()
            await conn.execute(f"INSERT INTO {table}\n{rows('events', 'project_id')}")
            built = time.perf_counter() - t0
            await conn.execute(f"VACUUM ANALYZE {table}")
            total, logged = await conn.fetchrow(
                f"SELECT count(*), count(*) FILTER (WHERE name = $1) FROM {table}", statements.STICKY_EVENT)
            heap, index = await conn.fetchrow(
                f"SELECT pg_table_size('{table}'), pg_indexes_size('{table}')")
            print(f"{table}: {total:,} rows ({logged:,} of {statements.STICKY_EVENT}), table {heap / 2**20:.1f} MiB"
                  f" + index {index / 2**20:.1f} MiB, built in {built:.1f} s", flush=True)
        events, heap = await conn.fetchrow("SELECT count(*), pg_total_relation_size('events') FROM events")
        matching = await conn.fetchval("SELECT count(*) FROM events WHERE name = $1", statements.STICKY_EVENT)
        print(f"events: {events:,} rows ({matching:,} of {statements.STICKY_EVENT}), with indexes {heap / 2**20:.0f} MiB")
    finally:
        await conn.close()


# ----------------------------------------------------------------------- read


def _read(scratch: str, rounds: int, runs: int) -> None:
    with statements.dataset(1_000_000, 42, KEEP, read_only=True) as (kept_url, project_id, paths):
        asyncio.run(_read_kept(scratch, rounds, runs, kept_url, project_id, paths))


async def _read_kept(scratch: str, rounds: int, runs: int, kept_url: str, project_id: uuid.UUID, paths: dict) -> None:
    start, end = generate.START, generate.END
    report_sql, report_params = statements.build(project_id, start, end, 10, ("stickiness",))["stickiness"]
    extra = statements.settings().get("stickiness")
    shapes = {
        "summary, planes": planes_week_statement(project_id, statements.STICKY_EVENT, start, end),
        "summary, bit(366)": days_week_statement(project_id, statements.STICKY_EVENT, start, end),
    }
    con = duckdb_reports.connect(paths)
    duck = duckdb_reports.stickiness(con, statements.STICKY_EVENT, start, end, statements.STICKY_INTERVAL)
    kept = await asyncpg.connect(kept_url)
    mine = await asyncpg.connect(common.db_url(scratch))
    try:
        kept_pid = await kept.fetchval("SELECT pg_backend_pid()")
        mine_pid = await mine.fetchval("SELECT pg_backend_pid()")
        report = {r["n"]: r["people"] for r in await kept.fetch(report_sql, *report_params)}
        print(f"report (kept database): {sum(report.values()):,} people, {len(report)} values of n;"
              f" DuckDB {'equal' if report == duck else 'DIFFERENT'}")
        for name, (sql, params) in shapes.items():
            got = {r["n"]: r["people"] for r in await mine.fetch(sql, *params)}
            print(f"{name}: {'equal to the report' if got == report else 'DIFFERENT from the report'}")
        # Other ranges, answers only: mid-week bounds, within a year, across 1
        # January mid-week, one day, each event name.
        from app.reports.periods import Period
        from app.reports.stickiness import STICKINESS, StickinessSpec

        utc = timezone.utc
        ranges = [(datetime(2025, 3, 5, tzinfo=utc), datetime(2025, 9, 18, tzinfo=utc)),
                  (datetime(2025, 12, 10, tzinfo=utc), datetime(2026, 1, 3, tzinfo=utc)),
                  (datetime(2025, 12, 31, tzinfo=utc), datetime(2026, 1, 2, tzinfo=utc)),
                  (datetime(2025, 6, 1, tzinfo=utc), datetime(2025, 6, 2, tzinfo=utc))]
        names = [r[0] for r in await kept.fetch("SELECT DISTINCT name FROM events ORDER BY 1")]
        same = 0
        for event in names:
            for lo, hi in ranges:
                sql, params = STICKINESS.build(project_id, StickinessSpec(event, lo, hi, interval=Period.WEEK))
                want = {r["n"]: r["people"] for r in await kept.fetch(sql, *params)}
                got = {r["n"]: r["people"] for r in await mine.fetch(*_unpacked(planes_week_statement(
                    project_id, event, lo, hi)))}
                if got != want:
                    print(f"DIFFERENT: {event} {lo:%Y-%m-%d}..{hi:%Y-%m-%d}: {got} vs {want}")
                same += got == want
        print(f"summary, planes, {len(names)} names x {len(ranges)} more ranges: {same} of"
              f" {len(names) * len(ranges)} equal to the report")
        out: dict = {}
        for rnd in range(rounds):
            w, c = await report_cpu._time(kept, kept_pid, report_sql, report_params, extra, False, runs)
            _, s = await report_cpu._time(kept, kept_pid, report_sql, report_params, extra, True, runs)
            out.setdefault("report statement (events)", []).append((w, c, s))
            for name, (sql, params) in shapes.items():
                w, c = await report_cpu._time(mine, mine_pid, sql, params, None, False, runs)
                _, s = await report_cpu._time(mine, mine_pid, sql, params, None, True, runs)
                out.setdefault(name, []).append((w, c, s))
            ws, cs = [], []
            for i in range(runs + 1):
                c0, t0 = time.process_time(), time.perf_counter()
                duckdb_reports.stickiness(con, statements.STICKY_EVENT, start, end, statements.STICKY_INTERVAL)
                t1, c1 = time.perf_counter(), time.process_time()
                if i:
                    ws.append((t1 - t0) * 1e3)
                    cs.append((c1 - c0) * 1e3)
            out.setdefault("DuckDB", []).append((statistics.median(ws), statistics.median(cs), float("nan")))
            print(f"  round {rnd + 1}: " + "; ".join(
                f"{k} {v[-1][0]:.1f} ms wall, {v[-1][1]:.1f} / {v[-1][2]:.1f} CPU" for k, v in out.items()),
                flush=True)
    finally:
        await kept.close()
        await mine.close()
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    dw, dc, _ = (statistics.median(x) for x in zip(*out["DuckDB"]))
    print(f"\nmedians of {rounds} rounds of the median of {runs} runs; DuckDB threads {threads}")
    print("| statement | wall ms | leader CPU ms | serial CPU ms | wall / DuckDB wall | serial CPU / DuckDB CPU |")
    print("|---|---|---|---|---|---|")
    for name, v in out.items():
        if name == "DuckDB":
            continue
        w, c, s = (statistics.median(x) for x in zip(*v))
        print(f"| {name} | {w:.1f} | {c:.1f} | {s:.1f} | {w / dw:.2f} | {s / dc:.2f} |")
    print(f"| DuckDB | {dw:.1f} | {dc:.1f} (process, all threads) | | 1 | 1 |")


# ---------------------------------------------------------------------- flush


def _record_sql_with(table: str) -> str:
    """The writer's statement (app/storage/events._RECORD_SQL) with the
    summary's upsert of the inserted events as one more CTE: one statement,
    one round trip, as the writer would run it."""
    from app.storage.events import _RECORD_SQL

    tail = "    RETURNING id, seq, person_id)\n"
    assert _RECORD_SQL.count(tail) == 1
    rows = planes_rows("inserted", "$1::uuid") if table == "activity_planes" else days_rows("inserted", "$1::uuid")
    upsert = PLANES_UPSERT if table == "activity_planes" else DAYS_UPSERT
    columns = "d0, d1, d2, d3, d4, d5, d6" if table == "activity_planes" else "days"
    return _RECORD_SQL.replace(tail, f"""    RETURNING id, seq, person_id, name, ts),
summarized AS (
    INSERT INTO {table} AS s (project_id, name, person_id, year, {columns})
{rows}
{upsert})
""")


PLANES_SECOND = f"""INSERT INTO activity_planes AS s (project_id, name, person_id, year, d0, d1, d2, d3, d4, d5, d6)
{planes_rows("unnest($2::text[], $3::uuid[], $4::timestamptz[]) AS e(name, person_id, ts)", "$1::uuid")}
{PLANES_UPSERT}"""


def _events(offset: int, count: int) -> list[tuple[uuid.UUID, str, datetime, Decimal | None, str]]:
    """(person_id, name, ts, revenue, properties) of `count` CSV events from
    `offset`, in the CSV's (time) order."""
    out: list[tuple[uuid.UUID, str, datetime, Decimal | None, str]] = []
    with open(f"/tmp/whodid_bench_stmt_{KEEP}/events.csv", newline="") as f:
        rows = csv.reader(f)
        next(rows)
        for n, (person, _seq, name, ts, revenue, props) in enumerate(rows):
            if n < offset:
                continue
            if len(out) == count:
                break
            out.append((uuid.UUID(person), name, datetime.fromisoformat(ts), Decimal(revenue) if revenue else None,
                        props))
    return out


async def _flush(scratch: str, sizes: list[int], rounds: int, offset: int, plan_cache_mode: str | None) -> None:
    from app.ingest.identity import person_id_for
    from app.storage.events import Flush, resolve_and_insert
    from app.storage.pool import init_connection

    db = f"{scratch}_flush"
    admin = await asyncpg.connect(common.ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}"')
        await admin.execute(f'CREATE DATABASE "{db}" TEMPLATE "{scratch}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(common.db_url(db))
    await init_connection(conn)
    if plan_cache_mode:  # every variant planned the same way (see the section: auto plans them differently)
        await conn.execute(f"SET plan_cache_mode = {plan_cache_mode}")
    pid = await conn.fetchval("SELECT pg_backend_pid()")
    project = await conn.fetchval("SELECT id FROM projects")
    identity_of = {r["person_id"]: r["identity"] for r in await conn.fetch(
        "SELECT DISTINCT ON (person_id) person_id, identity FROM identities ORDER BY person_id, identity")}
    per = {1: 300, 32: 40}  # flushes per variant and round; larger groups: 2,000 events
    need = sum((per.get(n, max(2, 2000 // n)) * n) * 4 * (rounds + 1) for n in sizes)
    stream = _events(offset, need)
    print(f"{len(stream):,} events from CSV row {offset:,} ({stream[0][2]:%Y-%m-%d} .. {stream[-1][2]:%Y-%m-%d})",
          flush=True)
    at, key = 0, 0
    sql_planes, sql_days = _record_sql_with("activity_planes"), _record_sql_with("activity_days")

    def flush_of(events: list[tuple]) -> Flush:
        nonlocal key
        who = [identity_of[e[0]] for e in events]
        distinct = sorted(set(who))
        now = datetime.now(timezone.utc)
        key += len(events)
        return Flush(project, distinct, [person_id_for(project, i) for i in distinct], [uuid.uuid4() for _ in events],
                     who, [e[1] for e in events], [e[4] for e in events], [e[3] for e in events],
                     [e[2] for e in events], [now] * len(events), [f"am{key - len(events) + i}" for i in range(len(events))])

    async def current(f: Flush) -> None:
        async with conn.transaction():
            await resolve_and_insert(conn, f)

    async def one_statement(sql: str, f: Flush) -> None:
        async with conn.transaction():
            await conn.fetch(sql, f.project_id, f.identities, f.new_person_ids, f.ids, f.event_identities, f.names,
                             f.properties_json, f.revenues, f.timestamps, f.received, f.keys)

    async def second_statement(f: Flush) -> None:
        async with conn.transaction():
            done = await resolve_and_insert(conn, f)
            kept = [n for n, i in enumerate(f.ids) if i in done.inserted]
            await conn.execute(PLANES_SECOND, f.project_id, [f.names[n] for n in kept],
                               [done.inserted[f.ids[n]][1] for n in kept], [f.timestamps[n] for n in kept])

    variants = {
        "current (resolve_and_insert)": current,
        "+ planes upsert, same statement": lambda f: one_statement(sql_planes, f),
        "+ planes upsert, 2nd statement": second_statement,
        "+ bit(366) upsert, same statement": lambda f: one_statement(sql_days, f),
    }
    table = []
    try:
        for size in sizes:
            flushes = per.get(size, max(2, 2000 // size))
            got: dict = {v: [] for v in variants}
            for rnd in range(rounds + 1):  # round 0: warm-up
                for name, run in variants.items():
                    batches = [stream[at + k * size: at + (k + 1) * size] for k in range(flushes)]
                    at += flushes * size
                    fl = [flush_of(b) for b in batches]
                    c0, t0 = cpu_time.backend_cpu_ns(pid), time.perf_counter()
                    for f in fl:
                        await run(f)
                    t1, c1 = time.perf_counter(), cpu_time.backend_cpu_ns(pid)
                    if rnd:
                        got[name].append(((c1 - c0) / 1e3 / (flushes * size), (t1 - t0) * 1e6 / (flushes * size)))
            base = statistics.median(c for c, _ in got["current (resolve_and_insert)"])
            for name, v in got.items():
                c = statistics.median(x for x, _ in v)
                w = statistics.median(x for _, x in v)
                table.append([size, name, f"{c:.1f}", f"{c - base:+.1f}", f"{100 * (c - base) / base:+.1f} %",
                              f"{w:.1f}", " / ".join(f"{x:.1f}" for x, _ in v)])
                print(f"  N={size} {name}: {c:.1f} µs CPU per event ({c - base:+.1f}), wall {w:.1f}", flush=True)
        plans = await conn.fetch("SELECT left(regexp_replace(statement, '\\s+', ' ', 'g'), 40) AS s, generic_plans,"
                                 " custom_plans FROM pg_prepared_statements ORDER BY custom_plans + generic_plans DESC")
        print("prepared statements (generic / custom plans): " + "; ".join(
            f"{r['s']}… {r['generic_plans']} / {r['custom_plans']}" for r in plans[:6]))
    finally:
        await conn.close()
    print(f"\nplan_cache_mode {plan_cache_mode or 'as the server has it (auto)'}; backend CPU per event, median of {rounds} rounds (each {', '.join(f'N={n}: {per.get(n, max(2, 2000 // n))} flushes' for n in sizes)} per variant), transaction incl. commit")
    print(common.table(["N", "flush", "backend CPU µs/event", "Δ µs/event", "Δ %", "wall µs/event", "rounds (CPU)"],
                       table))


# --------------------------------------------------------------------- upkeep

# What the summary would need besides the writer's upsert (not built: timed
# here, each case in a transaction rolled back, on SCRATCH_flush).

# Before merge_people's UPDATE of the events: the loser's rows OR-ed into the
# survivor's and deleted. The summary's key leads with name, so the loser's
# rows are found by the names of the loser's events (events_person_ts).
MERGE_SUMMARY = f"""WITH gone AS (
    DELETE FROM activity_planes
    WHERE project_id = $1 AND person_id = $3
      AND name IN (SELECT DISTINCT name FROM events WHERE project_id = $1 AND person_id = $3)
    RETURNING name, year, d0, d1, d2, d3, d4, d5, d6)
INSERT INTO activity_planes AS s (project_id, name, person_id, year, d0, d1, d2, d3, d4, d5, d6)
SELECT $1, name, $2, year, d0, d1, d2, d3, d4, d5, d6 FROM gone ORDER BY name, year
{PLANES_UPSERT}"""

# Before delete_target's DELETE of the events: the person's rows.
DELETE_SUMMARY = """DELETE FROM activity_planes
WHERE project_id = $1 AND person_id = $2
  AND name IN (SELECT DISTINCT name FROM events WHERE project_id = $1 AND person_id = $2)"""

# Retention: app/storage/retention.py's batch, returning what it deleted ...
RETENTION_BATCH = """WITH doomed AS (
    DELETE FROM events WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM events WHERE project_id = $1 AND ts < $2 ORDER BY ts, seq LIMIT $3))
    RETURNING name, person_id, ts)
SELECT count(*) FROM doomed"""
RETENTION_BATCH_RETURNING = """WITH doomed AS (
    DELETE FROM events WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM events WHERE project_id = $1 AND ts < $2 ORDER BY ts, seq LIMIT $3))
    RETURNING name, person_id, ts)
SELECT array_agg(name) AS names, array_agg(person_id) AS persons, array_agg(ts) AS ts FROM doomed"""
# ... and, in the same transaction, the bit of each (name, person, day) of the
# deleted events cleared when no event of it is left (masks cannot be
# un-OR-ed). A batch deletes the oldest events first, so only its last day
# can keep events: that day alone is asked of the events (a probe of
# events_name_person_ts per (name, person)); asking it of every day cost
# 34 ms per batch of 2,000 instead of 2.2 for the DELETE.
RETENTION_SUMMARY = """WITH days AS (
    SELECT DISTINCT name, person_id, (ts AT TIME ZONE 'UTC')::date AS day
    FROM unnest($2::text[], $3::uuid[], $4::timestamptz[]) AS d(name, person_id, ts)),
emptied AS (
    SELECT name, person_id, extract(year FROM day)::smallint AS year,
           day - date_trunc('week', make_date(extract(year FROM day)::int, 1, 1))::date AS slot
    FROM days d
    WHERE d.day < (SELECT max(day) FROM days)
       OR NOT EXISTS (SELECT 1 FROM events e
                         WHERE e.project_id = $1 AND e.name = d.name AND e.person_id = d.person_id
                           AND e.ts >= d.day::timestamp AT TIME ZONE 'UTC'
                           AND e.ts < (d.day + 1)::timestamp AT TIME ZONE 'UTC')),
cleared AS (
    SELECT name, person_id, year,
    """ + ",\n    ".join(
    f"coalesce(bit_or(1::bigint << (slot / 7)) FILTER (WHERE slot % 7 = {j}), 0) AS m{j}" for j in range(7)) + """
    FROM emptied GROUP BY name, person_id, year)
UPDATE activity_planes s SET """ + ", ".join(f"d{j} = s.d{j} & ~c.m{j}" for j in range(7)) + """
FROM cleared c
WHERE s.project_id = $1 AND s.name = c.name AND s.person_id = c.person_id AND s.year = c.year"""


async def _upkeep(scratch: str, cases: int, batch: int) -> None:
    db = f"{scratch}_flush"
    conn = await asyncpg.connect(common.db_url(db))
    try:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        project = await conn.fetchval("SELECT id FROM projects")
        # Persons with many events (a Logged In person has 23.5 on average) and with few.
        people = [r[0] for r in await conn.fetch(
            "SELECT person_id FROM activity_planes WHERE project_id = $1 AND name = $2 ORDER BY md5(person_id::text)"
            " LIMIT $3", project, statements.STICKY_EVENT, 2 * (cases + 1))]
        async def timed(stmts) -> float:
            tr = conn.transaction()
            await tr.start()
            try:
                c0 = cpu_time.backend_cpu_ns(pid)
                for sql, args in stmts:
                    await conn.fetch(sql, *args)
                return (cpu_time.backend_cpu_ns(pid) - c0) / 1e3
            finally:
                await tr.rollback()

        def merge(survivor, loser, summary):
            stmts = [(MERGE_SUMMARY, [project, survivor, loser])] if summary else []
            return stmts + [
                ("UPDATE identities SET person_id = $2 WHERE project_id = $1 AND person_id = $3", [project, survivor, loser]),
                ("UPDATE events SET person_id = $2 WHERE project_id = $1 AND person_id = $3", [project, survivor, loser]),
                ("UPDATE property_changes SET person_id = $2 WHERE project_id = $1 AND person_id = $3",
                 [project, survivor, loser]),
                ("UPDATE persons SET merged_into = $2, properties = '{}'::jsonb WHERE project_id = $1"
                 " AND (id = $3 OR merged_into = $3)", [project, survivor, loser])]

        def delete(target, summary):
            stmts = [(DELETE_SUMMARY, [project, target])] if summary else []
            return stmts + [
                ("DELETE FROM events WHERE project_id = $1 AND person_id = $2", [project, target]),
                ("DELETE FROM property_changes WHERE project_id = $1 AND person_id = $2", [project, target]),
                ("DELETE FROM identities WHERE project_id = $1 AND person_id = $2", [project, target])]

        out: dict = {}
        for k in range(cases + 1):  # the first case of each is a warm-up (plans, caches), dropped below
            survivor, loser = people[2 * k], people[2 * k + 1]
            # Each timed twice, the second kept: the first run of a pair read
            # the persons' pages into shared buffers (5.9 vs 1.7 ms).
            for name, summary in (("merge", False), ("merge + summary", True)):
                await timed(merge(survivor, loser, summary))
                out.setdefault(name, []).append(await timed(merge(survivor, loser, summary)))
            for name, summary in (("deletePerson", False), ("deletePerson + summary", True)):
                await timed(delete(loser, summary))
                out.setdefault(name, []).append(await timed(delete(loser, summary)))
        events = await conn.fetchval("SELECT count(*) FROM events WHERE project_id = $1 AND person_id = ANY($2)",
                                     project, people[3::2])
        # Retention: batches of `batch` events at several cut-offs (mid-day, so
        # the last day of each batch is partial).
        for day in range(cases + 1):
            cutoff = generate.START + timedelta(days=30 + 10 * day, hours=13)
            out.setdefault("retention batch", []).append(await timed([(RETENTION_BATCH, [project, cutoff, batch])]))
            tr = conn.transaction()
            await tr.start()
            try:
                c0 = cpu_time.backend_cpu_ns(pid)
                gone = await conn.fetchrow(RETENTION_BATCH_RETURNING, project, cutoff, batch)
                await conn.execute(RETENTION_SUMMARY, project, gone["names"], gone["persons"], gone["ts"])
                out.setdefault("retention batch + summary", []).append((cpu_time.backend_cpu_ns(pid) - c0) / 1e3)
            finally:
                await tr.rollback()
    finally:
        await conn.close()
    out = {name: v[1:] for name, v in out.items()}
    rows = []
    for name, v in out.items():
        base = name.replace(" + summary", "")
        d = statistics.median(v) - statistics.median(out[base])
        rows.append([name, f"{statistics.median(v):,.0f}", f"{d:+,.0f}" if base != name else "",
                     f"{100 * d / statistics.median(out[base]):+.0f} %" if base != name else ""])
    print(f"\nbackend CPU µs, median of {cases} cases, each in a transaction rolled back (no commit); persons with"
          f" {statements.STICKY_EVENT} events ({events / cases:.1f} events each); retention batches of {batch} events")
    print(common.table(["operation", "backend CPU µs", "Δ µs", "Δ %"], rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("build", "read", "flush", "upkeep"))
    ap.add_argument("--scratch", default="actmask")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="1,32,1000")
    ap.add_argument("--offset", type=int, default=500_000, help="the flushes' first CSV event (mid-year)")
    ap.add_argument("--cases", type=int, default=15, help="upkeep: merges, deletions, retention batches")
    ap.add_argument("--batch", type=int, default=2000, help="upkeep: events per retention batch")
    ap.add_argument("--plan-cache-mode", choices=("auto", "force_custom_plan", "force_generic_plan"),
                    help="flush: set for the writer's connection (default: the server's, auto)")
    args = ap.parse_args()
    if args.what == "build":
        asyncio.run(_build(args.scratch))
    elif args.what == "read":
        _read(args.scratch, args.rounds, args.runs)
    elif args.what == "upkeep":
        asyncio.run(_upkeep(args.scratch, args.cases, args.batch))
    else:
        asyncio.run(_flush(args.scratch, [int(s) for s in args.sizes.split(",")], args.rounds, args.offset,
                           args.plan_cache_mode))


if __name__ == "__main__":
    main()
