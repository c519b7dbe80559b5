"""Removing data: a person (deletePerson), a project, and events past a
project's retention; and the report generation that keeps cached reports from
outliving what they counted.

Deleting a person follows the locking protocol of app/storage/identities.py:

- the writer resolves identities FOR SHARE and holds that lock until its
  events commit; a link (identify, alias) locks identity rows, then person
  rows, FOR UPDATE;
- a deletion locks every identity row of the person FOR UPDATE (sorted, like
  the others), then the person row, then the person's identities again (one a
  link added meanwhile: with the person row locked no link can add more).

So a writer's event either committed before the deletion took its locks (the
deletion waits for it, then its DELETE, a later statement with a later
snapshot, removes it), or it resolves its identity after the deletion
committed: the identity row is gone, the writer's statement creates the
identity again with a new person (app/storage/events.py) and the event lands
there. Never on the deleted person, never a mix.

The person id of a new person is uuid5(project, its first identity)
(app/ingest/identity.py), so the first identity of a deleted person that sends
again gets the old id back. That is allowed because nothing of the old person
remains: its row, the rows of the people merged into it, its identities,
events and property history are all deleted in the same transaction."""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from . import cluster, live_wire
from .projects import KEYS_CHANNEL

RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


@dataclass(frozen=True)
class DeletedPerson:
    deleted: bool
    events: int
    person_id: uuid.UUID | None = None


class _Moved(Exception):
    """The person changed (merged) between finding and locking it: again."""


# Every bump of a report generation is announced on this channel, in the
# transaction that makes it (so on its commit, in commit order), with the
# payload "<project id> <new generation>" (app/reports/generations.py).
GENERATION_CHANNEL = "whodid_report_generation"


async def report_generation(conn, project_id: uuid.UUID) -> int:
    """The project's report generation (part of every report's cache key)."""
    value = await conn.fetchval("SELECT report_generation FROM projects WHERE id = $1", project_id)
    return value or 0


def parse_generation_payload(payload: str) -> tuple[uuid.UUID, int] | None:
    """(project id, generation) of a notification, None when it is not one."""
    project, _, generation = payload.partition(" ")
    try:
        return uuid.UUID(project), int(generation)
    except ValueError:
        return None


async def bump_generation(conn: asyncpg.Connection, project_id: uuid.UUID) -> None:
    """The project's generation + 1, and its notification (GENERATION_CHANNEL),
    in one statement of the caller's transaction."""
    await conn.execute(
        "WITH bumped AS (UPDATE projects SET report_generation = report_generation + 1 WHERE id = $1"
        " RETURNING id, report_generation)"
        " SELECT pg_notify($2, bumped.id::text || ' ' || bumped.report_generation::text) FROM bumped",
        project_id, GENERATION_CHANNEL,
    )


async def _find(conn, project_id: uuid.UUID, identity: str | None, person_id: uuid.UUID | None) -> uuid.UUID | None:
    if identity is not None:
        return await conn.fetchval(
            "SELECT person_id FROM identities WHERE project_id = $1 AND identity = $2", project_id, identity
        )
    # A merged-away id means its survivor.
    return await conn.fetchval(
        "SELECT COALESCE(merged_into, id) FROM persons WHERE project_id = $1 AND id = $2", project_id, person_id
    )


async def _delete_once(
    conn: asyncpg.Connection, project_id: uuid.UUID, identity: str | None, person_id: uuid.UUID | None
) -> DeletedPerson:
    citus = cluster.on_citus(conn)
    if citus:
        # Citus locks rows on one shard only: the project's exclusive lock
        # (app/storage/cluster.py) keeps every writer and link out instead.
        await cluster.own_project(conn, project_id)
        # The generation bump writes projects, a reference table that persons
        # refers to: Citus allows that after writes to persons' shards only
        # if they went over one connection per worker.
        await conn.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
    target = await _find(conn, project_id, identity, person_id)
    if target is None:
        return DeletedPerson(False, 0)
    if citus:
        return await _delete_target_distributed(conn, project_id, target)
    lock_identities = (
        "SELECT identity FROM identities WHERE project_id = $1 AND person_id = $2 ORDER BY identity FOR UPDATE"
    )
    await conn.fetch(lock_identities, project_id, target)
    person = await conn.fetchrow(
        "SELECT merged_into FROM persons WHERE project_id = $1 AND id = $2 FOR UPDATE", project_id, target
    )
    if person is None or person["merged_into"] is not None:
        raise _Moved()  # deleted or merged meanwhile: find it again
    await conn.fetch(lock_identities, project_id, target)
    if identity is not None:
        now = await conn.fetchval(
            "SELECT person_id FROM identities WHERE project_id = $1 AND identity = $2", project_id, identity
        )
        if now != target:
            raise _Moved()
    events = await conn.fetchval(
        "WITH gone AS (DELETE FROM events WHERE project_id = $1 AND person_id = $2 RETURNING 1)"
        " SELECT count(*) FROM gone",
        project_id, target,
    )
    return await _delete_rest(conn, project_id, target, int(events))


