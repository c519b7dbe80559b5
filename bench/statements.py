"""Each report's statement alone, timed beside DuckDB (and the statement of an
earlier commit): the SQL cost without HTTP, GraphQL or the Python assembly.

- whodid: the statement exactly as the server builds it (funnel_mod.build_query
  without people, and the report contract's kind.build for cohort (COHORT;
  cohort_sql/cohort_params in a tree from before it), revenue (REVENUE;
  revenue_sql in a tree from before it), trends, stickiness, lifecycle and
  paths), run on one
  connection inside a read-only REPEATABLE READ transaction with
  app/reports/service.py's REPORT_SETTINGS applied, as the report service does,
  and the report module's own STATEMENT_SETTINGS when it has some;
- ref (`--compare-ref REF`): the statement built by the code at git REF
  (exported with `git archive`; a subprocess of that tree builds and pickles
  the (sql, params)), run the same way on the same connection and database;
- DuckDB: bench/duckdb_reports.py in-process over the same rows
  (generate.write_csv), data loaded in memory beforehand.

Each round times every report with each contender in turn (one warm-up run,
then the median of `--runs` runs); the table gives the median over
`--rounds` rounds and the ratios. The answers are compared outside the timing:
whodid's (the report module's compute function, funnel with every person's
chain for peopleList) against DuckDB's, and against REF's in full
(every figure, every person's level, times and segment). The funnel against
DuckDB: every step of the total and of every segment — people, droppedOff,
conversions, and timeFromPrevious's count and histogram exactly, its mean,
median and p90 within FLOAT_TOLERANCE (1e-9 relative); the segments'
comparisons (significance, computed in Python after the statement) are not.
`--split N` also times, for the reports whose ReportKind has build_parts
(cohort, lifecycle, stickiness, revenue), their N parts as the report service runs them
(app/reports/service.py `_fetch_parts`): side by side on N connections, the
first one's transaction exporting its snapshot (pg_export_snapshot), the
others importing it (SET TRANSACTION SNAPSHOT) with the report settings,
timed from the export to the last part's last row (the first connection's
BEGIN and settings are outside the clock, as the one statement's are); its
answer (the kind's assembly over every part's rows) compared with DuckDB's.
`--reports funnel_counts` (not in the default) times whodid's funnel statement
again beside DuckDB's counts-only one (the yardstick before
docs/benchmarks.md §19.1), compared on the people alone.

`--keep NAME` keeps the loaded database `whodid_bench_stmt_NAME` and the CSV
folder /tmp/whodid_bench_stmt_NAME for later runs (loading 1M events takes
minutes); a later run with the same NAME reuses them (`whodid migrate` is run
again), after checking they hold the same --events/--seed. Without it both are
removed at the end. `--drop NAME` removes a kept one. `--read-only NAME` times
against a kept one of another run as it is (no lock, no `whodid migrate`).

    .venv/bin/python -m bench.statements [--reports funnel,funnel_counts,cohort,revenue,lifecycle,paths] [--rounds 3] [--runs 5]
        [--events 1000000] [--seed 42] [--limit 10] [--compare-ref REF] [--split N]
        [--keep NAME | --read-only NAME] [--quick]"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import fcntl
import functools
import math
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import asyncpg

from . import common, duckdb_reports, generate, reports

if TYPE_CHECKING:  # not imported when run: a tree exported at an earlier commit may not have it
    from app.reports.contract import ReportKind

KINDS = ("funnel", "cohort", "revenue", "trends", "stickiness", "lifecycle", "paths")
# funnel_counts (asked by name, not by default): whodid's funnel statement again
# beside DuckDB's counts-only statement (duckdb_reports.FUNNEL_COUNTS_SQL), the
# yardstick before docs/benchmarks.md §19.1, compared on the people alone.
EXTRA_KINDS = ("funnel_counts",)
# DuckDB's funnel durations against whodid's: relative (and, for a 0, absolute
# in seconds) tolerance of the float figures; every count is compared exactly.
FLOAT_TOLERANCE = 1e-9
# The reports on the report contract (app/reports/contract.py): statement by
# kind.build (with kind.settings), answer by kind.assemble over its rows.
CONTRACT_KINDS = ("trends", "stickiness", "lifecycle", "paths")
LOAD_LOCK = "/tmp/whodid-bench-load.lock"
# cohort cells are "complete" relative to computedAt: fixed, so answers compare
COMPUTED_AT = datetime(2030, 1, 1, tzinfo=timezone.utc)


# ------------------------------------------------------------------ statements
# Importing only app/ and bench.reports' constants: this also runs in a tree
# exported at an earlier commit (see ref_statements).


def _specs(start: datetime, end: datetime, limit: int):
    from app.reports import cohort as cohort_mod, funnel as funnel_mod, revenue as revenue_mod
    from app.reports.periods import Period

    fspec = funnel_mod.FunnelSpec(
        steps=tuple(funnel_mod.FunnelStepSpec(s) for s in reports.FUNNEL_STEPS), from_=start, to=end,
        window_seconds=reports.WINDOW,
        segment_by=funnel_mod.SegmentSpec(first_step_property=reports.SEGMENT, limit=limit))
    cspec = cohort_mod.CohortSpec("Signed Up", "Logged In", reports.COHORT_FROM, reports.COHORT_TO, Period.WEEK,
                                  Period.WEEK, 12)
    rspec = revenue_mod.RevenueSpec(start, end, Period.MONTH, reports.SEGMENT)
    return fspec, cspec, rspec


# trends: people who visited, logins and the sum of Revenue on bills, per day
# over the year, broken down by the person's Variant; stickiness: weeks with a
# login over the year.
TREND_SERIES = [{"event": "Visited Site", "math": "PEOPLE"}, {"event": "Logged In", "math": "TOTAL"},
                {"event": "Billed", "math": "SUM", "property": "Revenue"}]
TREND_BREAKDOWN = "Variant"
STICKY_EVENT, STICKY_INTERVAL = "Logged In", "WEEK"


def _contract_specs(start: datetime, end: datetime,
                    kinds: tuple[str, ...]) -> dict[str, tuple[ReportKind[Any, Any], Any]]:
    """{report: (ReportKind, spec)} of the contract's reports among `kinds`
    (imported only when asked: an earlier tree may not have them)."""
    from app.reports.periods import Period

    out: dict[str, tuple[ReportKind[Any, Any], Any]] = {}
    if "trends" in kinds:
        from app.reports.trends import TRENDS, BreakdownSpec, SeriesSpec, TrendMath, TrendsSpec

        out["trends"] = (TRENDS, TrendsSpec(
            tuple(SeriesSpec(s["event"], math=TrendMath(s["math"]), property=s.get("property")) for s in TREND_SERIES),
            start, end, Period.DAY, BreakdownSpec(person_property=TREND_BREAKDOWN)))
    if "stickiness" in kinds:
        from app.reports.stickiness import STICKINESS, StickinessSpec

        out["stickiness"] = (STICKINESS, StickinessSpec(STICKY_EVENT, start, end, interval=Period(STICKY_INTERVAL)))
    if "lifecycle" in kinds:
        from app.reports.lifecycle import LIFECYCLE, LifecycleSpec

        out["lifecycle"] = (LIFECYCLE, LifecycleSpec(reports.LIFECYCLE_EVENT, start, end, interval=Period.WEEK))
    if "paths" in kinds:
        from app.reports.paths import PATHS, PathsSpec

        out["paths"] = (PATHS, PathsSpec(start, end, start_event=reports.PATHS_START))
    return out


def _cohort_statement(cohort_mod, project_id: uuid.UUID, cspec) -> tuple[str, list]:
    """The cohort's statement: by its ReportKind, or (a tree from before the
    cohort package, --compare-ref) by cohort_sql/cohort_params."""
    if hasattr(cohort_mod, "COHORT"):
        return cohort_mod.COHORT.build(project_id, cspec)
    return cohort_mod.cohort_sql(cspec), cohort_mod.cohort_params(project_id, cspec)


def _revenue_statement(revenue_mod, project_id: uuid.UUID, rspec, start: datetime, end: datetime) -> tuple[str, list]:
    """The revenue statement: by its ReportKind (the revenue package, issue 11
    point 3), or (a tree from before it, --compare-ref) by revenue_sql."""
    if hasattr(revenue_mod, "REVENUE"):
        return revenue_mod.REVENUE.build(project_id, rspec)
    return revenue_mod.revenue_sql(rspec), [project_id, start, end, reports.SEGMENT]


def build(project_id: uuid.UUID, start: datetime, end: datetime, limit: int = 10,
          kinds: tuple[str, ...] = KINDS) -> dict[str, tuple[str, list]]:
    """{report: (sql, params)}: each statement as the server builds it."""
    from app.reports import cohort as cohort_mod, funnel as funnel_mod, revenue as revenue_mod

    fspec, cspec, rspec = _specs(start, end, limit)
    out = {
        "funnel": funnel_mod.build_query(project_id, fspec),
        "cohort": _cohort_statement(cohort_mod, project_id, cspec),
        "revenue": _revenue_statement(revenue_mod, project_id, rspec, start, end),
    }
    for kind, (report, spec) in _contract_specs(start, end, kinds).items():
        out[kind] = report.build(project_id, spec)
    if "funnel_counts" in kinds:  # the same statement, timed beside the counts-only yardstick
        out["funnel_counts"] = out["funnel"]
    return out


def split_kinds(start: datetime, end: datetime, limit: int,
                kinds: tuple[str, ...]) -> dict[str, tuple[ReportKind[Any, Any], Any]]:
    """{report: (ReportKind, spec)} of the reports among `kinds` that have
    parts (ReportKind.build_parts)."""
    from app.reports import funnel as funnel_mod
    from app.reports.cohort import COHORT
    from app.reports.revenue import REVENUE

    fspec, cspec, rspec = _specs(start, end, limit)
    out: dict[str, tuple[ReportKind[Any, Any], Any]] = {"cohort": (COHORT, cspec)} if "cohort" in kinds else {}
    if "revenue" in kinds:
        out["revenue"] = (REVENUE, rspec)
    # The funnel's parts (a tree from before them, --compare-ref, has no FUNNEL).
    if "funnel" in kinds and hasattr(funnel_mod, "FUNNEL"):
        out["funnel"] = (funnel_mod.FUNNEL, fspec)
    out.update(_contract_specs(start, end, kinds))
    return {kind: ks for kind, ks in out.items() if ks[0].build_parts is not None}


async def _split_fetch(conns: list[asyncpg.Connection], parts: list[tuple[str, list]],
                       extra: str | None) -> tuple[list, float]:
    """(rows of every part, seconds from the snapshot's export to the last
    row): parts[i] on conns[i], conns[0]'s transaction exporting its
    snapshot, the others' importing it (ReportService._fetch_parts)."""
    from app.reports.service import REPORT_SETTINGS

    first, others = conns[0], conns[1:len(parts)]
    async with first.transaction(isolation="repeatable_read", readonly=True):
        await first.execute(REPORT_SETTINGS, "900000")
        if extra:
            await first.execute(extra)
        started = time.perf_counter()
        snapshot = await first.fetchval("SELECT pg_export_snapshot()")

        async def other(c: asyncpg.Connection, sql: str, params: list) -> list:
            async with c.transaction(isolation="repeatable_read", readonly=True):
                await c.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                await c.execute(REPORT_SETTINGS, "900000")
                if extra:
                    await c.execute(extra)
                return await c.fetch(sql, *params)

        got = await asyncio.gather(first.fetch(*_unpack(parts[0])),
                                   *(other(c, sql, params) for c, (sql, params) in zip(others, parts[1:])))
        elapsed = time.perf_counter() - started
    return [row for rows in got for row in rows], elapsed


