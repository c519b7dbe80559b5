"""Event writes (one INSERT per group commit) and event reads."""
from __future__ import annotations

import builtins
import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from . import cluster
from .filters import Params, PropertyFilter, filters_sql
from .identity_cache import IdentityCache


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
# back unresolved and its events are not inserted. resolve_and_insert then
# runs the statement again, in the same transaction, for those identities and
# their events only (a new statement's snapshot sees them).
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


@dataclass(slots=True)
class Flush:
    """One project's part of a group commit: its identities (distinct) with
    the person each gets if it is new, and its events column by column, in
    the order they are inserted."""
    project_id: uuid.UUID
    identities: list[str]
    new_person_ids: list[uuid.UUID]
    ids: list[uuid.UUID]
    event_identities: list[str]
    names: list[str]
    properties_json: list[str]
    revenues: list[Decimal | None]
    timestamps: list[datetime]
    received: list[datetime]
    keys: list[str | None]

    def part(self, identities: list[int], events: list[int]) -> "Flush":
        """The flush of the identities and the events at these indexes (in
        the order given)."""
        return Flush(
            self.project_id, [self.identities[n] for n in identities], [self.new_person_ids[n] for n in identities],
            [self.ids[n] for n in events], [self.event_identities[n] for n in events],
            [self.names[n] for n in events], [self.properties_json[n] for n in events],
            [self.revenues[n] for n in events], [self.timestamps[n] for n in events],
            [self.received[n] for n in events], [self.keys[n] for n in events],
        )


@dataclass(slots=True)
class Resolved:
    """What a flush's statements did: the person each identity resolves to,
    the identities created, the events inserted as id -> (seq, person id),
    and, on Citus, the identity generation it ran at (app/storage/identity_cache.py)."""
    person_of: dict[str, uuid.UUID]
    created: set[str]
    inserted: dict[uuid.UUID, tuple[int, uuid.UUID]]
    generation: int | None = None


async def resolve_and_insert(conn: asyncpg.Connection, flush: Flush, persons: IdentityCache | None = None) -> Resolved:
    """In one round trip (more only when concurrent flushes create some of
    its new identities meanwhile, _RACE_ROUNDS): the person each of the
    flush's identities resolves to, creating an unidentified person (its
    `new_person_ids`) for each unknown one; the identities so created; and
    the events inserted in the given order. Events whose idempotency key exists already (or repeats in
    the batch) are skipped, and so are events of an identity missing from the
    returned map (see above). `persons`: the identities' persons the writer
    holds, used and filled on Citus only."""
    if cluster.on_citus(conn):
        return await _resolve_and_insert_distributed(conn, flush, persons)
    resolved = Resolved({}, set(), {})
    f = flush
    for _ in range(_RACE_ROUNDS):
        rows = await conn.fetch(
            _RECORD_SQL, f.project_id, f.identities, f.new_person_ids, f.ids, f.event_identities, f.names,
            f.properties_json, f.revenues, f.timestamps, f.received, f.keys,
        )
        for identity, person_id, event_id, seq, new in rows:
            if event_id is None:
                resolved.person_of[identity] = person_id
                if new:
                    resolved.created.add(identity)
            else:
                resolved.inserted[event_id] = (seq, person_id)
        if len(resolved.person_of) == len(flush.identities):
            break
        left = [n for n, identity in enumerate(f.identities) if identity not in resolved.person_of]
        names = {f.identities[n] for n in left}
        f = f.part(left, [n for n, identity in enumerate(f.event_identities) if identity in names])
    return resolved


# Statements per flush for identities that concurrent flushes (another
# worker's writer) created meanwhile: each further one sees what committed
# before it started; left unresolved after them, the caller rolls the whole
# flush back and runs it again. Rolling back at the first race redid a whole
# group of up to 2,000 events: three clients sending 1,000-event batches with
# overlapping new identities into two workers' writers ran 33-34 of 60
# flushes again from the start, and through HTTP 42 + 36 batches were
# refused UNAVAILABLE after the writer's eight attempts (docs/benchmarks.md
# §18.1, §18.8).
_RACE_ROUNDS = 3


@functools.lru_cache(maxsize=64)
def _claim_sql(count: int) -> str:
    """Claim `count` idempotency keys ($2…) of project $1: a multi-row VALUES,
    which Citus routes row by row to the keys' shards (one task per shard),
    where an INSERT … SELECT with ON CONFLICT or RETURNING would go through
    intermediate results on every shard."""
    rows = ", ".join(f"($1, ${n + 2})" for n in range(count))
    return f"INSERT INTO idempotency_keys (project_id, key) VALUES {rows} ON CONFLICT DO NOTHING RETURNING key"


_CLAIM_CHUNK = 1000  # keys per claim statement (a statement takes at most 32,767 parameters)