async def _delete_target_distributed(conn: asyncpg.Connection, project_id: uuid.UUID, target: uuid.UUID) -> DeletedPerson:
    """The deletion on Citus, under the project's exclusive lock: the events'
    idempotency keys are freed too (idempotency_keys, db/migrations/0013_citus.sql),
    as a deleted event's key is on plain PostgreSQL. The person's identities
    go: the project's identity generation grows (app/storage/identity_cache.py)."""
    await cluster.identities_changed(conn, project_id)
    keys = await conn.fetch(
        "DELETE FROM events WHERE project_id = $1 AND person_id = $2 RETURNING idempotency_key", project_id, target
    )
    await free_keys(conn, project_id, [r[0] for r in keys if r[0] is not None])
    return await _delete_rest(conn, project_id, target, len(keys))


async def free_keys(conn: asyncpg.Connection, project_id: uuid.UUID, keys: list[str]) -> None:
    """Citus: the idempotency keys of deleted events may be sent again."""
    if keys:
        await conn.execute(
            "DELETE FROM idempotency_keys WHERE project_id = $1 AND key = ANY($2::text[])", project_id, keys
        )


async def _delete_rest(conn: asyncpg.Connection, project_id: uuid.UUID, target: uuid.UUID, events: int) -> DeletedPerson:
    await conn.execute("DELETE FROM property_changes WHERE project_id = $1 AND person_id = $2", project_id, target)
    await conn.execute("DELETE FROM identities WHERE project_id = $1 AND person_id = $2", project_id, target)
    gone = await conn.fetch(
        "DELETE FROM persons WHERE project_id = $1 AND (id = $2 OR merged_into = $2) RETURNING id",
        project_id, target,
    )
    await bump_generation(conn, project_id)
    # Live subscribers drop their queued events (app/storage/live_wire.py).
    # (150 ids a payload: PostgreSQL refuses payloads of 8000 bytes.)
    ids = sorted(r["id"] for r in gone)
    await conn.execute(
        "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n", live_wire.CHANNEL,
        [live_wire.encode_forget(project_id, ids[i:i + 150]) for i in range(0, len(ids), 150)],
    )
    return DeletedPerson(True, events, target)


async def delete_person(
    pool: asyncpg.Pool, project_id: uuid.UUID, *, identity: str | None = None, person_id: uuid.UUID | None = None
) -> DeletedPerson:
    """Delete the person `identity` resolves to (or `person_id`, or the
    survivor it was merged into) with everything of it, in one transaction."""
    for attempt in range(20):
        try:
            async with pool.acquire() as conn:
                async with conn.transaction():
                    return await _delete_once(conn, project_id, identity, person_id)
        except (_Moved, *RETRYABLE):
            await asyncio.sleep(0.002 * (attempt + 1))
    raise asyncpg.SerializationError("the person changed too often while deleting it; retry")


# ---------------------------------------------------------------- a person's data (right of access)

async def person_data(conn, project_id: uuid.UUID, identity: str) -> dict | None:
    """Everything stored about the person `identity` resolves to, as JSON-ready
    values: identities, current properties, property history, events."""
    # (Two lookups, not a join: on Citus identities and persons are not co-located.)
    found = await conn.fetchval(
        "SELECT person_id FROM identities WHERE project_id = $1 AND identity = $2", project_id, identity
    )
    person = None if found is None else await conn.fetchrow(
        "SELECT id, identified, created_at, properties FROM persons WHERE project_id = $1 AND id = $2",
        project_id, found,
    )
    if person is None:
        return None
    pid = person["id"]
    identities = await conn.fetch(
        "SELECT identity, created_at FROM identities WHERE project_id = $1 AND person_id = $2"
        " ORDER BY created_at, identity", project_id, pid,
    )
    merged = await conn.fetch(
        "SELECT id FROM persons WHERE project_id = $1 AND merged_into = $2 ORDER BY id", project_id, pid
    )
    history = await conn.fetch(
        "SELECT key, value, at FROM property_changes WHERE project_id = $1 AND person_id = $2 ORDER BY at, seq",
        project_id, pid,
    )
    events = await conn.fetch(
        "SELECT id, name, identity, properties, revenue, ts, received_at FROM events"
        " WHERE project_id = $1 AND person_id = $2 ORDER BY ts, seq", project_id, pid,
    )
    return {
        "person": {
            "id": str(pid), "identified": person["identified"], "createdAt": person["created_at"].isoformat(),
            "mergedIds": [str(r["id"]) for r in merged],
        },
        "identities": [{"identity": r["identity"], "createdAt": r["created_at"].isoformat()} for r in identities],
        "properties": person["properties"],
        "propertyHistory": [{"key": r["key"], "value": r["value"], "at": r["at"].isoformat()} for r in history],
        "events": [
            {"id": str(r["id"]), "name": r["name"], "identity": r["identity"], "properties": r["properties"],
             "revenue": None if r["revenue"] is None else str(r["revenue"]),
             "timestamp": r["ts"].isoformat(), "receivedAt": r["received_at"].isoformat()}
            for r in events
        ],
    }


