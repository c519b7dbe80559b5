"""Planner statistics that keep up with the data.

PostgreSQL plans a report from the statistics ANALYZE last gathered. Straight
after a bulk load (an import, a burst of batches, `whodid demo`, a new project
in a table that already holds others) those statistics describe a far smaller
table, or none: the planner then expects one row where there are 600,000 and
picks nested loops that rescan a subquery per row, and a report that takes a
second at rest runs for minutes (issue 16; docs/benchmarks.md, "Statistics").
Autovacuum analyzes eventually, but only once a minute at best and one table
per worker.

The keeper closes the gap from two sides:

- **the writer** tells it how many rows each commit added per project
  (`note_written`); a background task, at most every `interval` seconds while
  writes arrive, runs VACUUM (ANALYZE) on each whodid table whose rows changed
  by more than `growth` of what the statistics know (plus `min_rows`), and
  when one project grew past `growth` of the planner's estimate of its rows (a
  new project in a big table is invisible to the table-wide count); VACUUM
  also marks the new pages all-visible, which index-only scans need;
- **the reports** ask `ensure_fresh(project)` before planning (checked at most
  every `interval` seconds per project): if the statistics are stale by the
  same rule (data loaded by another process, or by another tool), ANALYZE runs
  first, once, under an advisory lock that every process shares. A report
  never waits behind statistics work already under way elsewhere (another
  report's ANALYZE, the writer's VACUUM): it plans on what there is, and
  without nested loops (REPORT_SETTINGS) no plan of it can turn quadratic.

ANALYZE samples a bounded number of rows (300 × default_statistics_target),
so its cost does not grow with the table (about 0.1-0.4 s here). It takes a
SHARE UPDATE EXCLUSIVE lock: inserts and reports go on meanwhile.

On Citus (app/storage/cluster.py) the coordinator's tables are empty shells:
their pg_class and pg_stat_user_tables say nothing (reltuples -1 or 0, no
changes ever) and EXPLAIN estimates every distributed scan at 100,000 rows.
What the planner of each shard uses are the shards' own statistics, on the
workers. So there the keeper reads the shards' state (one
run_command_on_workers statement), a project's estimate as the sum of every
shard's (EXPLAIN with citus.explain_all_tasks), and runs ANALYZE / VACUUM on
the coordinator, which Citus propagates to every shard (measured: ANALYZE of
a 200,000-row table over 4 shards, 0.17 s). The rule and the lock are the same.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import asyncpg
import orjson

from .cluster import on_citus
from .pool import CONNECTION_ERRORS

log = logging.getLogger("whodid.statistics")

# The tables reports plan over; ANALYZE keeps each one's statistics.
TABLES = ("events", "persons", "identities", "property_changes")
# pg_advisory_lock key of "an ANALYZE of whodid's tables is running" (any process).
ANALYZE_LOCK = 0x77686F64_69640002  # "whod" "id" 2

_TABLE_STATE = """
SELECT c.relname::text AS name, c.reltuples::float8 AS known, coalesce(s.n_mod_since_analyze, 0) AS changed
FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.oid = ANY(ARRAY[to_regclass('events'), to_regclass('persons'),
                        to_regclass('identities'), to_regclass('property_changes')])"""

# The same on Citus, summed over the shards (on the workers: a shard of events is
# events_<shardid>; the workers' shell tables, without the suffix, are left out).
_SHARD_STATE = """
SELECT result FROM run_command_on_workers($$
  SELECT coalesce(json_agg(json_build_array(regexp_replace(c.relname, '_[0-9]+$', ''),
                                            c.reltuples, coalesce(s.n_mod_since_analyze, 0))), '[]')
  FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
  WHERE c.relkind = 'r' AND c.relname ~ '^(events|persons|identities|property_changes)_[0-9]+$'
$$) WHERE success"""

# The planner's estimate of a project's events (what a report's plan starts from).
_PROJECT_ESTIMATE = "EXPLAIN (FORMAT JSON) SELECT 1 FROM events WHERE project_id = $1"
# A project's events, counted only up to $2 (an index-only scan of at most $2 entries).
_PROJECT_COUNT_UPTO = "SELECT count(*) FROM (SELECT 1 FROM events WHERE project_id = $1 LIMIT $2) e"


@dataclass(frozen=True)
class Thresholds:
    """Statistics are stale when the rows changed since they were gathered
    exceed `growth` × the rows they know plus `min_rows`."""

    growth: float = 0.2
    min_rows: int = 1000
    # Projects the planner thinks smaller than this are counted (cheaply, up to
    # a bound) at report time; larger ones are followed by the writer's counts.
    probe_below: int = 20_000

    def stale(self, known: float, changed: float) -> bool:
        return changed > self.growth * max(known, 0.0) + self.min_rows


def stale_tables(rows: list[tuple[str, float, float]], thresholds: Thresholds) -> list[str]:
    """The tables (of (name, rows the statistics know, rows changed since)) to analyze.
    reltuples is -1 for a table never analyzed: it knows nothing."""
    return sorted(name for name, known, changed in rows if thresholds.stale(known, changed))


class StatisticsKeeper:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        thresholds: Thresholds = Thresholds(),
        interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.pool = pool
        self.thresholds = thresholds
        self.interval = interval
        self.clock = clock
        # Rows this process wrote per project since its last ANALYZE.
        self.written: Counter[uuid.UUID] = Counter()
        self.analyzed = 0  # ANALYZE runs by this process (metrics, tests)
        self._checked: dict[uuid.UUID, float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------ the writer's side

    def note_written(self, project_id: uuid.UUID, rows: int) -> None:
        """Called after a commit: `rows` rows were added to the project's tables."""
        if rows > 0:
            self.written[project_id] += rows
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="statistics-keeper")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.keep_up()
            except CONNECTION_ERRORS:
                pass  # the database is away: the next write wakes us again
            except Exception:  # never let the keeper die
                log.exception("keeping statistics failed")
            await asyncio.sleep(self.interval)

    async def keep_up(self) -> list[str]:
        """VACUUM (ANALYZE) the tables that grew too much since their statistics
        were gathered, or that a project this process wrote to outgrew; the
        tables it was asked to do."""
        async with self.pool.acquire() as conn:
            tables = await self._stale(conn)
            for project_id, rows in list(self.written.items()):
                if "events" in tables:
                    break
                if rows > self.thresholds.min_rows and self.thresholds.stale(
                    await self._project_estimate(conn, project_id), rows
                ):
                    tables = _with_events(tables)
            if tables:
                await self._analyze(conn, tables, vacuum=True)
            return tables

    # ------------------------------------------------------------ the reports' side

    async def ensure_fresh(self, project_id: uuid.UUID) -> None:
        """Before a report of this project is planned: statistics close enough
        to the data (ANALYZE first). A report never waits behind statistics
        work that is under way elsewhere (another report of this process or
        of another, or the writer's VACUUM of the table): that work is
        bringing them up to date already, and meanwhile the report plans on
        what there is, without nested loops (REPORT_SETTINGS)."""
        now = self.clock()
        last = self._checked.get(project_id)
        if (last is not None and now - last < self.interval) or self._lock.locked():
            return
        self._checked[project_id] = now
        try:
            async with self._lock, self.pool.acquire() as conn:
                if not await self._stale_for(conn, project_id):
                    return
                async with conn.transaction():
                    if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", ANALYZE_LOCK):
                        return  # another process is analyzing
                    # Another process may have analyzed since we looked.
                    tables = await self._stale_for(conn, project_id)
                    if tables:
                        await self._analyze(conn, tables)
        except CONNECTION_ERRORS:
            raise
        except asyncpg.PostgresError:
            # e.g. a role that may not ANALYZE: the report still runs.
            log.warning("could not check the planner statistics", exc_info=True)

    # ------------------------------------------------------------ the parts

    async def _stale(self, conn: asyncpg.Connection) -> list[str]:
        return stale_tables(await table_state(conn), self.thresholds)

    async def _stale_for(self, conn: asyncpg.Connection, project_id: uuid.UUID) -> list[str]:
        """The tables to analyze before a report of this project."""
        tables = await self._stale(conn)
        if "events" not in tables and await self._project_outgrew_estimate(conn, project_id):
            tables = _with_events(tables)
        return tables

    @staticmethod
    async def _project_estimate(conn: asyncpg.Connection, project_id: uuid.UUID) -> float:
        if on_citus(conn):
            return await _citus_project_estimate(conn, project_id)
        plan = await conn.fetchval(_PROJECT_ESTIMATE, project_id)
        if isinstance(plan, str):  # a connection without the pool's json codec
            plan = orjson.loads(plan)
        return float(plan[0]["Plan"]["Plan Rows"])

    async def _project_outgrew_estimate(self, conn: asyncpg.Connection, project_id: uuid.UUID) -> bool:
        """True when the planner thinks the project small and it is not: its
        events counted up to the first number that makes the estimate stale."""
        estimate = await self._project_estimate(conn, project_id)
        if estimate >= self.thresholds.probe_below:
            return False
        bound = int(estimate + self.thresholds.growth * estimate + self.thresholds.min_rows) + 1
        return await conn.fetchval(_PROJECT_COUNT_UPTO, project_id, bound) >= bound

    async def _analyze(self, conn: asyncpg.Connection, tables: list[str], *, vacuum: bool = False) -> None:
        """ANALYZE `tables` (the caller holds ANALYZE_LOCK, in a transaction;
        SKIP_LOCKED: a table being vacuumed is left to that VACUUM (ANALYZE));
        with `vacuum`, VACUUM (ANALYZE) them instead, outside any transaction:
        VACUUM also marks the new pages all-visible, so that the reports'
        index-only scans skip the table for them (right after a 600,000-event
        load, unvacuumed: funnel 2.5x, cohort 5.6x their time at rest;
        docs/benchmarks.md, "Statistics"). SKIP_LOCKED: a table that another
        process is vacuuming or analyzing is left to it, nobody waits."""
        started = time.perf_counter()
        if vacuum:
            await conn.execute("VACUUM (ANALYZE, SKIP_LOCKED) " + ", ".join(tables))
        else:
            await conn.execute("ANALYZE (SKIP_LOCKED) " + ", ".join(tables))
        self.analyzed += 1
        self.written.clear()
        log.info("%s %s in %.2f s: their statistics were behind the data",
                 "vacuumed and analyzed" if vacuum else "analyzed", ", ".join(tables), time.perf_counter() - started)


