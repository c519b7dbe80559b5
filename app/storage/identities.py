"""Identity resolution and merges in SQL. The locking protocol that keeps
merges safe against concurrent events:

- a writer resolves identities with FOR SHARE (app/storage/events.py,
  resolve_and_insert) and holds that lock until its
  events are committed;
- a merge locks both sides' identity rows FOR UPDATE, then moves identities,
  events and property changes from the loser to the survivor with UPDATEs that
  wait for every writer still holding a share lock on the loser's identities.

So an event is either committed before the merge moves the loser's rows (and
is moved with them), or resolves its identity after the merge commits (and
lands on the survivor). No event is left on a merged-away person."""
from __future__ import annotations

import uuid
from typing import Iterable

import asyncpg

from . import cluster
from .person_ids import PersonState


async def lock_people_of(
    conn: asyncpg.Connection, project_id: uuid.UUID, identities: Iterable[str]
) -> dict[str, PersonState]:
    """Lock the identity rows and their persons; return each known identity's person."""
    if cluster.on_citus(conn):
        return await _people_of_owned_project(conn, project_id, identities)
    rows = await conn.fetch(
        "SELECT identity, person_id FROM identities WHERE project_id = $1 AND identity = ANY($2::text[])"
        " ORDER BY identity FOR UPDATE",
        project_id,
        sorted(set(identities)),
    )
    by_identity = {r["identity"]: r["person_id"] for r in rows}
    if not by_identity:
        return {}
    people = await conn.fetch(
        "SELECT id, identified, created_at FROM persons WHERE project_id = $1 AND id = ANY($2::uuid[])"
        " ORDER BY id FOR UPDATE",
        project_id,
        sorted(set(by_identity.values())),
    )
    states = {p["id"]: PersonState(p["id"], p["identified"], p["created_at"]) for p in people}
    return {identity: states[pid] for identity, pid in by_identity.items()}


async def _people_of_owned_project(
    conn: asyncpg.Connection, project_id: uuid.UUID, identities: Iterable[str]
) -> dict[str, PersonState]:
    """lock_people_of on Citus: the project's exclusive lock (app/storage/cluster.py)
    in place of the row locks, which Citus takes on one shard only."""
    await cluster.own_project(conn, project_id)
    found = await conn.fetch(
        "SELECT identity, person_id FROM identities WHERE project_id = $1 AND identity = ANY($2::text[])",
        project_id, sorted(set(identities)),
    )
    if not found:
        return {}
    people = await conn.fetch(
        "SELECT id, identified, created_at FROM persons WHERE project_id = $1 AND id = ANY($2::uuid[])",
        project_id, sorted({r["person_id"] for r in found}),
    )
    states = {p["id"]: PersonState(p["id"], p["identified"], p["created_at"]) for p in people}
    return {r["identity"]: states[r["person_id"]] for r in found}


async def add_identity(conn: asyncpg.Connection, project_id: uuid.UUID, identity: str, person_id: uuid.UUID) -> bool:
    """False when someone else created the identity meanwhile (the caller retries)."""
    status = await conn.execute(
        "INSERT INTO identities (project_id, identity, person_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        project_id, identity, person_id,
    )
    return status.endswith(" 1")


async def create_person(
    conn: asyncpg.Connection, project_id: uuid.UUID, person_id: uuid.UUID, identified: bool
) -> None:
    await conn.execute(
        "INSERT INTO persons (project_id, id, identified) VALUES ($1, $2, $3)"
        " ON CONFLICT (project_id, id) DO UPDATE SET identified = persons.identified OR EXCLUDED.identified",
        project_id, person_id, identified,
    )


async def mark_identified(conn: asyncpg.Connection, project_id: uuid.UUID, person_ids: Iterable[uuid.UUID]) -> None:
    ids = list(person_ids)
    if ids:
        await conn.execute(
            "UPDATE persons SET identified = true WHERE project_id = $1 AND id = ANY($2::uuid[]) AND NOT identified",
            project_id, ids,
        )


async def merge_people(conn: asyncpg.Connection, project_id: uuid.UUID, survivor: uuid.UUID, loser: uuid.UUID) -> None:
    """Move everything of `loser` to `survivor`, retroactively. Both persons'
    identity rows are already locked FOR UPDATE by the caller."""
    if cluster.on_citus(conn):
        await _move_people(conn, project_id, survivor, loser)
        return
    await conn.execute(
        "UPDATE identities SET person_id = $2 WHERE project_id = $1 AND person_id = $3", project_id, survivor, loser
    )
    await conn.execute(
        "UPDATE events SET person_id = $2 WHERE project_id = $1 AND person_id = $3", project_id, survivor, loser
    )
    await conn.execute(
        "UPDATE property_changes SET person_id = $2 WHERE project_id = $1 AND person_id = $3",
        project_id, survivor, loser,
    )
    # Flatten: anything that pointed at the loser now points at the survivor.
    await conn.execute(
        "UPDATE persons SET merged_into = $2, properties = '{}'::jsonb"
        " WHERE project_id = $1 AND (id = $3 OR merged_into = $3)",
        project_id, survivor, loser,
    )


# Every column of events and property_changes, in order (seq kept as it is).
_EVENT_COLUMNS = "project_id, id, seq, person_id, identity, name, properties, revenue, ts, received_at, idempotency_key"
_CHANGE_COLUMNS = "project_id, seq, person_id, key, value, at"


async def _move_people(conn: asyncpg.Connection, project_id: uuid.UUID, survivor: uuid.UUID, loser: uuid.UUID) -> None:
    """merge_people on Citus, which cannot UPDATE a distribution column: the
    loser's events and property changes are copied to the survivor's shard
    (their ids and seq kept) and deleted from the loser's, in this distributed
    transaction, under the project's exclusive lock (app/storage/cluster.py),
    which also grows the project's identity generation: the loser's identities
    now name the survivor."""
    await cluster.identities_changed(conn, project_id)
    await conn.execute(
        "UPDATE identities SET person_id = $2 WHERE project_id = $1 AND person_id = $3", project_id, survivor, loser
    )
    for table, columns in (("events", _EVENT_COLUMNS), ("property_changes", _CHANGE_COLUMNS)):
        moved = columns.replace("person_id", "$2::uuid")
        await conn.execute(
            f"INSERT INTO {table} ({columns}) OVERRIDING SYSTEM VALUE"
            f" SELECT {moved} FROM {table} WHERE project_id = $1 AND person_id = $3",
            project_id, survivor, loser,
        )
        await conn.execute(f"DELETE FROM {table} WHERE project_id = $1 AND person_id = $2", project_id, loser)
    await conn.execute(
        "UPDATE persons SET merged_into = $2, properties = '{}'::jsonb"
        " WHERE project_id = $1 AND (id = $3 OR merged_into = $3)",
        project_id, survivor, loser,
    )


async def forget_unused(conn: asyncpg.Connection, project_id: uuid.UUID, identities: list[str]) -> None:
    """Drop identities created in this transaction that nothing was written
    for (their only events were duplicates of stored ones), and the persons
    created with them: a refused or duplicate event leaves no empty person."""
    await conn.execute(
        "WITH gone AS (DELETE FROM identities WHERE project_id = $1 AND identity = ANY($2::text[])"
        " RETURNING person_id)"
        " DELETE FROM persons WHERE project_id = $1 AND id IN (SELECT person_id FROM gone)",
        project_id, identities,
    )