# ---------------------------------------------------------------- projects

async def delete_project(pool: asyncpg.Pool, project_id: uuid.UUID) -> dict[str, int]:
    """Remove a project and everything in it, in one transaction; its keys stop
    working in every process (the keys notification). Rows removed per table."""
    counts: dict[str, int] = {}
    async with pool.acquire() as conn:
        async with conn.transaction():
            if cluster.on_citus(conn):
                # DELETE FROM projects (a reference table persons refers to)
                # after writes to persons' shards: one connection per worker.
                await conn.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
            # Locks the project row: ingestion of the project (which takes a key
            # share lock on it through persons' foreign key) waits, then fails.
            await conn.execute("SELECT 1 FROM projects WHERE id = $1 FOR UPDATE", project_id)
            for table in ("events", "property_changes", "identities", "persons"):
                status = await conn.execute(f"DELETE FROM {table} WHERE project_id = $1", project_id)
                counts[table] = int(status.split()[-1])
            if cluster.on_citus(conn):
                await conn.execute("DELETE FROM idempotency_keys WHERE project_id = $1", project_id)
                # No writer keeps using the project's identities held in memory.
                await cluster.identities_changed(conn, project_id)
            await conn.execute("DELETE FROM projects WHERE id = $1", project_id)
            await conn.execute("SELECT pg_notify($1, $2)", KEYS_CHANNEL, str(project_id))
    # A writer's transaction that began before the keys were dropped (events of
    # known identities do not touch the project row) may still commit: sweep
    # what it left, once the processes' key caches had the time to drop the keys.
    for _ in range(2):
        await asyncio.sleep(LEFTOVER_SWEEP_SECONDS)
        async with pool.acquire() as conn:
            async with conn.transaction():
                for table in ("events", "property_changes", "identities", "persons"):
                    status = await conn.execute(f"DELETE FROM {table} WHERE project_id = $1", project_id)
                    counts[table] += int(status.split()[-1])
    return counts


LEFTOVER_SWEEP_SECONDS = 0.5


# ---------------------------------------------------------------- retention

async def set_retention(pool: asyncpg.Pool, name: str, days: int | None) -> uuid.UUID | None:
    return await pool.fetchval("UPDATE projects SET retention_days = $2 WHERE name = $1 RETURNING id", name, days)


async def projects_with_retention(pool: asyncpg.Pool) -> list[tuple[uuid.UUID, int]]:
    rows = await pool.fetch("SELECT id, retention_days FROM projects WHERE retention_days IS NOT NULL ORDER BY id")
    return [(r["id"], r["retention_days"]) for r in rows]


async def delete_events_before(pool: asyncpg.Pool, project_id: uuid.UUID, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` of the project's oldest events timestamped before
    `cutoff` (by the events_ts index), in a transaction of their own: a short
    one, row locks on those rows only. The number deleted."""
    if cluster.on_citus(pool):
        # A ctid names a row of one shard: by key, and the keys freed as well.
        async with pool.acquire() as conn:
            async with conn.transaction():
                doomed = await conn.fetch(
                    "SELECT person_id, id FROM events WHERE project_id = $1 AND ts < $2 ORDER BY ts, seq LIMIT $3",
                    project_id, cutoff, limit,
                )
                if not doomed:
                    return 0
                keys = await conn.fetch(
                    # (Event ids are unique: the persons only prune the shards.)
                    "DELETE FROM events WHERE project_id = $1 AND person_id = ANY($2::uuid[]) AND id = ANY($3::uuid[])"
                    " RETURNING idempotency_key",
                    project_id, [r[0] for r in doomed], [r[1] for r in doomed],
                )
                await free_keys(conn, project_id, [r[0] for r in keys if r[0] is not None])
                return len(keys)
    status = await pool.execute(
        "DELETE FROM events WHERE ctid = ANY(ARRAY("
        "  SELECT ctid FROM events WHERE project_id = $1 AND ts < $2 ORDER BY ts, seq LIMIT $3))",
        project_id, cutoff, limit,
    )
    return int(status.split()[-1])
