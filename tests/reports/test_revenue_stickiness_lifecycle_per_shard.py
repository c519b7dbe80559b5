"""The per-shard statements of revenue (and its topPeople), stickiness and
lifecycle (and their peopleLists): what a Citus cluster runs
(`build_per_shard` of their ReportKinds; docs/scaling.md, "Reports on
Citus"), against the plain statements on random worlds.

On plain PostgreSQL both statements run as they are. On a cluster
(WHODID_TEST_CITUS) the plain one runs through the coordinator's path
(cluster.reads: the project's rows pulled, then the plain SQL over them), and
the per-shard one must be pushed down: every shard task sends partial
aggregates or one page, never rows of events; a people filter's population
is pushed down with them. Through the service, the per-shard statement is
what runs on the cluster (and never on plain PostgreSQL).
"""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.reports.lifecycle import LIFECYCLE, LIFECYCLE_PEOPLE, LifecyclePeopleSpec, LifecycleSpec, LifecycleStatus
from app.reports.lifecycle import statement as lifecycle_sql
from app.reports.periods import Period, periods_overlapping
from app.reports.population import Population
from app.reports.revenue import REVENUE, REVENUE_TOP_PEOPLE, RevenueSpec, TopPeopleSpec
from app.reports.revenue import statement as revenue_sql
from app.reports.stickiness import STICKINESS, STICKINESS_PEOPLE, StickinessPeopleSpec, StickinessSpec
from app.reports.stickiness import statement as stickiness_sql
from app.storage import cluster
from tests.support.populations import population, populations
from tests.support.scenarios import PERIODS, SOURCE_KEY, T, fresh_project, ops_st, play, range_st
from tests.support.server import make_project
from tests.support.worlds import MONTH_END, lifecycle_worlds, load, trend_worlds, where

EXAMPLES = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# What a shard task may send to the coordinator: the top node of its plan.
_TASK_TOPS = ("Aggregate", "HashAggregate", "GroupAggregate", "Limit")


def values(rows) -> list[tuple]:
    """Rows compared exactly: Decimals by value and by text (their scale)."""
    return [tuple(("D", str(v)) if isinstance(v, Decimal) else v for v in r) for r in rows]


async def plain_rows(pool, built) -> list[tuple]:
    """The plain statement's rows (on a cluster: through the coordinator's path)."""
    sql, params = built
    return values(await cluster.reads(pool).fetch(sql, *params))


async def shard_rows(pool, built) -> list[tuple]:
    """The per-shard statement's rows, checked pushed down on a cluster."""
    assert built is not None
    sql, params = built
    if cluster.on_citus(pool):
        await assert_pushed_down(pool, sql, params)
    return values(await pool.fetch(sql, *params))


async def assert_pushed_down(pool, sql: str, params: list) -> None:
    """Every shard task of the plan (one shown per distributed step) ends in
    an aggregate or a LIMIT: the shards send partial sums or a page, and no
    step reads the project's rows through the coordinator's functions. (The
    coordinator's own tasks read only intermediate results: the steps' sums.)"""
    lines = [r[0] for r in await pool.fetch("EXPLAIN (COSTS OFF) " + sql, *params)]
    plan = "\n".join(lines)
    assert "whodid_project_" not in plan, plan
    shard_tasks = 0
    for i, line in enumerate(lines):
        if line.strip() != "->  Task":
            continue
        indent = len(line) - len(line.lstrip())
        block = []
        for below in lines[i + 1:]:
            if len(below) - len(below.lstrip()) <= indent:
                break
            block.append(below.strip())
        nodes = [b for b in block if b.startswith("->  ")]
        if re.search(r" on (events|persons|property_changes)_\d+ ", "\n".join(block)):
            shard_tasks += 1
            assert nodes[0].split()[1] in _TASK_TOPS, plan
    # (none only where the planner proved the statement empty: contradictory filters)
    assert shard_tasks or "One-Time Filter: false" in plan, plan


# ---------------------------------------------------------------- revenue


@EXAMPLES
@given(ops=ops_st, rng=range_st(), interval=st.sampled_from(PERIODS), source=st.sampled_from([SOURCE_KEY, "plan"]),
       first=st.integers(1, 3), people=populations())
async def test_revenue_per_shard_answers_as_the_plain_statement(services, ops, rng, interval, source, first, people):
    project = await fresh_project(services, "revenue-shard")
    await play(services, project.id, ops)
    spec = RevenueSpec(rng[0], rng[1], Period(interval), source, population(people))
    plain = await plain_rows(services.pool, revenue_sql.build(project.id, spec))
    assert await shard_rows(services.pool, revenue_sql.build_per_shard(project.id, spec)) == plain
    # topPeople: every page, following the cursor
    after = None
    while True:
        page = TopPeopleSpec(spec, first, after)
        rows = await plain_rows(services.pool, revenue_sql.build_top_people(project.id, page))
        assert await shard_rows(services.pool, revenue_sql.build_top_people_per_shard(project.id, page)) == rows
        if len(rows) <= first:
            break
        after = Decimal(rows[first - 1][1][1]), rows[first - 1][0]


