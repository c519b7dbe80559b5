"""whodid on a real Citus cluster (issue 17, docs/scaling.md): `whodid migrate`
distributed the tables by person, a project's people are on every worker, a
merge moves the loser's rows to the survivor's shard, and identities and
idempotency keys stay exact when writes for them race across shards.

Runs only against a cluster: WHODID_TEST_CITUS=postgresql://…:9700/postgres
(start one with ../shared/tools/citus-cluster); then the whole suite runs there."""
from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from app.ingest.identity import person_id_for
from app.ingest.retry import RETRYABLE
from app.storage import cluster
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


async def test_a_new_identity_is_one_person_whichever_flushes_race_for_it(services, project):
    sends = [services.ingest.record_event(project.id, EventIn("newcomer", "Visit", {"n": n})) for n in range(20)]
    results = await asyncio.gather(*sends)
    async with services.pool.acquire() as conn:
        people = await conn.fetchval("SELECT count(*) FROM persons WHERE project_id = $1", project.id)
        rows = await conn.fetchval("SELECT count(*) FROM identities WHERE project_id = $1", project.id)
        events = await conn.fetchval("SELECT count(*) FROM events WHERE project_id = $1", project.id)
    assert people == 1 and rows == 1 and events == 20
    assert len({r.event.person_id for r in results}) == 1


@pytest.mark.parametrize("table", ["identities", "persons", "idempotency_keys"])
async def test_a_new_row_stored_meanwhile_fails_the_flushs_copy_with_a_unique_violation(services, project, table):
    # A flush looked its identity (or idempotency key) up before another flush
    # stored it, and COPYs it (and the identity's person) too: the COPY waits
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
