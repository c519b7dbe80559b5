"""whodid on a real Citus cluster (issue 17, docs/scaling.md): `whodid migrate`
distributed the tables by person, a project's people are on every worker, a
merge moves the loser's rows to the survivor's shard, and identities and
idempotency keys stay exact when writes for them race across shards.

Runs only against a cluster: WHODID_TEST_CITUS=postgresql://…:9700/postgres
(start one with ../shared/tools/citus-cluster); then the whole suite runs there."""
from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

from app.ingest.identity import person_id_for
from app.ingest.retry import RETRYABLE
from app.storage import cluster
from app.storage.events import Flush, resolve_and_insert
from app.ingest.validation import EventIn
from tests.support.database import CITUS_TOOL, CITUS_URL

pytestmark = pytest.mark.skipif(
    not CITUS_URL,
    reason=f"no Citus cluster configured: start one with {CITUS_TOOL} and set WHODID_TEST_CITUS to its URL",
)


async def shard_of(conn, table: str, value: uuid.UUID) -> int:
    return await conn.fetchval("SELECT get_shard_id_for_distribution_column($1::regclass, $2::uuid)", table, value)


async def test_migrate_distributes_the_tables_by_person(services):
    async with services.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT logicalrelid::text AS t, partmethod::text AS m, colocationid AS c,"
            " column_to_column_name(logicalrelid, partkey) AS col FROM pg_dist_partition"
        )
        workers = await conn.fetchval("SELECT count(*) FROM pg_dist_node WHERE groupid <> 0 AND isactive")
    tables = {r["t"]: r for r in rows}
    assert tables["projects"]["m"] == "n"  # reference table
    assert {t: tables[t]["col"] for t in ("persons", "events", "property_changes", "identities", "idempotency_keys")} \
        == {"persons": "id", "events": "person_id", "property_changes": "person_id", "identities": "identity",
            "idempotency_keys": "key"}
    assert tables["persons"]["c"] == tables["events"]["c"] == tables["property_changes"]["c"]
    assert tables["identities"]["c"] == tables["idempotency_keys"]["c"] != tables["persons"]["c"]
    assert workers >= 2


async def test_one_projects_people_and_events_are_on_every_worker(services, project):
    identities = [f"visitor-{i}" for i in range(40)]
    await services.ingest.record_events(project.id, [EventIn(i, "Visit") for i in identities])
    async with services.pool.acquire() as conn:
        people = [r[0] for r in await conn.fetch(
            "SELECT DISTINCT person_id FROM events WHERE project_id = $1", project.id)]
        shards = [r[0] for r in await conn.fetch(
            "SELECT get_shard_id_for_distribution_column('events', p) FROM unnest($1::uuid[]) AS p", people)]
        on_person_nodes = await conn.fetch(
            "SELECT DISTINCT nodeport FROM citus_shards WHERE table_name = 'events'::regclass"
            " AND shardid = ANY($1::bigint[])", shards)
        workers = await conn.fetch("SELECT nodeport FROM pg_dist_node WHERE groupid <> 0 AND isactive")
        stored = await conn.fetchval("SELECT count(*) FROM events WHERE project_id = $1", project.id)
    assert stored == 40
    assert {r[0] for r in on_person_nodes} == {r[0] for r in workers}


