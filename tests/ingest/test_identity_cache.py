"""The writer's identities held in memory on Citus (app/storage/identity_cache.py)
never outlive a merge or a deletion made by another process: its next flush
reads the project's grown identity generation and resolves them again. Runs on
plain PostgreSQL too, where nothing is held and the same must hold."""
from __future__ import annotations

import pytest

from app.ingest.validation import EventIn
from app.services import Services
from app.storage import cluster
from app.storage.pool import create_pool


@pytest.fixture
async def elsewhere(services, database_url, settings):
    """Another process's services: its own pool, writer and identities held."""
    pool = await create_pool(database_url, min_size=1, max_size=4)
    other = Services.build(settings, pool)
    other.start()
    yield other
    await other.close()
    await pool.close()


async def events_of(services, project_id, identity: str) -> list:
    async with services.pool.acquire() as conn:
        return await conn.fetch(
            "SELECT name, person_id FROM events WHERE project_id = $1 AND identity = $2 ORDER BY seq",
            project_id, identity)


async def test_a_merge_in_another_process_reaches_the_identities_held(services, elsewhere, project):
    await services.ingest.record_event(project.id, EventIn("anon-7", "Visit"))
    await services.ingest.record_event(project.id, EventIn("user-7@x", "Login"))
    await services.ingest.record_event(project.id, EventIn("anon-7", "Visit again"))  # from what is held, on Citus
    anon_person = (await events_of(services, project.id, "anon-7"))[0]["person_id"]
    if cluster.on_citus(services.pool):
        assert services.writer.persons.held(project.id, "anon-7") == anon_person
    linked = await elsewhere.ingest.identify(project.id, "anon-7", "user-7@x")
    assert linked.outcome.value == "MERGED"
    survivor = linked.person_id
    after = await services.ingest.record_event(project.id, EventIn("anon-7", "After the merge"))
    assert after.event.person_id == survivor
    assert {r["person_id"] for r in await events_of(services, project.id, "anon-7")} == {survivor}
    if cluster.on_citus(services.pool):
        assert services.writer.persons.held(project.id, "anon-7") == survivor
    person = await services.people.by_identity(project.id, "anon-7")
    assert person.id == survivor


async def test_a_deletion_in_another_process_reaches_the_identities_held(services, elsewhere, project):
    first = await services.ingest.record_event(project.id, EventIn("leaver", "Visit"))
    await services.ingest.record_event(project.id, EventIn("leaver", "Visit again"))
    if cluster.on_citus(services.pool):
        assert services.writer.persons.held(project.id, "leaver") == first.event.person_id
    gone = await elsewhere.ingest.delete_person(project.id, identity="leaver")
    assert gone.deleted and gone.events == 2
    back = await services.ingest.record_event(project.id, EventIn("leaver", "Came back"))
    async with services.pool.acquire() as conn:
        identity = await conn.fetchval(
            "SELECT person_id FROM identities WHERE project_id = $1 AND identity = 'leaver'", project.id)
        persons = await conn.fetchval(
            "SELECT count(*) FROM persons WHERE project_id = $1 AND id = $2", project.id, identity)
    # A new person, with its identity row, holds the new event alone.
    assert identity == back.event.person_id and persons == 1
    assert [r["name"] for r in await events_of(services, project.id, "leaver")] == ["Came back"]
