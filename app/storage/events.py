"""Event writes (one INSERT per group commit) and event reads."""
from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from . import cluster
from .filters import Params, PropertyFilter, filters_sql


# Not frozen: one is built per event, and a frozen dataclass's __init__
# costs ~5x as much (object.__setattr__ per field).
@dataclass(slots=True)
class EventRow:
    id: uuid.UUID
    seq: int
    name: str
    person_id: uuid.UUID
    identity: str
    properties: dict
    revenue: Decimal | None
    timestamp: datetime
    received_at: datetime


_COLUMNS = "id, seq, name, person_id, identity, properties, revenue, ts, received_at"


def _row(r: asyncpg.Record) -> EventRow:
    return EventRow(
        id=r["id"], seq=r["seq"], name=r["name"], person_id=r["person_id"], identity=r["identity"],
        properties=r["properties"], revenue=r["revenue"], timestamp=r["ts"], received_at=r["received_at"],
    )


# One statement per group commit and project: resolve every identity of the
# flush (locking the known ones FOR SHARE, creating the unknown ones with their
# person), then insert the events on the persons they resolve to. The locking
# protocol is the one in app/storage/identities.py: the share locks are held
# until commit, so a concurrent merge waits for these events and moves them.
#
# Within one statement every CTE reads the same snapshot, so an identity that
# another transaction created and committed after that snapshot is neither in
# `known` (not visible) nor in `created` (ON CONFLICT skipped it): it comes
# back unresolved and its events are not inserted. The caller then rolls back
# and runs the flush again (a fresh snapshot sees it).
_RECORD_SQL = """
WITH known AS (
    -- One primary-key probe per identity (in the given order, sorted): a
    -- lateral subquery with a row lock is never flattened into a join, so no
    -- plan, whatever the statistics, scans all of a project's identities.
    SELECT w.identity, k.person_id
    FROM unnest($2::text[]) AS w(identity)
    CROSS JOIN LATERAL (
        SELECT i.person_id FROM identities i WHERE i.project_id = $1 AND i.identity = w.identity
        FOR SHARE) AS k),
created AS (
    INSERT INTO identities (project_id, identity, person_id)
    SELECT $1, t.identity, t.person_id FROM unnest($2::text[], $3::uuid[]) AS t(identity, person_id)
    WHERE NOT EXISTS (SELECT 1 FROM known k WHERE k.identity = t.identity)
    ORDER BY t.identity
    ON CONFLICT DO NOTHING
    RETURNING identity, person_id),
born AS (
    INSERT INTO persons (project_id, id) SELECT $1, person_id FROM created ON CONFLICT DO NOTHING),
resolved AS (
    SELECT identity, person_id, false AS created FROM known
    UNION ALL SELECT identity, person_id, true FROM created),
inserted AS (
    INSERT INTO events (project_id, id, person_id, identity, name, properties, revenue, ts, received_at,
                        idempotency_key)
    SELECT $1, t.id, r.person_id, t.identity, t.name, t.props::jsonb, t.revenue, t.ts, t.received, t.key
    FROM unnest($4::uuid[], $5::text[], $6::text[], $7::text[], $8::numeric[], $9::timestamptz[],
                $10::timestamptz[], $11::text[]) WITH ORDINALITY
         AS t(id, identity, name, props, revenue, ts, received, key, n)
    JOIN resolved r ON r.identity = t.identity
    ORDER BY t.n
    ON CONFLICT (project_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    -- Only what the database assigns: the caller has the rest of each row
    -- (no jsonb sent back and decoded again).
    RETURNING id, seq, person_id)
SELECT identity, person_id, NULL::uuid AS id, NULL::bigint AS seq, created FROM resolved
UNION ALL
SELECT NULL, person_id, id, seq, NULL FROM inserted
"""