async def test_a_merge_moves_the_losers_rows_to_the_survivors_shard(services, project):
    async with services.pool.acquire() as conn:
        # An anonymous visitor and a user whose persons are on different shards.
        user = "user@x"
        user_shard = await shard_of(conn, "persons", person_id_for(project.id, user))
        anon = ""
        for anon in (f"anon-{i}" for i in range(100)):
            if await shard_of(conn, "persons", person_id_for(project.id, anon)) != user_shard:
                break
        assert await shard_of(conn, "persons", person_id_for(project.id, anon)) != user_shard
    await services.ingest.record_events(project.id, [EventIn(anon, "Visit", {"n": n}) for n in range(5)])
    await services.ingest.set_properties(project.id, anon, {"plan": "free"})
    await services.ingest.record_events(project.id, [EventIn(user, "Login")])
    loser, survivor = person_id_for(project.id, anon), person_id_for(project.id, user)
    async with services.pool.acquire() as conn:
        before = await conn.fetch(
            "SELECT id, seq FROM events WHERE project_id = $1 ORDER BY seq", project.id)
    linked = await services.ingest.identify(project.id, anon, user)
    assert linked.outcome.value == "MERGED" and linked.person_id == survivor
    async with services.pool.acquire() as conn:
        after = await conn.fetch("SELECT id, seq, person_id FROM events WHERE project_id = $1 ORDER BY seq", project.id)
        left_on_loser = await conn.fetchval(
            "SELECT (SELECT count(*) FROM events WHERE project_id = $1 AND person_id = $2)"
            " + (SELECT count(*) FROM property_changes WHERE project_id = $1 AND person_id = $2)", project.id, loser)
        history = await conn.fetch(
            "SELECT key, value FROM property_changes WHERE project_id = $1 AND person_id = $2", project.id, survivor)
        merged_into = await conn.fetchval("SELECT merged_into FROM persons WHERE project_id = $1 AND id = $2",
                                          project.id, loser)
    assert [(r["id"], r["seq"]) for r in after] == [(r["id"], r["seq"]) for r in before]  # ids and order kept
    assert {r["person_id"] for r in after} == {survivor}
    assert left_on_loser == 0 and merged_into == survivor
    assert [(r["key"], r["value"]) for r in history] == [("plan", "free")]
    person = await services.people.by_identity(project.id, anon)
    assert person.id == survivor and sorted(person.identities) == sorted([anon, user])
    assert person.properties == {"plan": "free"}


async def test_an_idempotency_key_is_one_event_whichever_shards_race_for_it(services, project):
    identities = [f"racer-{i}" for i in range(16)]  # their persons on every shard
    results = await asyncio.gather(*[
        services.ingest.record_event(project.id, EventIn(i, "Paid", {"amount": 1}, id="order-1")) for i in identities
    ])
    stored = {r.event.id for r in results}
    async with services.pool.acquire() as conn:
        count = await conn.fetchval("SELECT count(*) FROM events WHERE project_id = $1", project.id)
    assert count == 1 and len(stored) == 1
    assert sum(not r.duplicate for r in results) == 1


def _keyed_flush(project_id: uuid.UUID, identity: str, key: str) -> Flush:
    now = datetime.now(timezone.utc)
    return Flush(project_id, [identity], [person_id_for(project_id, identity)], [uuid.uuid4()], [identity], ["Paid"],
                 ['{"amount": 1}'], [None], [now], [now], [key])


@pytest.mark.parametrize("first_commits", [True, False])
async def test_a_key_claimed_by_a_flush_in_progress_waits_for_it(services, project, first_commits):
    # The keys' gate is idempotency_keys, distributed by key (claimed with ON
    # CONFLICT DO NOTHING on the key's shard, app/storage/events.py). Two flushes of the same key on two connections (persons on any shards):
    # the later one waits in its first statement; if the first commits, the
    # key is not the later one's and its event is not inserted (a duplicate:
    # the writer then finds the stored one); if the first rolls back, the key
    # and the event are the later one's.
    async with services.pool.acquire() as first, services.pool.acquire() as later:
        first_tx, later_tx = first.transaction(), later.transaction()
        await first_tx.start()
        mine = await resolve_and_insert(first, _keyed_flush(project.id, "buyer-1", "order-7"))
        assert len(mine.inserted) == 1
        await later_tx.start()
        racing = asyncio.create_task(resolve_and_insert(later, _keyed_flush(project.id, "buyer-2", "order-7")))
        await asyncio.sleep(0.5)
        assert not racing.done()  # waiting for the first's uncommitted key
        await (first_tx.commit() if first_commits else first_tx.rollback())
        theirs = await racing
        assert len(theirs.inserted) == (0 if first_commits else 1)
        await later_tx.commit()
        stored = await first.fetch("SELECT identity FROM events WHERE project_id = $1", project.id)
        keys = await first.fetchval("SELECT count(*) FROM idempotency_keys WHERE project_id = $1", project.id)
    assert [r[0] for r in stored] == ["buyer-1" if first_commits else "buyer-2"] and keys == 1
    # Sent again through the writer: a duplicate, the stored event found.
    again = await services.ingest.record_event(project.id, EventIn("buyer-3", "Paid", {"amount": 1}, id="order-7"))
    assert again.duplicate and again.event.identity == ("buyer-1" if first_commits else "buyer-2")


