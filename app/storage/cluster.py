"""Whether the database is a Citus cluster (docs/scaling.md), and the
coordinator-side locks that take the place of row locks there.

On plain PostgreSQL nothing here changes a statement: every storage function
keeps its one-statement fast path. On Citus (the citus extension is in the
database; `whodid migrate` then distributes the tables by person, see
db/migrations/0013_citus.sql) a few storage functions take another path,
because Citus cannot lock rows FOR SHARE/UPDATE across shards nor UPDATE a
distribution column:

- a flush of the writer holds a *shared* advisory lock of its project on the
  coordinator until it commits (instead of FOR SHARE on the identity rows);
- a link (identify, alias) and a person's deletion hold the project's lock
  *exclusively*: they wait for the flushes in progress, and the flushes after
  them resolve their identities once they have committed. The merge moves the
  loser's rows to the survivor's shard under that lock;
- whatever changes or removes an identity row that exists (a merge, a
  deletion) also grows the project's identity generation
  (`identities_changed`), which a flush reads under its shared lock: the
  writer's identities held in memory (app/storage/identity_cache.py) are used
  only at the generation they were read at.

So the rule of app/storage/identities.py holds: an event is committed before a
merge moves the loser's rows (and moves with them) or resolves its identity
after the merge (and lands on the survivor). whodid connects to the coordinator
only, where every advisory lock is taken."""
from __future__ import annotations

import re
import uuid
import weakref

import asyncpg

_CITUS: "weakref.WeakSet[object]" = weakref.WeakSet()
# Pools take no weak reference: the (few, long-lived) pools of a Citus database.
_CITUS_POOLS: set[int] = set()
_POOLS: list[asyncpg.Pool] = []

IS_CITUS_SQL = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')"


def _raw(conn: object) -> object:
    # A pool's connection proxy stands for the connection it holds.
    return getattr(conn, "_con", None) or conn


async def note_connection(conn: asyncpg.Connection) -> None:
    """Remember whether this (new) connection is to a Citus coordinator.

    On Citus the session also stops hiding shards from pg_class
    (citus.override_table_visibility): the coordinator holds none, but the
    filter runs on every pg_class row a catalog query reads, and asyncpg's
    type introspection (once per connection and array type) took ~1.4 s and
    ~0.5 s of the coordinator's CPU with it, 35 ms without (docs/benchmarks.md
    §16.6). whodid connects to the coordinator only."""
    if await conn.fetchval(IS_CITUS_SQL):
        _CITUS.add(_raw(conn))
        await conn.execute("SET citus.override_table_visibility = off")


async def note_pool(pool: asyncpg.Pool) -> None:
    """Remember a pool of a Citus database (its first connection tells; a
    server that does not answer yet is asked again through on_citus)."""
    try:
        async with pool.acquire() as conn:
            on_citus(conn)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        pass
    on_citus(pool)


def on_citus(conn_or_pool: object) -> bool:
    """True for a connection (or a pool) of a database with the citus extension."""
    if isinstance(conn_or_pool, asyncpg.Pool):
        if id(conn_or_pool) in _CITUS_POOLS:
            return True
        # Any of its connections (private asyncpg attributes: a pool of
        # holders, each with its connection or None).
        for holder in getattr(conn_or_pool, "_holders", ()):
            if getattr(holder, "_con", None) in _CITUS:
                _CITUS_POOLS.add(id(conn_or_pool))
                _POOLS.append(conn_or_pool)  # kept, so that its id is never another's
                return True
        return False
    return _raw(conn_or_pool) in _CITUS


def project_lock_key(project_id: uuid.UUID) -> int:
    """The project's advisory lock key (a signed 64-bit integer)."""
    return int.from_bytes(project_id.bytes[:8], "big", signed=True)


async def share_project(conn: asyncpg.Connection, project_id: uuid.UUID) -> None:
    """A writer's hold on the project until its transaction ends (Citus only)."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", project_lock_key(project_id))


async def own_project(conn: asyncpg.Connection, project_id: uuid.UUID) -> None:
    """A link's or a deletion's exclusive hold until its transaction ends (Citus only)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", project_lock_key(project_id))