async def table_state(conn: asyncpg.Connection) -> list[tuple[str, float, float]]:
    """(table, rows its statistics know, rows changed since) for whodid's
    tables; on Citus summed over the shards (a shard never analyzed knows
    nothing: it counts 0 there, and -1 only while every shard is so)."""
    if not on_citus(conn):
        rows = await conn.fetch(_TABLE_STATE)
        return [(r["name"], r["known"], r["changed"]) for r in rows]
    known: dict[str, float] = {}
    changed: Counter[str] = Counter()
    for (result,) in await conn.fetch(_SHARD_STATE):
        for name, reltuples, mod in orjson.loads(result):
            if reltuples >= 0:
                known[name] = max(known.get(name, 0.0), 0.0) + reltuples
            else:
                known.setdefault(name, -1.0)
            changed[name] += mod
    return [(name, known[name], float(changed[name])) for name in sorted(known)]


async def _citus_project_estimate(conn: asyncpg.Connection, project_id: uuid.UUID) -> float:
    """The project's events as the shards' planners estimate them, summed (the
    coordinator's own estimate is a constant)."""
    await conn.execute("SET citus.explain_all_tasks = on")
    try:
        plan = await conn.fetchval(_PROJECT_ESTIMATE, project_id)
    finally:
        await conn.execute("RESET citus.explain_all_tasks")
    if isinstance(plan, str):
        plan = orjson.loads(plan)
    tasks = plan[0]["Plan"].get("Distributed Query", {}).get("Job", {}).get("Tasks", [])
    if not tasks:
        return float(plan[0]["Plan"]["Plan Rows"])
    return float(sum(task["Remote Plan"][0][0]["Plan"]["Plan Rows"] for task in tasks))


def _with_events(tables: list[str]) -> list[str]:
    """A project outgrew its estimate: the tables its growth touches."""
    return sorted(set(tables) | {"events", "persons", "identities"})