async def test_a_new_identity_is_one_person_whichever_flushes_race_for_it(services, project):
    sends = [services.ingest.record_event(project.id, EventIn("newcomer", "Visit", {"n": n})) for n in range(20)]
    results = await asyncio.gather(*sends)
    async with services.pool.acquire() as conn:
        people = await conn.fetchval("SELECT count(*) FROM persons WHERE project_id = $1", project.id)
        rows = await conn.fetchval("SELECT count(*) FROM identities WHERE project_id = $1", project.id)
        events = await conn.fetchval("SELECT count(*) FROM events WHERE project_id = $1", project.id)
    assert people == 1 and rows == 1 and events == 20
    assert len({r.event.person_id for r in results}) == 1


# ---------------------------------------------------------------- reports per shard

def _raw_pulls(plan: str) -> list[str]:
    """The distributed subplans of an EXPLAIN that bring events to the
    coordinator as they are: run on several shards (Task Count above 1),
    reading events, with no aggregate, window, DISTINCT or LIMIT in their
    tasks. (A people filter's persons, one id a person, may come: persons
    with their events as the filter's condition.)"""
    blocks = re.split(r"\n(?=\s*->\s+Distributed Subplan)", plan)
    out = []
    for block in blocks[1:]:
        tasks = re.search(r"Task Count: (\d+)", block)
        if tasks and int(tasks.group(1)) > 1 and re.search(r" on events_\d+", block) \
                and not re.search(r"Aggregate|WindowAgg|Unique|Limit|Group| on persons_\d+", block):
            out.append(block)
    return out


def _subplan_rows(plan: str) -> list[int]:
    """The rows of every distributed subplan of an EXPLAIN ANALYZE (what Citus
    brought to the coordinator as an intermediate result): the first row count
    after each `Distributed Subplan` line."""
    lines = plan.splitlines()
    out = []
    for i, line in enumerate(lines):
        if "Distributed Subplan" in line:
            counts = (re.search(r"rows=(\d+) loops", x) for x in lines[i + 1:])
            out.append(next(int(m.group(1)) for m in counts if m))
    return out


async def _random_world(services, project_id, rng: random.Random) -> None:
    """~60 people, 500 events of four names over ten days, event and person
    properties from a few values, some people merged."""
    t0 = datetime(2024, 3, 4, tzinfo=timezone.utc)
    identities = [f"u{i}" for i in range(60)]
    values = ["a", "b", "c", None, 1]
    events = [EventIn(rng.choice(identities), rng.choice(["A", "B", "C", "D", "B"]),
                      {"src": rng.choice(values)} if rng.random() < 0.8 else {"amount": rng.randint(1, 9)},
                      t0 + timedelta(seconds=rng.randint(0, 10 * 86400)))
              for _ in range(500)]
    await services.ingest.record_events(project_id, events)
    for i in rng.sample(range(60), 6):
        await services.ingest.identify(project_id, identities[i], identities[(i + 7) % 60])
    for identity in rng.sample(identities, 40):
        await services.ingest.set_properties(project_id, identity, {"plan": rng.choice(values)})