def _split_settings(report: ReportKind[Any, Any]) -> str | None:
    """The settings of a part's transaction (ReportKind.split_settings; a
    tree from before parts_settings: the kind's settings)."""
    split = getattr(report, "split_settings", None)
    return split() if split is not None else report.settings


async def _time_split(conns: list[asyncpg.Connection], parts: list[tuple[str, list]], runs: int,
                      extra: str | None) -> float:
    """Median seconds of `runs` split runs after one warm-up."""
    times = []
    for i in range(runs + 1):
        _, elapsed = await _split_fetch(conns, parts, extra)
        if i:
            times.append(elapsed)
    return common.median(times)


async def split_answers(url: str, project_id: uuid.UUID, split: dict[str, tuple[ReportKind[Any, Any], Any]],
                        n: int) -> dict:
    """{report: plain answer} of the kind's assembly over its n parts' rows."""
    from app.storage.pool import connect

    conns = [await connect(url) for _ in range(n)]
    out = {}
    try:
        for kind, (report, spec) in split.items():
            rows, _ = await _split_fetch(conns, report.build_parts(project_id, spec, n), _split_settings(report))
            out[kind] = _plain(report.assemble(rows, spec, COMPUTED_AT))
    finally:
        for c in conns:
            await c.close()
    return out


