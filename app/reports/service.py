"""ReportService: every report runs through the cache and under the timeout.

A computation runs on its own connection in a read-only REPEATABLE READ
transaction (one snapshot for all its statements) with
`SET LOCAL statement_timeout` = settings.report_timeout (and the planner and
memory settings of REPORT_SETTINGS), and the whole
computation is also bounded by asyncio.timeout, with a little margin (asyncpg cancels the running
statement when its task is cancelled). Either way the caller gets
app.errors.ReportTimeout (GraphQL code TIMEOUT), the transaction is rolled back
and the connection goes back to the pool healthy.

Reports read from the replica when settings.read_database_url is set (a pool of
its own, opened by `start`), else from the main pool.

A report with parts (ReportKind.build_parts: cohort, lifecycle, stickiness,
revenue, trends; the funnel without peopleList, `_funnel`) runs them side by
side, the first on the report's connection and the others on spare
connections of the same pool, each in a transaction importing the
first one's exported snapshot (`_fetch_parts`): the same rows as one
statement, in less wall time when the database has idle cores. A spare
connection is only taken when the pool can give it at once; with none, the
report runs its one statement (`build`), as before.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable

import asyncpg

from ..config import Settings
from ..errors import ReportTimeout
from ..storage import cluster
from ..storage.listener import Listener
from ..storage.pool import CONNECTION_ERRORS
from ..storage.statistics import StatisticsKeeper
from .cache import DEFAULT_NAMESPACE, Report, ReportCache, Spec
from .cohort import COHORT, CohortResult, CohortSpec
from .contract import R, ReportKind, S
from .generations import Generations
from .revenue import REVENUE, REVENUE_TOP_PEOPLE, RevenueResult, RevenueSpec, TopPeoplePage, TopPeopleSpec

if TYPE_CHECKING:  # app/reports/funnel/ is imported when a funnel runs (it is large)
    from .funnel import FunnelSpec

log = logging.getLogger("whodid.reports")

# After the replica failed to connect, reports go to the primary this long
# before the replica is tried again (a warning line each time it is skipped
# would flood the log: only the failures are logged).
REPLICA_RETRY_SECONDS = 5.0

try:
    from ..metrics import REPORT_REPLICA_FALLBACKS as _REPLICA_FALLBACKS
except ImportError:  # pragma: no cover
    _REPLICA_FALLBACKS = None

# compute(connection, computed_at) -> value
Computation = Callable[[asyncpg.Connection, datetime], Awaitable[Any]]
# compute(connection, its pool, computed_at) -> value (ReportService._run)
PoolComputation = Callable[[asyncpg.Connection, asyncpg.Pool, datetime], Awaitable[Any]]
# work(connection in the report's transaction, its pool) -> value (_query)
Work = Callable[[asyncpg.Connection, asyncpg.Pool], Awaitable[Any]]

# How long a report's part waits for a spare connection (_spare): only for
# a free slot of the pool to open one; an idle connection comes at once.
SPARE_CONNECT_SECONDS = 0.5

# Transaction-local settings of every report computation (set_config(..., true)):
# - statement_timeout ($1 ms): see the module docstring;
# - work_mem 64MB: the funnel sorts and hashes a row per step event or person
#   (about 40 MB at a million events); with the default 4MB they spill to disk;
# - jit off: compiling costs 50-100 ms per statement and saves less on these
#   queries (docs/reports.md, "Cost");
# - custom plans always: a report statement is planned with its parameters
#   (1-3 ms), never with a generic plan that cannot see their values (e.g. that
#   a step's name is rare, or that the range is a week);
# - no nested loops where another join will do: with statistics behind the
#   data the planner expects one row from each side and rescans a subquery
#   per row (a funnel over 300,000 fresh events: > 120 s, 0.59 s without;
#   docs/benchmarks.md, "Statistics"). Lookups that only a nested loop can do
#   (LATERAL, correlated subqueries) still run as one; at rest the reports
#   measured the same or faster (bench/statements).
REPORT_SETTINGS = """SELECT set_config('statement_timeout', $1, true),
       set_config('work_mem', '64MB', true),
       set_config('jit', 'off', true),
       set_config('plan_cache_mode', 'force_custom_plan', true),
       set_config('enable_nestloop', 'off', true)"""

# A per-shard statement on Citus (ReportKind.build_per_shard) runs on the
# workers in sessions of their own, which REPORT_SETTINGS' set_config on the
# coordinator does not reach; SET LOCAL with citus.propagate_set_commands =
# 'local' sends each setting to every worker connection of the transaction.
# At 1M events JIT alone cost the revenue report ~100 ms of the workers' CPU
# (docs/benchmarks.md §16.5, "Revenue, stickiness and lifecycle per shard").
# {timeout}: statement_timeout in ms, as REPORT_SETTINGS' $1.
SHARD_SETTINGS = """SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL statement_timeout = {timeout};
SET LOCAL work_mem = '64MB';
SET LOCAL jit = off;
SET LOCAL plan_cache_mode = force_custom_plan;
SET LOCAL enable_nestloop = off"""


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


class _PeopleOf:
    """Cache key of the people of one funnel report (its input and computedAt)."""

    def __init__(self, spec: Spec, computed_at: datetime):
        self.spec, self.computed_at = spec, computed_at

    def cache_key(self) -> str:
        return f"{self.spec.cache_key()}@{self.computed_at.isoformat()}"


@dataclass(frozen=True)
class Seen:
    """A report a request was answered from (REPORTS_SEEN)."""

    kind: str
    cached: bool
    computed_at: datetime


# Set by a caller that wants to know which reports answered it (each task of
# the request appends to the same list): app/graphql/answers.py.
REPORTS_SEEN: ContextVar[list[Seen] | None] = ContextVar("whodid_reports_seen", default=None)


def _prometheus_observer() -> Callable[[str, str], None] | None:
    """whodid_report_cache_total{report, result} when app/metrics.py is in the build."""
    try:
        from ..metrics import REPORT_CACHE
    except ImportError:
        return None
    return lambda kind, result: REPORT_CACHE.labels(kind, result).inc()


class ReportService:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        *,
        cache: ReportCache | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        clock: Callable[[], datetime] = now_utc,
        statistics: StatisticsKeeper | None = None,
    ):
        self.settings = settings
        self.pool = pool
        # Before planning: the planner's statistics caught up with the data.
        self.statistics = statistics
        self.read_pool: asyncpg.Pool | None = None
        self.timeout = settings.report_timeout
        self.cache = cache or ReportCache(
            redis_url=settings.redis_url,
            namespace=namespace,
            ttl=settings.report_ttl,
            lock_seconds=settings.report_timeout + 5,
        )
        self.clock = clock
        # The projects' report generations (part of every cache key).
        self.generations = Generations(pool)
        # Computations actually run (cache misses that reached the database), in
        # total and per report kind; /metrics and the stampede tests read them.
        self.computations = 0
        self.computations_by_kind: Counter[str] = Counter()
        # Of those, the ones that ran a kind's per-shard statement (Citus), by kind.
        self.per_shard_computations: Counter[str] = Counter()
        self.timeouts = 0
        # Reports with parts (ReportKind.build_parts) run as this many
        # statements side by side (settings.report_parts; 1: never), and
        # those that did, by kind (_fetch_parts).
        self.parts = settings.report_parts
        self.split_computations: Counter[str] = Counter()
        # Tests only: awaited after the first part's snapshot is exported,
        # before the other parts start (a commit in between must not show).
        self.after_snapshot_export: Callable[[str], Awaitable[None]] | None = None
        # Answers kept above the service that stood for cache hits (observe_hits).
        self.hits_above = 0
        # Reports computed on the primary instead of the replica, by reason;
        # after a connection failure the replica is skipped for a few seconds.
        self.replica_fallbacks: Counter[str] = Counter()
        self._replica_down_until = 0.0
        # Called with (report kind, "hit" | "miss" | "timeout") for every request.
        self.observers: list[Callable[[str, str], None]] = [_prometheus_observer()]
        self.observers = [o for o in self.observers if o is not None]

    async def start(self) -> None:
        if self.settings.read_database_url:
            from ..storage.pool import create_pool

            # No connection at start (min_size 0): a replica that is down when
            # the server starts means reports on the primary, not a failed start.
            self.read_pool = await create_pool(
                self.settings.read_database_url, min_size=0, max_size=self.settings.pool_max
            )

    async def close(self) -> None:
        await self.cache.close()
        if self.read_pool is not None:
            await self.read_pool.close()
            self.read_pool = None

    # ------------------------------------------------------------ the machinery

    async def run(self, kind: str, project_id: uuid.UUID, spec: Spec, compute: Computation) -> Report:
        """The cached answer for (kind, project, spec), computing it at most once
        at a time per key."""
        return await self._run(kind, project_id, spec, lambda conn, pool, at: compute(conn, at))

    async def _run(self, kind: str, project_id: uuid.UUID, spec: Spec, compute: PoolComputation) -> Report:
        """run, the computation also given the pool its connection is from
        (for more connections in the same snapshot: _fetch_parts)."""
        key = self.cache.key(kind, project_id, spec, await self._generation(project_id))

        async def produce() -> tuple[Any, datetime]:
            computed_at = self.clock()
            self.computations += 1
            self.computations_by_kind[kind] += 1
            value = await self._query(kind, project_id, lambda conn, pool: compute(conn, pool, computed_at))
            return value, computed_at

        try:
            report = await self.cache.get_or_compute(key, produce)
        except ReportTimeout:
            self._observe(kind, "timeout")
            raise
        self._observe(kind, "hit" if report.cached else "miss")
        seen = REPORTS_SEEN.get()
        if seen is not None:
            seen.append(Seen(kind, report.cached, report.computed_at))
        return report

    def observe_hits(self, kinds: Iterable[str]) -> None:
        """Cache hits answered above the service (a whole GraphQL answer kept:
        app/graphql/answers.py), counted as the hits they stand for."""
        self.hits_above += 1
        for kind in kinds:
            self.cache.hits += 1
            self._observe(kind, "hit")

    def follow_generations(self, listener: Listener) -> None:
        """Keep the projects' report generations in this process, followed by
        NOTIFY on `listener` (app/reports/generations.py), instead of reading
        one from the primary before every report. Before the listener starts."""
        self.generations.follow(listener)

    async def _generation(self, project_id: uuid.UUID) -> int:
        """The project's report generation: held in this process while its
        listener follows the bumps, else from the primary (a replica may lag
        behind a deletion); known before the computation's snapshot is taken,
        so an answer stored under it never predates it."""
        return await self.generations.get(project_id)

    def _observe(self, kind: str, result: str) -> None:
        for observe in self.observers:
            try:
                observe(kind, result)
            except Exception:  # metrics never fail a report
                log.exception("report observer failed")

    async def _query(self, kind: str, project_id: uuid.UUID, work: Work) -> Any:
        """On the read replica when there is one and it answers; else, or when
        the replica cancelled the computation for a recovery conflict (once),
        on the primary: a warning line and whodid_report_replica_fallbacks_total."""
        if self.read_pool is None or time.monotonic() < self._replica_down_until:
            if self.read_pool is not None:
                self._fallback(kind, "down", None)
            return await self._query_on(self.pool, kind, project_id, work)
        try:
            return await self._query_on(self.read_pool, kind, project_id, work)
        except (asyncpg.SerializationError, *CONNECTION_ERRORS) as exc:
            if _recovery_conflict(exc):
                self._fallback(kind, "recovery_conflict", exc)
            else:
                self._replica_down_until = time.monotonic() + REPLICA_RETRY_SECONDS
                self._fallback(kind, "down", exc)
        return await self._query_on(self.pool, kind, project_id, work)

    def _fallback(self, kind: str, reason: str, exc: BaseException | None) -> None:
        self.replica_fallbacks[reason] += 1
        if _REPLICA_FALLBACKS is not None:
            _REPLICA_FALLBACKS.labels(reason).inc()
        if exc is not None:
            log.warning("%s report on the primary: the read replica %s (%s: %s)", kind,
                        "is down" if reason == "down" else "cancelled it for a recovery conflict",
                        type(exc).__name__, exc)

    async def _query_on(self, pool: asyncpg.Pool, kind: str, project_id: uuid.UUID, work: Work) -> Any:
        try:
            # The server's statement_timeout cancels cleanly; this is the backstop
            # for the whole computation (several statements, a lost cancel).
            async with asyncio.timeout(self.timeout + min(1.0, self.timeout)):
                if self.statistics is not None:
                    await self.statistics.ensure_fresh(project_id)
                async with pool.acquire() as conn:
                    async with conn.transaction(isolation="repeatable_read", readonly=True):
                        await conn.execute(REPORT_SETTINGS, self._timeout_ms())
                        return await work(conn, pool)
        except (TimeoutError, asyncpg.QueryCanceledError):
            self.timeouts += 1
            log.warning("%s report cancelled after %.3g s", kind, self.timeout)
            raise ReportTimeout(
                f"the {kind} report took longer than {self.timeout:g} s and was cancelled;"
                " narrow the range or try again later"
            ) from None

    def _timeout_ms(self) -> str:
        """statement_timeout of a report's transaction (REPORT_SETTINGS' $1)."""
        return str(max(1, int(self.timeout * 1000)))

    # ------------------------------------------------------------ parts

    async def _spare(self, pool: asyncpg.Pool, wanted: int) -> list[Any]:
        """Up to `wanted` more connections of `pool`, only those it can give
        at once: a report holding a connection never waits for another (N
        reports each holding one and waiting for a second would wait for
        each other until the pool's timeout), so a busy pool gives fewer or
        none, and the report runs its parts on what it has. A free slot of
        the pool that has no connection yet opens one (bounded by
        SPARE_CONNECT_SECONDS); a connection error is no connection."""
        out: list[Any] = []
        for _ in range(wanted):
            free = pool.get_max_size() - (pool.get_size() - pool.get_idle_size())
            if free <= 0:
                break
            try:
                out.append(await pool.acquire(timeout=SPARE_CONNECT_SECONDS))
            except (TimeoutError, *CONNECTION_ERRORS):
                break
        return out

    async def _in_parts(
        self, conn: asyncpg.Connection, pool: asyncpg.Pool, kind: ReportKind[S, R], project_id: uuid.UUID, spec: S,
    ) -> list[Any] | None:
        """The rows of `kind`'s parts side by side (_fetch_parts), when it has
        parts (build_parts), they are on (settings.report_parts > 1) and the
        database is not Citus (there the per-shard statement already runs on
        every shard at once); None: the caller runs its one statement."""
        if kind.build_parts is None or self.parts <= 1 or cluster.on_citus(conn):
            return None
        return await self._fetch_parts(conn, pool, kind, kind.build_parts(project_id, spec, self.parts))

    async def _fetch_parts(
        self, conn: asyncpg.Connection, pool: asyncpg.Pool, kind: ReportKind[S, R],
        statements: list[tuple[str, list[Any]]],
    ) -> list[Any] | None:
        """The rows of every part, run side by side on `conn` (in the
        report's transaction, its settings and the kind's already set) and
        on spare connections of `pool` (_spare), each of these in a
        read-only REPEATABLE READ transaction of `conn`'s snapshot
        (pg_export_snapshot / SET TRANSACTION SNAPSHOT, as pg_dump --jobs),
        with REPORT_SETTINGS, kind.settings and kind.parts_settings (the
        latter also set on `conn` once the spares are there): every part sees exactly the
        data one statement would. With fewer connections than parts, each
        runs its share of the parts one after another; with no spare
        connection, None (the caller runs `build`, the one statement).
        The first part to fail cancels the others (a statement cancelled
        on its connection; the transactions rolled back, the connections
        back to the pool)."""
        spare = await self._spare(pool, len(statements) - 1)
        if not spare:
            return None
        try:
            if kind.parts_settings:
                await conn.execute(kind.parts_settings)
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            if self.after_snapshot_export is not None:  # tests only (a commit between the parts)
                await self.after_snapshot_export(snapshot)
            connections = [conn, *spare]
            shares = [statements[i::len(connections)] for i in range(len(connections))]

            async def run_share(c: asyncpg.Connection, share: list[tuple[str, list[Any]]]) -> list[Any]:
                rows: list[Any] = []
                for sql, params in share:
                    rows += await c.fetch(sql, *params)
                return rows

            async def in_snapshot(c: asyncpg.Connection, share: list[tuple[str, list[Any]]]) -> list[Any]:
                async with c.transaction(isolation="repeatable_read", readonly=True):
                    # First in the transaction: before any query takes a snapshot.
                    await c.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                    await c.execute(REPORT_SETTINGS, self._timeout_ms())
                    settings = kind.split_settings()
                    if settings:
                        await c.execute(settings)
                    return await run_share(c, share)

            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(run_share(conn, shares[0]))]
                tasks += [group.create_task(in_snapshot(c, share)) for c, share in zip(spare, shares[1:])]
        except BaseExceptionGroup as failed:
            # One failure as it is, for _query_on and _query to read
            # (QueryCanceledError: the timeout; SerializationError: the
            # replica's recovery conflict; ...): see _first_leaf.
            raise _first_leaf(failed) from None
        finally:
            for c in spare:
                await pool.release(c)
        self.split_computations[kind.name] += 1
        return [row for task in tasks for row in task.result()]

    # ------------------------------------------------------------ the reports

    async def report(self, kind: ReportKind[S, R], project_id: uuid.UUID, spec: S) -> Report[R]:
        """A report of the contract (app/reports/contract.py): its statement
        built from the spec, run under the report settings, its rows assembled."""

        async def compute(conn: asyncpg.Connection, pool: asyncpg.Pool, computed_at: datetime) -> R:
            if kind.settings:
                await conn.execute(kind.settings)
            rows = await self._in_parts(conn, pool, kind, project_id, spec)
            if rows is not None:
                return kind.assemble(rows, spec, computed_at)
            sql, params, per_shard = kind.statement(project_id, spec, cluster.on_citus(conn))
            if per_shard:
                self.per_shard_computations[kind.name] += 1
                await conn.execute(SHARD_SETTINGS.format(timeout=self._timeout_ms()))
            rows = await (conn if per_shard else cluster.reads(conn)).fetch(sql, *params)
            return kind.assemble(rows, spec, computed_at)

        return await self._run(kind.name, project_id, spec, compute)

    async def cohort(self, project_id: uuid.UUID, spec: CohortSpec) -> Report[CohortResult]:
        return await self.report(COHORT, project_id, spec)

    async def revenue(self, project_id: uuid.UUID, spec: RevenueSpec) -> Report[RevenueResult]:
        return await self.report(REVENUE, project_id, spec)

    async def top_people(self, project_id: uuid.UUID, spec: TopPeopleSpec) -> Report[TopPeoplePage]:
        return await self.report(REVENUE_TOP_PEOPLE, project_id, spec)

    async def funnel(self, project_id: uuid.UUID, spec: FunnelSpec, *, with_people: bool = False) -> Report:
        """The funnel (app/reports/funnel/) through the same cache and timeout.
        with_people: compute the per-person chains (peopleList) in the same
        statement. The cache key is the same either way: an entry computed
        without them gets them from `funnel_people` when a list is asked for."""
        return await self._run(
            "funnel", project_id, spec,
            lambda conn, pool, at: self._funnel(conn, pool, project_id, spec, at, with_people),
        )

    async def funnel_people(self, project_id: uuid.UUID, spec: FunnelSpec, computed_at: datetime) -> Report:
        """The per-person chains for peopleList of the funnel report `spec` that
        was computed at `computed_at` without them: computed now (a later
        snapshot than the counts) and cached for that report, so that every page
        and every step of it come from one computation."""

        async def people(conn: asyncpg.Connection, at: datetime) -> Any:
            return (await self._funnel(conn, None, project_id, spec, at, True)).people

        return await self.run("funnel.people", project_id, _PeopleOf(spec, computed_at), people)

    async def _funnel(
        self, conn: asyncpg.Connection, pool: asyncpg.Pool | None, project_id: uuid.UUID, spec: FunnelSpec,
        computed_at: datetime, with_people: bool,
    ) -> Any:
        """The funnel's three roles (spec, statement, assembly) in the service's
        transaction; an empty range is not run (nobody enters: no rows).
        Without peopleList and not on Citus, in parts side by side when
        `pool` can give spare connections (build_parts, _fetch_parts)."""
        from .funnel import FUNNEL, STATEMENT_SETTINGS, assemble, build_query

        rows: list[Any] = []
        if spec.from_ < spec.to:
            await conn.execute(STATEMENT_SETTINGS)
            if pool is not None and not with_people:
                got = await self._in_parts(conn, pool, FUNNEL, project_id, spec)
                if got is not None:
                    return assemble(got, spec, computed_at)
            # On Citus, the statement whose per-person chains run on every
            # shard (docs/scaling.md, "Reports on Citus").
            sql, params = build_query(project_id, spec, with_people, per_shard=cluster.on_citus(conn))
            rows = await conn.fetch(sql, *params)
        return assemble(rows, spec, computed_at, with_people=with_people)

    def metrics(self) -> dict[str, float]:
        return {
            "computations": self.computations,
            "cache_hits": self.cache.hits,
            "cache_misses": self.cache.misses,
            "cache_errors": self.cache.errors,
            "timeouts": self.timeouts,
            "replica_fallbacks": sum(self.replica_fallbacks.values()),
        }


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    """The failure of the parts (TaskGroup's exception group) that says
    most: a recovery conflict first (the replica ended the snapshot's
    transaction: the other parts then fail for the snapshot they could not
    import, which is no reason of their own), then a lost connection, then
    the first other one that is not a cancellation (the parts cancelled
    because another failed)."""
    leaves: list[BaseException] = []
    todo: list[BaseException] = [group]
    while todo:
        e = todo.pop(0)
        if isinstance(e, BaseExceptionGroup):
            todo[:0] = list(e.exceptions)
        else:
            leaves.append(e)
    for wanted in (asyncpg.SerializationError, CONNECTION_ERRORS, Exception):
        for e in leaves:
            if isinstance(e, wanted) and not isinstance(e, asyncio.CancelledError):
                return e
    return leaves[0]


def _recovery_conflict(exc: BaseException) -> bool:
    """The replica gave up the computation for a recovery conflict (it
    replayed a cleanup the snapshot still needed): 40001 "canceling statement
    due to conflict with recovery" during a statement; met between two
    statements (idle in its transaction), PostgreSQL ends the session instead,
    FATAL 40001 "terminating connection due to conflict with recovery", and
    leaving the transaction then fails on the closed connection, an
    InterfaceError whose context is that SerializationError. Either way the
    replica is up: no reason to stop using it. (When asyncpg reads that
    FATAL while the connection is idle, before its next command, it sees
    only a closed connection, without the code: the replica is then taken
    as down for REPLICA_RETRY_SECONDS; the answer still comes, from the
    primary. tests/storage/test_replica.py avoids that window.)"""
    seen: BaseException | None = exc
    for _ in range(5):  # a short chain: the rollback's error, then its cause
        if seen is None:
            return False
        if isinstance(seen, asyncpg.SerializationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