def _report_specs(t0: datetime) -> list:
    from app.reports.funnel import ExclusionSpec, FunnelSpec, FunnelStepSpec, SegmentSpec
    from app.reports.paths import PATHS, PATHS_PEOPLE, PathsPeopleSpec, PathsSpec
    from app.reports.periods import Period
    from app.reports.population import Population
    from app.reports.trends import TRENDS, TRENDS_PEOPLE, BreakdownSpec, SeriesSpec, TrendMath, TrendPeopleSpec, TrendsSpec
    from app.storage.filters import PropertyFilter

    t1 = t0 + timedelta(days=11)
    steps = tuple(FunnelStepSpec(n) for n in ("A", "B", "C"))
    series = (SeriesSpec("A", math=TrendMath.PEOPLE), SeriesSpec("B", math=TrendMath.EVENTS_PER_PERSON),
              SeriesSpec("D", math=TrendMath.SUM, property="amount"), SeriesSpec("C"))
    by_event = TrendsSpec(series, t0, t1, Period.DAY, BreakdownSpec(event_property="src", limit=2))
    by_person = TrendsSpec(series, t0, t1, Period.DAY, BreakdownSpec(person_property="plan", limit=2))
    did_b = Population(did_event="B")
    return [
        ("funnel", FunnelSpec(steps, t0, t1)),
        ("funnel", FunnelSpec(steps, t0, t1, window_seconds=86400, segment_by=SegmentSpec(first_step_property="src"))),
        ("funnel", FunnelSpec(steps, t0, t1, segment_by=SegmentSpec(person_property="plan", limit=2))),
        ("funnel", FunnelSpec((FunnelStepSpec("A"), FunnelStepSpec("B"), FunnelStepSpec("A")), t0, t1,
                              window_seconds=3 * 86400)),
        ("funnel", FunnelSpec(steps, t0, t1, exclusions=(ExclusionSpec("D", 0, 1),), hold_constant="src")),
        ("funnel", FunnelSpec(steps, t0, t1, people=Population(properties=(PropertyFilter("plan", value="a"),)))),
        (TRENDS, TrendsSpec(series, t0, t1, Period.DAY)),
        (TRENDS, by_event),
        (TRENDS, by_person),
        (TRENDS, TrendsSpec(series, t0, t1, Period.WEEK, BreakdownSpec(event_property="src"), people=did_b)),
        (TRENDS_PEOPLE, TrendPeopleSpec(by_event, 0, 1, t0 + timedelta(days=2), 3)),
        (TRENDS_PEOPLE, TrendPeopleSpec(by_event, 0, None, t0 + timedelta(days=2), 100)),
        (TRENDS_PEOPLE, TrendPeopleSpec(by_person, 0, 1, t0 + timedelta(days=3), 100)),
        (TRENDS_PEOPLE, TrendPeopleSpec(by_person, 1, None, t0 + timedelta(days=3), 2)),
        (PATHS, PathsSpec(t0, t1, start_event="A", depth=3, limit=2)),
        (PATHS, PathsSpec(t0, t1, end_event="C", depth=4, people=did_b)),
        (PATHS_PEOPLE, PathsPeopleSpec(PathsSpec(t0, t1, start_event="A"), 1, "B", 5)),
        (PATHS_PEOPLE, PathsPeopleSpec(PathsSpec(t0, t1, end_event="C", limit=1), -1, None, 100)),
    ]


async def test_the_funnel_trends_and_paths_run_per_shard_and_equal_the_plain_statements(services, project):
    """Each report of a random world through ReportService on the cluster:
    its per-shard statement is what runs (the kind's plain `build` refuses to
    be called; the funnel's statement is built per shard on a Citus
    connection), its answer equals the plain statement's answer on the same
    rows (through the coordinator's path, exact for any SQL: the oracle of the
    report tests), and Citus brings no shard's rows to the coordinator as they
    are: what it brings is made on the shards (grouped, windowed by person,
    distinct), fewer rows than the events in all."""
    from app.reports.funnel import assemble, build_query
    from app.reports.service import REPORT_SETTINGS
    from app.storage import cluster

    rng = random.Random(17)
    await _random_world(services, project.id, rng)
    t0 = datetime(2024, 3, 4, tzinfo=timezone.utc)

    def refused(*_args):
        raise AssertionError("the plain statement was built on Citus")

    async with services.pool.acquire() as conn:
        assert cluster.on_citus(conn)
    for kind, spec in _report_specs(t0):
        async with services.pool.acquire() as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                await conn.execute(REPORT_SETTINGS, "60000")
                if kind == "funnel":
                    plain = assemble(await cluster.reads(conn).fetch(*_unpack(build_query(project.id, spec, True))),
                                     spec, t0, with_people=True)
                    sql, params = build_query(project.id, spec, True, per_shard=True)
                else:
                    plain = kind.assemble(await cluster.reads(conn).fetch(*_unpack(kind.build(project.id, spec))),
                                          spec, t0)
                    sql, params = kind.build_per_shard(project.id, spec)
                plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + sql, *params))
        if kind == "funnel":
            got = (await services.reports.funnel(project.id, spec, with_people=True)).value
            assert _chains(got) == _chains(plain), spec
            got, plain = dataclasses.replace(got, people=None, computed_at=t0), \
                dataclasses.replace(plain, people=None, computed_at=t0)
        else:
            got = (await services.reports.report(dataclasses.replace(kind, build=refused), project.id, spec)).value
        assert got == plain, (kind, spec)
        assert "Task Count: 4" in plan, plan  # multi-shard tasks: run on every shard
        assert not _raw_pulls(plan), (spec, plan)
        assert sum(_subplan_rows(plan)) < 500, (spec, plan)