def settings() -> dict[str, str | None]:
    """{report: SQL of its own transaction-local settings, applied after
    REPORT_SETTINGS (the module's STATEMENT_SETTINGS, if it has any)}."""
    from app.reports import cohort as cohort_mod, funnel as funnel_mod, revenue as revenue_mod

    out = {kind: getattr(mod, "STATEMENT_SETTINGS", None)
           for kind, mod in (("funnel", funnel_mod), ("cohort", cohort_mod), ("revenue", revenue_mod))}
    # The contract's reports carry their own (kind.settings); a tree from
    # before them (--compare-ref) has none of them.
    for kind in CONTRACT_KINDS:
        try:
            report, _ = _contract_specs(datetime(2025, 1, 1, tzinfo=timezone.utc),
                                        datetime(2025, 1, 2, tzinfo=timezone.utc), (kind,))[kind]
        except ImportError:
            continue
        out[kind] = report.settings
    out["funnel_counts"] = out["funnel"]
    return out


def _plain(value):
    """A result dataclass as plain data (picklable across trees, comparable)."""
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


def _chains(people: dict | None) -> list | None:
    """Every person's chain as (id, level, times, segment value), by id: equal
    whatever order the statement gave the people in."""
    if people is None:
        return None
    n, ids, values = people["steps"], people["ids"], people["values"]
    return sorted((ids[16 * i:16 * i + 16].hex(), people["levels"][i], list(people["times"][i * n:(i + 1) * n]),
                   values[people["segments"][i]]) for i in range(len(people["levels"])))