async def resolve_and_insert(
    conn: asyncpg.Connection,
    project_id: uuid.UUID,
    identities: list[str],
    new_person_ids: list[uuid.UUID],
    ids: list[uuid.UUID],
    event_identities: list[str],
    names: list[str],
    properties_json: list[str],
    revenues: list[Decimal | None],
    timestamps: list[datetime],
    received: list[datetime],
    keys: list[str | None],
) -> tuple[dict[str, uuid.UUID], set[str], dict[uuid.UUID, tuple[int, uuid.UUID]]]:
    """In one round trip: the person each of `identities` (distinct) resolves
    to, creating an unidentified person (id `new_person_ids[i]`) for each
    unknown one; the identities so created; and the events inserted in the
    given order, as id -> (seq, person id). Events whose idempotency key exists
    already (or repeats in the batch) are skipped, and so are events of an
    identity missing from the returned map (see above)."""
    if cluster.on_citus(conn):
        return await _resolve_and_insert_distributed(
            conn, project_id, identities, new_person_ids, ids, event_identities, names, properties_json, revenues,
            timestamps, received, keys,
        )
    rows = await conn.fetch(
        _RECORD_SQL, project_id, identities, new_person_ids, ids, event_identities, names, properties_json,
        revenues, timestamps, received, keys,
    )
    person_of: dict[str, uuid.UUID] = {}
    created: set[str] = set()
    inserted: dict[uuid.UUID, tuple[int, uuid.UUID]] = {}
    for identity, person_id, event_id, seq, new in rows:
        if event_id is None:
            person_of[identity] = person_id
            if new:
                created.add(identity)
        else:
            inserted[event_id] = (seq, person_id)
    return person_of, created, inserted


async def _resolve_and_insert_distributed(
    conn: asyncpg.Connection,
    project_id: uuid.UUID,
    identities: list[str],
    new_person_ids: list[uuid.UUID],
    ids: list[uuid.UUID],
    event_identities: list[str],
    names: list[str],
    properties_json: list[str],
    revenues: list[Decimal | None],
    timestamps: list[datetime],
    received: list[datetime],
    keys: list[str | None],
) -> tuple[dict[str, uuid.UUID], set[str], dict[uuid.UUID, tuple[int, uuid.UUID]]]:
    """resolve_and_insert on Citus (app/storage/cluster.py, docs/scaling.md).

    Citus runs an INSERT … SELECT with ON CONFLICT or RETURNING by way of
    intermediate results on every shard, several times slower than a COPY,
    which it routes row by row to the shards. So: the project's shared lock
    (instead of FOR SHARE on identity rows); the identities found, the unknown
    ones COPYed with their persons; the events' idempotency keys looked up in
    idempotency_keys (a key's shard sees it whichever person it is sent for)
    and the new ones COPYed there; the events' seq taken from their sequence
    on the coordinator, in the given order; then the events whose key is new
    (the first of a batch's repeats) COPYed. An identity or a key that another
    transaction stored meanwhile fails the COPY with a unique violation
    (cluster.copy_new_rows): the writer rolls back and flushes again
    (RETRYABLE), and then finds it."""
    # One round trip to the coordinator alone: the project's shared lock, one
    # connection per worker for this transaction's statements (parallel
    # connections to the same worker cost more to open than they save on a
    # flush's few rows per shard: 2x faster measured), and a seq per event
    # from the events' sequence, in the batch's order (the unused ones of
    # duplicates are gaps, as a rollback leaves).
    seqs: list[int] = await conn.fetchval(
        "SELECT ARRAY(SELECT nextval(pg_get_serial_sequence('events', 'seq')) FROM generate_series(1, $2))"
        " FROM (SELECT pg_advisory_xact_lock_shared($1),"
        "              set_config('citus.max_adaptive_executor_pool_size', '1', true)) AS held",
        cluster.project_lock_key(project_id), len(keys),
    )
    wanted = list(dict.fromkeys(k for k in keys if k is not None))
    # The identities and the stored keys in one statement (the two tables are
    # co-located: one query per shard). Without keys, the identities alone: an
    # empty `key = ANY(...)` prunes no shard, every shard of the keys would be
    # asked for nothing (measured: 1.8 ms against 1.2 ms for a one-event flush).
    person_of: dict[str, uuid.UUID] = {}
    stored: set[str] = set()
    if wanted:
        found = await conn.fetch(
            "SELECT identity, person_id FROM identities WHERE project_id = $1 AND identity = ANY($2::text[])"
            " UNION ALL SELECT key, NULL FROM idempotency_keys WHERE project_id = $1 AND key = ANY($3::text[])",
            project_id, identities, wanted,
        )
    else:
        found = await conn.fetch(
            "SELECT identity, person_id FROM identities WHERE project_id = $1 AND identity = ANY($2::text[])",
            project_id, identities,
        )
    for name, person_id in found:
        if person_id is None:
            stored.add(name)
        else:
            person_of[name] = person_id
    created: set[str] = set()
    if len(person_of) < len(identities):
        missing = [(i, p) for i, p in zip(identities, new_person_ids) if i not in person_of]
        await cluster.copy_new_rows(
            conn, "identities", ["project_id", "identity", "person_id"], [(project_id, i, p) for i, p in missing]
        )
        await cluster.copy_new_rows(conn, "persons", ["project_id", "id"], [(project_id, p) for _, p in missing])
        for identity, person_id in missing:
            person_of[identity] = person_id
            created.add(identity)
    fresh = {k for k in wanted if k not in stored}
    if fresh:
        await cluster.copy_new_rows(
            conn, "idempotency_keys", ["project_id", "key"], [(project_id, k) for k in wanted if k in fresh]
        )
    take: list[int] = []  # the events to insert: no key, or the first with a key new to the project
    for n, key in enumerate(keys):
        if key is None:
            take.append(n)
        elif key in fresh:
            fresh.discard(key)
            take.append(n)
    inserted: dict[uuid.UUID, tuple[int, uuid.UUID]] = {}
    if take:
        seqs = seqs[:len(take)]
        people = [person_of[event_identities[n]] for n in take]
        for n, seq, person_id in zip(take, seqs, people):
            inserted[ids[n]] = (seq, person_id)
        # (Not a COPY: the pool's jsonb codec is text, a binary COPY needs binary;
        # with neither ON CONFLICT nor RETURNING Citus COPYs the rows itself.)
        await conn.execute(
            "INSERT INTO events (project_id, id, seq, person_id, identity, name, properties, revenue, ts,"
            " received_at, idempotency_key) OVERRIDING SYSTEM VALUE"
            " SELECT $1, t.id, t.seq, t.person, t.identity, t.name, t.props::jsonb, t.revenue, t.ts, t.received, t.key"
            " FROM unnest($2::uuid[], $3::bigint[], $4::uuid[], $5::text[], $6::text[], $7::text[],"
            "             $8::numeric[], $9::timestamptz[], $10::timestamptz[], $11::text[])"
            " AS t(id, seq, person, identity, name, props, revenue, ts, received, key)",
            project_id, [ids[n] for n in take], seqs, people, [event_identities[n] for n in take],
            [names[n] for n in take], [properties_json[n] for n in take], [revenues[n] for n in take],
            [timestamps[n] for n in take], [received[n] for n in take], [keys[n] for n in take],
        )
    return person_of, created, inserted