def _unpack(statement: tuple[str, list]) -> list:
    sql, params = statement
    return [sql, *params]


def _chains(result) -> list:
    """The funnel's people list, person by person (its order is the plan's)."""
    p = result.people
    return sorted((p.person_id(i), p.levels[i], p.values[p.segments[i]], tuple(p.times[i * p.steps:(i + 1) * p.steps]))
                  for i in range(len(p)))


async def test_a_median_runs_per_shard_from_counts_per_value(services, project):
    """A MEDIAN series on the cluster (with the other maths, without and with
    either breakdown): the per-shard statement is what runs, its answer is
    the plain statement's, and what Citus brings to the coordinator is made
    on the shards: counts per distinct value (medians_from_counts_part),
    never the events. (Its values do travel, one row per distinct value of a
    cell: more rows than the other reports' partial sums, so this shape is
    not in the test above and its bound of rows.)"""
    from app.reports.periods import Period
    from app.reports.service import REPORT_SETTINGS
    from app.reports.trends import TRENDS, BreakdownSpec, SeriesSpec, TrendMath, TrendsSpec
    from app.storage import cluster

    await _random_world(services, project.id, random.Random(23))
    t0 = datetime(2024, 3, 4, tzinfo=timezone.utc)
    series = (SeriesSpec("D", math=TrendMath.MEDIAN, property="amount"), SeriesSpec("A", math=TrendMath.PEOPLE),
              SeriesSpec("D", math=TrendMath.SUM, property="amount"))

    def refused(*_args):
        raise AssertionError("the plain statement was built on Citus")

    for breakdown in (None, BreakdownSpec(event_property="src", limit=2), BreakdownSpec(person_property="plan")):
        spec = TrendsSpec(series, t0, t0 + timedelta(days=11), Period.DAY, breakdown)
        async with services.pool.acquire() as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                await conn.execute(REPORT_SETTINGS, "60000")
                rows = await cluster.reads(conn).fetch(*_unpack(TRENDS.build(project.id, spec)))
                plain = TRENDS.assemble(rows, spec, t0)
                sql, params = TRENDS.build_per_shard(project.id, spec)
                plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + sql, *params))
        got = (await services.reports.report(dataclasses.replace(TRENDS, build=refused), project.id, spec)).value
        assert got == plain, spec
        assert any(r["median_low"] is not None for r in rows), spec  # some cell has a median
        assert "Task Count: 4" in plan, plan
        assert not _raw_pulls(plan), (spec, plan)


@pytest.mark.parametrize("table", ["identities", "persons", "idempotency_keys"])
async def test_a_new_row_stored_meanwhile_fails_the_flushs_copy_with_a_unique_violation(services, project, table):
    # A flush looked its identity up before another flush stored it, and COPYs
    # it and its person (the idempotency keys' table, which the writer now
    # claims with ON CONFLICT DO NOTHING, is held to the same rule): the COPY waits
    # for the other transaction and, once that commits, fails with the unique
    # violation the writer runs the flush again for (RETRYABLE). Citus reports
    # it as an internal error (XX000): before cluster.copy_new_rows the flush
    # failed and its events were lost (the browser test of tests/tracking in the
    # whole suite on the cluster, seed 383891810).
    person = person_id_for(project.id, "newcomer")
    columns, row = {
        "identities": (["project_id", "identity", "person_id"], (project.id, "newcomer", person)),
        "persons": (["project_id", "id"], (project.id, person)),
        "idempotency_keys": (["project_id", "key"], (project.id, "order-1")),
    }[table]
    async with services.pool.acquire() as first, services.pool.acquire() as later:
        first_tx, later_tx = first.transaction(), later.transaction()
        await first_tx.start()
        await cluster.copy_new_rows(first, table, columns, [row])
        await later_tx.start()
        racing = asyncio.create_task(cluster.copy_new_rows(later, table, columns, [row]))
        await asyncio.sleep(0.5)
        assert not racing.done()  # waiting for the first's uncommitted key
        await first_tx.commit()
        with pytest.raises(asyncpg.UniqueViolationError) as lost:
            await racing
        assert isinstance(lost.value, RETRYABLE)
        await later_tx.rollback()