async def answers(url: str, project_id: uuid.UUID, start: datetime, end: datetime, limit: int,
                  kinds: tuple[str, ...]) -> dict:
    """{report: plain answer} by the report modules' compute functions, run
    as the service runs them; the funnel with every person's chain."""
    from app.reports import cohort as cohort_mod, funnel as funnel_mod, revenue as revenue_mod
    from app.reports.service import REPORT_SETTINGS
    from app.storage.pool import connect

    fspec, cspec, rspec = _specs(start, end, limit)
    compute: dict[str, Callable[[asyncpg.Connection], Awaitable[object]]] = {
        "funnel": lambda c: funnel_mod.compute_funnel(c, project_id, fspec, with_people=True),
        "cohort": lambda c: cohort_mod.compute_cohort(c, project_id, cspec, COMPUTED_AT),
        "revenue": lambda c: revenue_mod.compute_revenue(c, project_id, rspec),
    }
    async def contract(c, report, spec):
        if report.settings:
            await c.execute(report.settings)
        sql, params = report.build(project_id, spec)
        return report.assemble(await c.fetch(sql, *params), spec, COMPUTED_AT)

    for kind, (report, spec) in _contract_specs(start, end, kinds).items():
        compute[kind] = functools.partial(contract, report=report, spec=spec)
    conn = await connect(url)
    out: dict[str, Any] = {}
    try:
        for kind in kinds:
            if kind == "funnel_counts":  # the funnel's answer (KINDS' order: funnel first)
                out[kind] = out["funnel"] if "funnel" in out else await _funnel_answer(conn, compute)
                continue
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                await conn.execute(REPORT_SETTINGS, "900000")
                out[kind] = _plain(await compute[kind](conn))
            if kind == "funnel":
                out[kind].pop("computed_at", None)
                out[kind]["people"] = _chains(out[kind].get("people"))
    finally:
        await conn.close()
    return out


async def _funnel_answer(conn, compute: dict) -> dict:
    from app.reports.service import REPORT_SETTINGS

    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(REPORT_SETTINGS, "900000")
        out = _plain(await compute["funnel"](conn))
    out.pop("computed_at", None)
    out["people"] = _chains(out.get("people"))
    return out


def _unpack(statement: tuple[str, list]) -> list:
    sql, params = statement
    return [sql, *params]


class Emitted(TypedDict):
    """What emit pickles: {report: (sql, params)}, {report: its own settings}, {report: plain answer}."""
    statements: dict[str, tuple[str, list]]
    settings: dict[str, str | None]
    answers: dict


