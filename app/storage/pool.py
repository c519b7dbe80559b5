"""The asyncpg pool and the codecs every connection gets."""
from __future__ import annotations

import asyncpg
import orjson

from . import cluster


# What a lost or refusing database raises: callers map these to "unavailable".
CONNECTION_ERRORS = (
    OSError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)

# What PostgreSQL raises for text it cannot hold (the NUL character, in text or
# in jsonb): the caller's input, so callers map these to "bad input".
TEXT_ERRORS = (
    asyncpg.CharacterNotInRepertoireError,
    asyncpg.UntranslatableCharacterError,
)


def _dumps(value) -> str:
    return orjson.dumps(value).decode()


async def init_connection(conn: asyncpg.Connection) -> None:
    # Citus or not: a few storage functions take another path there
    # (app/storage/cluster.py). First: on Citus it also makes asyncpg's type
    # introspection (below, and for each new array type a statement uses) fast.
    await cluster.note_connection(conn)
    # JSON travels as text through orjson: faster than the stdlib json codec.
    for typename in ("jsonb", "json"):
        await conn.set_type_codec(typename, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool connections carry no session state (no LISTEN, no SET, no advisory
    locks outside migrations, which use their own connection), so the default
    reset on release, a round trip per acquire, buys nothing."""


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=init_connection,
        reset=_keep_session,
        # Statement cache per connection; reports are parameterised so it hits.
        statement_cache_size=512,
    )
    await cluster.note_pool(pool)
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    return conn