async def _resolve_and_insert_distributed(
    conn: asyncpg.Connection, flush: Flush, persons: IdentityCache | None
) -> Resolved:
    """resolve_and_insert on Citus (app/storage/cluster.py, docs/scaling.md).

    Citus runs an INSERT … SELECT with ON CONFLICT or RETURNING by way of
    intermediate results on every shard, several times slower than a COPY or
    a multi-row VALUES, which it routes row by row to the shards. So: the
    project's shared lock (instead of FOR SHARE on identity rows) and its
    identity generation; the identities' persons from `persons` where held
    at that generation, the others looked up, the unknown ones COPYed with
    their persons; the events' idempotency keys claimed in idempotency_keys
    (a key's shard sees it whichever person it is sent for: ON CONFLICT DO
    NOTHING waits for a flush that claimed it meanwhile, and the key is not
    ours if that one commits); the events' seq taken from their sequence on
    the coordinator, in the given order; then the events whose key is ours
    (the first of a batch's repeats) inserted. An identity that another
    transaction stored meanwhile fails the COPY with a unique violation
    (cluster.copy_new_rows): the writer rolls back and flushes again
    (RETRYABLE), and then finds it."""
    f = flush
    project_id, identities, keys = f.project_id, f.identities, f.keys
    # One round trip to the coordinator alone (whodid_flush_start,
    # db/migrations/0014_citus_identity_generations.sql): the project's shared
    # lock, one connection per worker for this transaction's statements
    # (parallel connections to the same worker cost more to open than they
    # save on a flush's few rows per shard: 2x faster measured), the identity
    # generation, and a seq per event (the unused ones of duplicates are
    # gaps, as a rollback leaves).
    started: list[int] = await conn.fetchval(
        "SELECT whodid_flush_start($1, $2, $3)", project_id, cluster.project_lock_key(project_id), len(keys),
    )
    generation, seqs = started[0], started[1:]
    held = persons.at(project_id, generation) if persons is not None else None
    person_of: dict[str, uuid.UUID] = {}
    unknown: list[str] = []
    for identity in identities:
        person = held.get(identity) if held is not None else None
        if person is None:
            unknown.append(identity)
        else:
            person_of[identity] = person
    created: set[str] = set()
    if unknown:
        found = {i: p for i, p in await conn.fetch(
            "SELECT identity, person_id FROM identities WHERE project_id = $1 AND identity = ANY($2::text[])",
            project_id, unknown,
        )}
        if held is not None and found:
            persons.keep(project_id, generation, found)  # committed rows, read under the lock
        person_of.update(found)
        if len(found) < len(unknown):
            new_person = dict(zip(identities, f.new_person_ids))
            missing = [(i, new_person[i]) for i in unknown if i not in found]
            await cluster.copy_new_rows(
                conn, "identities", ["project_id", "identity", "person_id"], [(project_id, i, p) for i, p in missing]
            )
            await cluster.copy_new_rows(conn, "persons", ["project_id", "id"], [(project_id, p) for _, p in missing])
            for identity, person_id in missing:
                person_of[identity] = person_id
                created.add(identity)
    # Sorted: flushes that claim the same keys wait for each other in one order.
    wanted = sorted({k for k in keys if k is not None})
    fresh: set[str] = set()
    for at in range(0, len(wanted), _CLAIM_CHUNK):
        chunk = wanted[at:at + _CLAIM_CHUNK]
        fresh.update(r[0] for r in await conn.fetch(_claim_sql(len(chunk)), project_id, *chunk))
    take: list[int] = []  # the events to insert: no key, or the first with a key new to the project
    for n, key in enumerate(keys):
        if key is None:
            take.append(n)
        elif key in fresh:
            fresh.discard(key)
            take.append(n)
    inserted: dict[uuid.UUID, tuple[int, uuid.UUID]] = {}
    if take:
        t = f.part([], take)
        seqs = seqs[:len(take)]
        people = [person_of[identity] for identity in t.event_identities]
        for event_id, seq, person_id in zip(t.ids, seqs, people):
            inserted[event_id] = (seq, person_id)
        # (Not a COPY: the pool's jsonb codec is text, a binary COPY needs binary;
        # with neither ON CONFLICT nor RETURNING Citus COPYs the rows itself.)
        await conn.execute(
            "INSERT INTO events (project_id, id, seq, person_id, identity, name, properties, revenue, ts,"
            " received_at, idempotency_key) OVERRIDING SYSTEM VALUE"
            " SELECT $1, t.id, t.seq, t.person, t.identity, t.name, t.props::jsonb, t.revenue, t.ts, t.received, t.key"
            " FROM unnest($2::uuid[], $3::bigint[], $4::uuid[], $5::text[], $6::text[], $7::text[],"
            "             $8::numeric[], $9::timestamptz[], $10::timestamptz[], $11::text[])"
            " AS t(id, seq, person, identity, name, props, revenue, ts, received, key)",
            project_id, t.ids, seqs, people, t.event_identities, t.names, t.properties_json, t.revenues,
            t.timestamps, t.received, t.keys,
        )
    return Resolved(person_of, created, inserted, generation)


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