def emit(args) -> None:
    """Subprocess side of --compare-ref (run inside the exported tree): pickle
    the statements and the answers of this tree to args.emit."""
    project_id, start, end = uuid.UUID(args.project), generate.START, generate.END
    kinds = tuple(args.reports.split(","))
    out: Emitted = {"statements": build(project_id, start, end, args.limit, kinds), "settings": settings(),
                    "answers": asyncio.run(answers(args.url, project_id, start, end, args.limit, kinds))}
    Path(args.emit).write_bytes(pickle.dumps(out))


def ref_statements(ref: str, url: str, project_id: uuid.UUID, limit: int, kinds: tuple[str, ...]) -> Emitted:
    """{"statements": ..., "answers": ...} of the code at git `ref`: this file
    copied into the exported tree and run there (its app/, its bench/)."""
    with common.exported_tree(ref) as tree, tempfile.NamedTemporaryFile(suffix=".pickle") as out:
        shutil.copy(Path(__file__), tree / "bench" / "statements.py")
        subprocess.run([sys.executable, "-m", "bench.statements", "--emit", out.name, "--url", url,
                        "--project", str(project_id), "--limit", str(limit), "--reports", ",".join(kinds)],
                       cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, check=True)
        return pickle.loads(Path(out.name).read_bytes())


# ------------------------------------------------------------------ comparing


def duck_shape(kind: str, answer: dict):
    """A plain whodid answer in duckdb_reports' shapes (funnel: the whole
    answer but the segments' comparisons, which whodid computes in Python
    after its statement; funnel_counts: the people alone)."""
    if kind == "funnel":
        def steps(group: list[dict]) -> list[dict]:
            out = []
            for s in group:
                t = s["time_from_previous"]
                out.append({"people": s["people"], "dropped_off": s["dropped_off"],
                            "conversion_from_previous": s["conversion_from_previous"],
                            "conversion_from_start": s["conversion_from_start"],
                            "time_from_previous": None if t is None else {
                                "count": t["count"], "mean_seconds": t["mean_seconds"],
                                "median_seconds": t["median_seconds"], "p90_seconds": t["p90_seconds"],
                                "histogram": [n for _, n in t["histogram"]]}})
            return out

        return {"steps": steps(answer["steps"]),
                "segments": {s["value"]: {"steps": steps(s["steps"]), "conversion_rate": s["conversion_rate"]}
                             for s in answer["segments"]}}
    if kind == "funnel_counts":
        return {"steps": [s["people"] for s in answer["steps"]],
                "segments": {s["value"]: [x["people"] for x in s["steps"]] for s in answer["segments"]}}
    if kind == "lifecycle":  # periods with anyone, as DuckDB gives them
        return [(p["start"].astimezone(timezone.utc).replace(tzinfo=None), p["new"], p["returning"],
                 p["resurrecting"], p["dormant"]) for p in answer["points"]
                if p["new"] or p["returning"] or p["resurrecting"] or p["dormant"]]
    if kind == "paths":
        return {"nodes": [(n["step"], n["event"], n["people"]) for n in answer["nodes"]],
                "links": [(x["from_step"], x["source"], x["target"], x["people"]) for x in answer["links"]]}
    if kind == "cohort":
        return [(r["start"].astimezone(timezone.utc).replace(tzinfo=None), r["size"], [c["people"] for c in r["cells"]])
                for r in answer["rows"]]
    if kind == "trends":
        return [(s["index"], s["breakdown_value"], s["total"],
                 [(p["start"].astimezone(timezone.utc).replace(tzinfo=None), p["value"]) for p in s["points"]
                  if p["value"]])
                for s in answer["series"]]
    if kind == "stickiness":
        return {b["periods"]: b["people"] for b in answer["buckets"] if b["people"]}
    m = answer["money"]
    return {
        "total": Decimal(m["total"]), "gross": Decimal(m["gross"]), "refunds": Decimal(m["refunds"]),
        "paying": m["paying_people"],
        "series": [(p["start"].astimezone(timezone.utc).replace(tzinfo=None), Decimal(p["money"]["total"]),
                    Decimal(p["money"]["gross"]), Decimal(p["money"]["refunds"]), p["money"]["paying_people"])
                   for p in answer["series"]],
        "sources": [(s["value"], Decimal(s["total"]), s["paying_people"]) for s in answer["by_source"]],
    }


