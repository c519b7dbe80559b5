"""app/storage/events.py: a flush's identities that another transaction
creates while the flush runs are resolved in the same transaction."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone

import pytest

from app.storage.events import Flush, resolve_and_insert
from app.storage.person_ids import person_id_for
from tests.support.database import CITUS_URL

pytestmark = pytest.mark.skipif(
    CITUS_URL is not None, reason="plain PostgreSQL's statement; on Citus a raced identity's COPY fails and the"
    " writer flushes again (tests/ingest/test_identity_cache.py)")


def flush_of(project_id: uuid.UUID, events: list[tuple[str, str | None]],
             persons: dict[str, uuid.UUID] | None = None) -> Flush:
    """A flush of events (identity, idempotency key), each named "E"."""
    now = datetime.now(timezone.utc)
    identities = sorted({identity for identity, _ in events})
    persons = persons or {}
    return Flush(
        project_id, identities, [persons.get(i) or person_id_for(project_id, i) for i in identities],
        [uuid.uuid4() for _ in events], [i for i, _ in events], ["E"] * len(events), ["{}"] * len(events),
        [None] * len(events), [now] * len(events), [now] * len(events), [key for _, key in events],
    )


async def race(pool, project_id: uuid.UUID, racer_person: uuid.UUID, events: list[tuple[str, str | None]]):
    """An earlier flush creates "racer" (on `racer_person`) and has not
    committed when a later flush of `events` starts: the later one's INSERT of
    "racer" waits for the earlier one, which then commits. The later flush's
    Resolved, once it committed too."""
    earlier = await pool.acquire()
    later = await pool.acquire()
    try:
        first = earlier.transaction()
        await first.start()
        await resolve_and_insert(earlier, flush_of(project_id, [("racer", None)], {"racer": racer_person}))
        second = later.transaction()
        await second.start()
        task = asyncio.create_task(resolve_and_insert(later, flush_of(project_id, events)))
        await asyncio.sleep(0.3)
        assert not task.done()  # waiting for the earlier flush's "racer"
        await first.commit()
        resolved = await task
        await second.commit()
        return resolved
    finally:
        await pool.release(earlier)
        await pool.release(later)


async def test_an_identity_created_by_a_concurrent_flush_is_resolved_in_the_same_transaction(services, project):
    racer_person = uuid.uuid4()
    resolved = await race(services.pool, project.id, racer_person, [("racer", None), ("fresh", None), ("racer", None)])
    assert resolved.person_of == {"racer": racer_person, "fresh": person_id_for(project.id, "fresh")}
    assert resolved.created == {"fresh"}
    assert len(resolved.inserted) == 3
    async with services.pool.acquire() as conn:
        stored = await conn.fetch(
            "SELECT identity, person_id, count(*) AS n FROM events WHERE project_id = $1 GROUP BY 1, 2", project.id)
    assert {(r["identity"], r["person_id"], r["n"]) for r in stored} == {
        ("racer", racer_person, 3), ("fresh", person_id_for(project.id, "fresh"), 1)}


async def test_a_key_repeated_by_a_raced_identity_is_stored_once(services, project):
    """The raced identity's events go in a second statement: an idempotency key
    the first one stored for another identity of the batch is a duplicate there."""
    resolved = await race(services.pool, project.id, uuid.uuid4(), [("racer", "k-1"), ("fresh", "k-1")])
    assert set(resolved.person_of) == {"racer", "fresh"}
    assert len(resolved.inserted) == 1
    async with services.pool.acquire() as conn:
        keyed = await conn.fetchval(
            "SELECT count(*) FROM events WHERE project_id = $1 AND idempotency_key = 'k-1'", project.id)
    assert keyed == 1