async def identities_changed(conn: asyncpg.Connection, project_id: uuid.UUID) -> None:
    """Citus only, in the transaction that changes or removes identity rows
    that exist (a merge, a deletion), under the project's exclusive lock: the
    project's identity generation grows, so that no writer uses an identity's
    person held from before (app/storage/identity_cache.py). A coordinator
    table, committed with the transaction (a rollback undoes it)."""
    await conn.execute(
        "INSERT INTO identity_generations (project_id, generation) VALUES ($1, 1)"
        " ON CONFLICT (project_id) DO UPDATE SET generation = identity_generations.generation + 1",
        project_id,
    )


async def copy_new_rows(conn: asyncpg.Connection, table: str, columns: list[str], records: list[tuple]) -> None:
    """COPY rows whose primary key another transaction may have stored
    meanwhile (a flush's new identities and their persons; its idempotency
    keys are claimed with ON CONFLICT DO NOTHING instead, no COPY). Citus
    reports a shard's unique violation during a COPY as an internal error
    (XX000) carrying the shard's message, not as the unique violation (23505)
    the writer runs a flush again for (measured, Citus 13.2.2: the flush failed
    instead, its events lost): raised here as that UniqueViolationError. The
    shard's constraint is the table's with the shard id, `identities_pkey_102023`
    (a name: the same in every lc_messages)."""
    try:
        await conn.copy_records_to_table(table, columns=columns, records=records)
    except asyncpg.InternalServerError as exc:
        if not re.search(rf"\b{table}_pkey_\d+\b", exc.message or ""):
            raise
        unique = asyncpg.UniqueViolationError(exc.message)
        unique.detail = getattr(exc, "detail", None)
        raise unique from exc


# ---------------------------------------------------------------- reports on Citus

# The tables a report statement may read, shadowed on Citus (below).
_PROJECT_TABLES = ("events", "persons", "property_changes", "identities")
_WORDS = {t: re.compile(rf"\b{t}\b") for t in _PROJECT_TABLES}


def on_coordinator(sql: str) -> str:
    """A report statement for Citus: every table it names is shadowed by a
    MATERIALIZED CTE of the same name holding the project's rows ($1 is the
    project in every report statement), read by a PL/pgSQL function whose
    query Citus runs on every shard (db/migrations/0013_citus.sql). The
    statement itself then holds no distributed table and runs on the
    coordinator as on plain PostgreSQL (recursive CTEs, any join). Exact for
    any SQL, but it moves the project's rows there: the per-shard pushdown of
    each report (docs/scaling.md, "Not yet") would not."""
    used = [t for t in _PROJECT_TABLES if _WORDS[t].search(sql)]
    if not used or "whodid_project_" in sql:  # (or shadowed already)
        return sql
    ctes = ", ".join(f"{t} AS MATERIALIZED (SELECT * FROM whodid_project_{t}($1::uuid))" for t in used)
    head = sql.lstrip()
    if head[:4].upper() == "WITH":
        rest = head[4:].lstrip()
        if rest[:9].upper() == "RECURSIVE":
            return f"WITH RECURSIVE {ctes},\n{rest[9:]}"
        return f"WITH {ctes},\n{rest}"
    return f"WITH {ctes}\n{head}"


class CoordinatorReads:
    """A connection whose fetch/fetchrow/fetchval run on_coordinator(sql)."""

    def __init__(self, conn: asyncpg.Connection):
        self._conn = conn

    async def fetch(self, sql: str, *args, **kwargs):
        return await self._conn.fetch(on_coordinator(sql), *args, **kwargs)

    async def fetchrow(self, sql: str, *args, **kwargs):
        return await self._conn.fetchrow(on_coordinator(sql), *args, **kwargs)

    async def fetchval(self, sql: str, *args, **kwargs):
        return await self._conn.fetchval(on_coordinator(sql), *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


def reads(conn_or_pool):
    """What a report reads through: on Citus, its statements on_coordinator."""
    if isinstance(conn_or_pool, CoordinatorReads) or not on_citus(conn_or_pool):
        return conn_or_pool
    return CoordinatorReads(conn_or_pool)