def first_difference(a, b, path: str = "", tolerance: float = 0.0) -> str | None:
    """Where two plain answers differ first (None: equal). tolerance > 0: two
    floats are equal within it, relative (math.isclose's rel_tol) or, near 0,
    absolute; anything else, ints included, exactly."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            d = first_difference(a.get(k), b.get(k), f"{path}.{k}", tolerance)
            if d:
                return d
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]", tolerance)
            if d:
                return d
        return None
    if tolerance and isinstance(a, float) and isinstance(b, float):
        return None if math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance) else f"{path}: {a!r} != {b!r}"
    return None if a == b else f"{path}: {a!r} != {b!r}"[:300]


def largest_float_difference(a, b) -> float:
    """The largest relative difference between two answers' floats at the
    same places (0 when equal): how close DuckDB's funnel durations came."""
    if isinstance(a, dict) and isinstance(b, dict):
        return max((largest_float_difference(a[k], b[k]) for k in a if k in b), default=0.0)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return max((largest_float_difference(x, y) for x, y in zip(a, b)), default=0.0)
    if isinstance(a, float) and isinstance(b, float) and a != b:
        return abs(a - b) / max(abs(a), abs(b))
    return 0.0


# ------------------------------------------------------------------ data


async def _database_comment(url: str) -> str | None:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT shobj_description(oid, 'pg_database') FROM pg_database"
                                   " WHERE datname = current_database()")
    finally:
        await conn.close()