# ---------------------------------------------------------------- stickiness


@EXAMPLES
@given(world=trend_worlds(), where_=where(MONTH_END), first=st.integers(1, 3))
async def test_stickiness_per_shard_answers_as_the_plain_statement(services, world, where_, first):
    project = await make_project(services, "stickiness-shard")
    await load(services, project.id, world)
    spec = StickinessSpec("A", world["from"], world["to"], where_, Period(world["interval"]), world["people"])
    plain = await plain_rows(services.pool, stickiness_sql.build(project.id, spec))
    assert await shard_rows(services.pool, stickiness_sql.build_per_shard(project.id, spec)) == plain
    for n in [r[0] for r in plain] + [99]:
        after = None
        while True:
            page = StickinessPeopleSpec(spec, n, first, after)
            rows = await plain_rows(services.pool, stickiness_sql.build_people(project.id, page))
            assert await shard_rows(services.pool, stickiness_sql.build_people_per_shard(project.id, page)) == rows
            ids = rows[0][1]
            if len(ids) <= first:
                break
            after = ids[first - 1]


# ---------------------------------------------------------------- lifecycle


@EXAMPLES
@given(world=lifecycle_worlds(), first=st.integers(1, 3))
async def test_lifecycle_per_shard_answers_as_the_plain_statement(services, world, first):
    project = await make_project(services, "lifecycle-shard")
    await load(services, project.id, world)
    spec = LifecycleSpec(world["event"], world["from"], world["to"], world["where"], world["interval"],
                         world["people"])
    # (rows of periods in no order)
    plain = sorted(await plain_rows(services.pool, lifecycle_sql.build(project.id, spec)))
    assert sorted(await shard_rows(services.pool, lifecycle_sql.build_per_shard(project.id, spec))) == plain
    starts = [start for start, _ in periods_overlapping(spec.from_, spec.to, spec.interval)][:4]
    for start in starts:
        for status in LifecycleStatus:
            after = None
            while True:
                page = LifecyclePeopleSpec(spec, start, status, first, after)
                rows = await plain_rows(services.pool, lifecycle_sql.build_people(project.id, page))
                per_shard = lifecycle_sql.build_people_per_shard(project.id, page)
                assert await shard_rows(services.pool, per_shard) == rows
                if len(rows) <= first:
                    break
                after = rows[first - 1][0]


# ---------------------------------------------------------------- the service


async def test_the_service_runs_the_per_shard_statements_on_citus_only(services):
    project = await fresh_project(services, "shard-service")
    await services.ingest.record_events(project.id, [
        *[_event(f"u{i}", "Billed", T(2024, 1, 1 + i), {"Revenue": str(10 + i), SOURCE_KEY: "ad" if i % 2 else "mail"})
          for i in range(6)],
        *[_event(f"u{i % 4}", "A", T(2024, 1, 1 + i)) for i in range(12)],
    ])
    on_citus = cluster.on_citus(services.pool)
    for people in (None, Population(did_event="Billed")):
        revenue = RevenueSpec(T(2024, 1, 1), T(2024, 2, 1), Period.WEEK, people=people)
        stickiness = StickinessSpec("A", T(2024, 1, 1), T(2024, 1, 15), interval=Period.DAY, people=people)
        lifecycle = LifecycleSpec("A", T(2024, 1, 1), T(2024, 1, 15), interval=Period.DAY, people=people)
        reports = [
            (REVENUE, revenue),
            (REVENUE_TOP_PEOPLE, TopPeopleSpec(revenue, 2)),
            (STICKINESS, stickiness),
            (STICKINESS_PEOPLE, StickinessPeopleSpec(stickiness, 3, 2)),
            (LIFECYCLE, lifecycle),
            (LIFECYCLE_PEOPLE, LifecyclePeopleSpec(lifecycle, T(2024, 1, 2), LifecycleStatus.NEW, 2)),
        ]
        for kind, spec in reports:
            before = services.reports.per_shard_computations[kind.name]
            answer = (await services.reports.report(kind, project.id, spec)).value
            assert services.reports.per_shard_computations[kind.name] == before + on_citus, (kind.name, people)
            assert answer  # (the answers themselves: the tests above and the report tests)


def _event(identity: str, name: str, at, props: dict | None = None):
    from app.ingest.validation import EventIn

    return EventIn(identity, name, props or {}, at + timedelta(hours=1))
