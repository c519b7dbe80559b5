"""Merges racing with events for both sides: nothing is lost and nothing is
left on a merged-away person (DESIGN.md §4)."""
from __future__ import annotations

import asyncio

from app.ingest.validation import EventIn


async def test_merges_racing_with_events_lose_nothing(services, project):
    pairs = [(f"anon-{i}", f"user-{i}@x") for i in range(12)]
    # both sides exist as separate people before the race
    for anon, user in pairs:
        await services.ingest.record_event(project.id, EventIn(anon, "Before"))
        await services.ingest.identify(project.id, f"seed-{user}", user)

    per_side = 15

    async def send(identity: str) -> int:
        sent = 0
        for n in range(per_side):
            await services.ingest.record_event(project.id, EventIn(identity, "During", {"n": n}))
            sent += 1
        return sent

    async def batch(identities: list[str]) -> int:
        await services.ingest.record_events(project.id, [EventIn(i, "Batch") for i in identities])
        return len(identities)

    tasks = []
    for anon, user in pairs:
        tasks += [send(anon), send(user), services.ingest.identify(project.id, anon, user), batch([anon, user] * 5)]
    results = await asyncio.gather(*tasks)
    sent = sum(r for r in results if isinstance(r, int))

    async with services.pool.acquire() as conn:
        total = await conn.fetchval("SELECT count(*) FROM events WHERE project_id = $1 AND name <> 'Before'", project.id)
        orphans = await conn.fetchval(
            "SELECT count(*) FROM events e JOIN persons p ON p.project_id = e.project_id AND p.id = e.person_id"
            " WHERE e.project_id = $1 AND p.merged_into IS NOT NULL", project.id)
        stale_identities = await conn.fetchval(
            "SELECT count(*) FROM identities i JOIN persons p ON p.project_id = i.project_id AND p.id = i.person_id"
            " WHERE i.project_id = $1 AND p.merged_into IS NOT NULL", project.id)
        for anon, user in pairs:
            people = await conn.fetch(
                "SELECT DISTINCT person_id FROM events WHERE project_id = $1 AND identity = ANY($2::text[])",
                project.id, [anon, user])
            assert len(people) == 1, (anon, user)
    assert total == sent
    assert orphans == 0 and stale_identities == 0


async def test_chained_merges_flatten(services, project):
    """a's person merged into b's, then b's into c's: a's old id resolves to c's."""
    await services.ingest.identify(project.id, "c-anon", "c@x")  # the oldest person
    await services.ingest.record_event(project.id, EventIn("b", "E"))
    first = await services.ingest.record_event(project.id, EventIn("a", "E"))
    assert (await services.ingest.alias(project.id, "a", "b")).outcome.value == "MERGED"  # older b survives
    assert (await services.ingest.alias(project.id, "b", "c@x", force=True)).outcome.value == "MERGED"
    c = await services.people.by_identity(project.id, "c@x")
    resolved = await services.people.by_ids(project.id, [first.event.person_id])
    assert resolved[first.event.person_id].id == c.id
    assert set(c.identities) == {"a", "b", "c-anon", "c@x"}