async def _exists(name: str) -> bool:
    conn = await asyncpg.connect(common.ADMIN_URL)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def _load(url: str, ds: generate.Dataset, marker: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await generate.create_project(conn, ds, f"stmt-{ds.project_id.hex[:8]}")
        await generate.load(conn, ds)
        # the mark of a complete load (a half-loaded kept database is redone)
        await conn.execute(f"COMMENT ON DATABASE \"{url.rsplit('/', 1)[1]}\" IS '{marker}'")
    finally:
        await conn.close()


@contextlib.contextmanager
def dataset(events: int, seed: int, keep: str | None, read_only: bool = False):
    """(database url, project id, CSV paths) of the generated data set,
    loaded now or (keep) reused; read_only: a kept one used as it is (no
    migration; it must hold the same --events/--seed)."""
    marker = f"whodid bench.statements events={events} seed={seed}"
    project_id = generate.generate(people=1, seed=seed).project_id  # the same id at any size
    if keep is None:
        with common.fresh_database("whodid_bench_stmt") as url, \
                tempfile.TemporaryDirectory(prefix="whodid-stmt-") as tmp:
            ds = generate.generate(events=events, seed=seed)
            paths = generate.write_csv(ds, Path(tmp))
            asyncio.run(_load(url, ds, marker))
            del ds
            yield url, project_id, paths
        return
    name = f"whodid_bench_stmt_{keep}"
    url, folder = common.db_url(name), Path(f"/tmp/{name}")
    paths = {n: folder / f"{n}.csv" for n in ("events", "persons", "property_changes")}
    if read_only:  # another run's kept data set, as it is: no lock, no migration, no load
        done = folder / "done"
        if not (done.exists() and done.read_text() == marker and asyncio.run(_exists(name))
                and asyncio.run(_database_comment(url)) == marker):
            raise SystemExit(f"{name} and {folder} are not a loaded data set of {marker!r}")
        print(f"reading {name} and {folder} as they are", flush=True)
        yield url, project_id, paths
        return
    with open(LOAD_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = folder / "done"
        ready = (done.exists() and done.read_text() == marker and asyncio.run(_exists(name))
                 and asyncio.run(_database_comment(url)) == marker)
        if ready:
            print(f"reusing {name} and {folder}", flush=True)
            common.migrate(url)
        else:
            print(f"loading {events:,} events (seed {seed}) into {name} and {folder} …", flush=True)
            asyncio.run(common._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            asyncio.run(common._admin(f'CREATE DATABASE "{name}"'))
            common.migrate(url)
            shutil.rmtree(folder, ignore_errors=True)
            ds = generate.generate(events=events, seed=seed)
            generate.write_csv(ds, folder)
            asyncio.run(_load(url, ds, marker))
            del ds
            (folder / "done").write_text(marker)
    yield url, project_id, paths


def drop(keep: str) -> None:
    name = f"whodid_bench_stmt_{keep}"
    with open(LOAD_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        asyncio.run(common._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        shutil.rmtree(f"/tmp/{name}", ignore_errors=True)
    print(f"dropped {name} and /tmp/{name}")


# ------------------------------------------------------------------ timing


async def _time_statement(conn, sql: str, params: list, runs: int, extra: str | None = None) -> float:
    """Median seconds of `runs` runs after one warm-up, each in its own
    transaction with the report settings and the report's own (`extra`), as
    the service runs it."""
    from app.reports.service import REPORT_SETTINGS

    times = []
    for i in range(runs + 1):
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await conn.execute(REPORT_SETTINGS, "900000")
            if extra:
                await conn.execute(extra)
            started = time.perf_counter()
            await conn.fetch(sql, *params)
            elapsed = time.perf_counter() - started
        if i:
            times.append(elapsed)
    return common.median(times)


def _time_duck(run, runs: int) -> float:
    times = []
    for i in range(runs + 1):
        started = time.perf_counter()
        run()
        if i:
            times.append(time.perf_counter() - started)
    return common.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", default=",".join(KINDS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per contender per round (after a warm-up)")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--limit", type=int, default=10, help="the funnel's segment limit")
    ap.add_argument("--compare-ref", default=None, metavar="REF")
    ap.add_argument("--split", type=int, default=0, metavar="N",
                    help="also time the reports with parts (cohort, lifecycle, stickiness, revenue) on N connections")
    ap.add_argument("--keep", default=None, metavar="NAME", help="keep/reuse whodid_bench_stmt_NAME")
    ap.add_argument("--read-only", default=None, metavar="NAME",
                    help="use the kept whodid_bench_stmt_NAME as it is (no lock, no migration, no load)")
    ap.add_argument("--drop", default=None, metavar="NAME", help="drop a kept database and its CSV, and exit")
    ap.add_argument("--quick", action="store_true", help="smoke run: ~20,000 events, 1 round of 1 run")
    ap.add_argument("--emit", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--project", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.emit:
        return emit(args)
    if args.drop:
        return drop(args.drop)
    if args.quick:
        args.events, args.rounds, args.runs = 20_000, 1, 1
    kinds = tuple(k for k in KINDS + EXTRA_KINDS if k in args.reports.split(","))
    start, end = generate.START, generate.END

    with dataset(args.events, args.seed, args.read_only or args.keep, args.read_only is not None) as (url, project_id, paths):
        ref = ref_statements(args.compare_ref, url, project_id, args.limit, kinds) if args.compare_ref else None
        ours, our_settings = build(project_id, start, end, args.limit, kinds), settings()
        our_answers = asyncio.run(answers(url, project_id, start, end, args.limit, kinds))
        split = split_kinds(start, end, args.limit, kinds) if args.split > 1 else {}
        split_parts = {kind: report.build_parts(project_id, spec, args.split)
                       for kind, (report, spec) in split.items() if report.build_parts is not None}
        our_split = asyncio.run(split_answers(url, project_id, split, args.split)) if split else {}
        started = time.perf_counter()
        con = duckdb_reports.connect(paths)
        print(f"DuckDB load {time.perf_counter() - started:.1f} s", flush=True)
        duck = reports.duck_answers(con, start, end)
        duck["funnel"] = lambda: duckdb_reports.funnel(con, reports.FUNNEL_STEPS, start, end, reports.WINDOW,
                                                       reports.SEGMENT, args.limit)
        duck["funnel_counts"] = lambda: duckdb_reports.funnel_counts(
            con, reports.FUNNEL_STEPS, start, end, reports.WINDOW, reports.SEGMENT, args.limit)
        duck["lifecycle"] = lambda: duckdb_reports.lifecycle(
            con, reports.LIFECYCLE_EVENT, start, end, "week", start, end - timedelta(weeks=1))
        duck["paths"] = lambda: duckdb_reports.paths(con, reports.PATHS_START, start, end, 4, 10)
        duckdb_reports.connect_persons(con, paths)
        duck["trends"] = lambda: duckdb_reports.trends(con, TREND_SERIES, start, end, "DAY", TREND_BREAKDOWN)
        duck["stickiness"] = lambda: duckdb_reports.stickiness(con, STICKY_EVENT, start, end, STICKY_INTERVAL)
        same = {}
        for kind in kinds:
            notes = []
            mine, theirs = duck_shape(kind, our_answers[kind]), duck[kind]()
            d = first_difference(mine, theirs, tolerance=FLOAT_TOLERANCE if kind == "funnel" else 0.0)
            if d:
                notes.append(f"DuckDB{d}")
            elif kind == "funnel":
                print(f"funnel: DuckDB's durations within {FLOAT_TOLERANCE:g} of whodid's, largest relative"
                      f" difference {largest_float_difference(mine, theirs):.2g}", flush=True)
            if ref is not None:
                d = first_difference(our_answers[kind], ref["answers"][kind])
                if d:
                    notes.append(f"ref{d}")
            if kind in our_split:
                d = first_difference(duck_shape(kind, our_split[kind]), theirs,
                                     tolerance=FLOAT_TOLERANCE if kind == "funnel" else 0.0)
                if d:
                    notes.append(f"split: DuckDB{d}")
                # The parts' answer is the one statement's exactly (the funnel's
                # steps and segments whole: floats, comparisons).
                split_whole, one_whole = (
                    {k: a[k] for k in ("steps", "segments")} if kind == "funnel" else duck_shape(kind, a)
                    for a in (our_split[kind], our_answers[kind]))
                d = first_difference(split_whole, one_whole)
                if d:
                    notes.append(f"split: whodid{d}")
            same[kind] = "; ".join(notes) or ("yes (DuckDB" + (", ref" if ref else "")
                                              + (", split" if kind in our_split else "") + ")")

        async def timed() -> dict:
            from app.storage.pool import connect

            conn = await connect(url)
            # The split's other connections (the first one is `conn`).
            spare = [await connect(url) for _ in range(args.split - 1)] if split_parts else []
            out: dict[str, dict[str, list[float]]] = {
                k: {"whodid": [], "split": [], "ref": [], "duckdb": []} for k in kinds}
            try:
                for rnd in range(args.rounds):
                    for kind in kinds:
                        out[kind]["whodid"].append(
                            await _time_statement(conn, *ours[kind], args.runs, our_settings[kind]))
                        if kind in split_parts:
                            out[kind]["split"].append(
                                await _time_split([conn, *spare], split_parts[kind], args.runs,
                                                  _split_settings(split[kind][0])))
                        if ref is not None:
                            out[kind]["ref"].append(
                                await _time_statement(conn, *ref["statements"][kind], args.runs,
                                                      ref.get("settings", {}).get(kind)))
                        out[kind]["duckdb"].append(_time_duck(duck[kind], args.runs))
                        r = out[kind]
                        print(f"  round {rnd + 1} {kind}: whodid {r['whodid'][-1] * 1000:.0f} ms"
                              + (f", split {r['split'][-1] * 1000:.0f} ms" if r["split"] else "")
                              + (f", ref {r['ref'][-1] * 1000:.0f} ms" if ref is not None else "")
                              + f", DuckDB {r['duckdb'][-1] * 1000:.0f} ms", flush=True)
            finally:
                for c in (conn, *spare):
                    await c.close()
            return out

        times = asyncio.run(timed())

    rows = []
    for kind in kinds:
        w, d = common.median(times[kind]["whodid"]), common.median(times[kind]["duckdb"])
        row = [kind, f"{w * 1000:.0f}"]
        if ref is not None:
            r = common.median(times[kind]["ref"])
            row += [f"{r * 1000:.0f}", f"{d * 1000:.0f}", f"{w / d:.2f}", f"{r / d:.2f}", f"{w / r:.2f}"]
        else:
            row += [f"{d * 1000:.0f}", f"{w / d:.2f}"]
        if split_parts:
            sp = common.median(times[kind]["split"]) if times[kind]["split"] else None
            row += ["-", "-"] if sp is None else [f"{sp * 1000:.0f}", f"{sp / d:.2f}"]
        rows.append(row + [same[kind]])
    headers = ["report", "whodid ms"] + (
        [f"{args.compare_ref} ms", "DuckDB ms", "whodid / DuckDB", f"{args.compare_ref} / DuckDB",
         f"whodid / {args.compare_ref}"] if ref is not None else ["DuckDB ms", "whodid / DuckDB"]) + (
        [f"split {args.split} ms", "split / DuckDB"] if split_parts else []) + ["same answer"]
    print(f"\n{args.events:,} events requested (seed {args.seed}); the statement alone, median of {args.runs} runs"
          f" per round, median of {args.rounds} interleaved rounds; funnel segment limit {args.limit}")
    print(common.table(headers, rows))


if __name__ == "__main__":
    main()