async def by_idempotency_keys(conn, project_id: uuid.UUID, keys: list[str]) -> dict[str, EventRow]:
    rows = await conn.fetch(
        f"SELECT idempotency_key, {_COLUMNS} FROM events WHERE project_id = $1 AND idempotency_key = ANY($2::text[])",
        project_id, keys,
    )
    return {r["idempotency_key"]: _row(r) for r in rows}


class EventRepository:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def list(
        self,
        project_id: uuid.UUID,
        *,
        person_id: uuid.UUID | None = None,
        identity: str | None = None,
        names: list[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        properties: list[PropertyFilter] | None = None,
        first: int,
        after: tuple[datetime, int] | None = None,
    ) -> list[EventRow]:
        """Newest first, (ts, seq) descending; returns up to first + 1 rows so the
        caller can tell whether there is a next page."""
        params = Params(project_id)
        where = ["e.project_id = $1", filters_sql("e.properties", properties, params)]
        if person_id is not None:
            where.append(f"e.person_id = {params.add(person_id)}")
        if identity is not None:
            # The events of the person the identity resolves to now.
            where.append(
                "e.person_id = (SELECT person_id FROM identities WHERE project_id = $1"
                f" AND identity = {params.add(identity)})"
            )
        if names is not None:
            where.append(f"e.name = ANY({params.add(names)}::text[])")
        if since is not None:
            where.append(f"e.ts >= {params.add(since)}")
        if until is not None:
            where.append(f"e.ts < {params.add(until)}")
        if after is not None:
            where.append(f"(e.ts, e.seq) < ({params.add(after[0])}, {params.add(after[1])})")
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM events e WHERE {' AND '.join(where)}"
            f" ORDER BY e.ts DESC, e.seq DESC LIMIT {params.add(first + 1)}",
            *params.values,
        )
        return [_row(r) for r in rows]

    async def by_ids(self, project_id: uuid.UUID, ids: builtins.list[uuid.UUID]) -> builtins.list[EventRow]:
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE project_id = $1 AND id = ANY($2::uuid[]) ORDER BY seq",
            project_id, ids,
        )
        return [_row(r) for r in rows]

    async def names(self, project_id: uuid.UUID, first: int) -> builtins.list[str]:
        rows = await self.pool.fetch(
            "SELECT name FROM events WHERE project_id = $1 GROUP BY name ORDER BY count(*) DESC, name LIMIT $2",
            project_id, first,
        )
        return [r["name"] for r in rows]
