"""Projects and their hashed keys, and the notification that a project's keys
changed (so that per-process key caches drop what they hold)."""
from __future__ import annotations

import asyncio
import logging
import random
import uuid
from dataclasses import dataclass
from typing import Awaitable, Callable

import asyncpg

log = logging.getLogger("whodid.keys")

# NOTIFY channel: a project's keys changed (payload: the project id). Sent in
# the same statement as the change, so it is delivered when, and only if, the
# change commits.
KEYS_CHANNEL = "whodid_keys"


@dataclass(frozen=True)
class ProjectRow:
    id: uuid.UUID
    name: str


class ProjectRepository:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def count(self) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM projects")

    async def create(self, name: str, write_hash: bytes, read_hash: bytes) -> ProjectRow | None:
        """None when the name is taken."""
        pid = uuid.uuid4()
        row = await self.pool.fetchrow(
            "INSERT INTO projects(id, name, write_key_hash, read_key_hash) VALUES ($1,$2,$3,$4)"
            " ON CONFLICT (name) DO NOTHING RETURNING id, name",
            pid, name, write_hash, read_hash,
        )
        return ProjectRow(row["id"], row["name"]) if row else None

    async def set_keys(self, name: str, write_hash: bytes, read_hash: bytes) -> ProjectRow | None:
        row = await self.pool.fetchrow(
            "WITH changed AS (UPDATE projects SET write_key_hash = $2, read_key_hash = $3 WHERE name = $1"
            " RETURNING id, name)"
            " SELECT id, name, pg_notify($4, id::text) FROM changed",
            name, write_hash, read_hash, KEYS_CHANNEL,
        )
        return ProjectRow(row["id"], row["name"]) if row else None

    async def by_key_hash(self, key_hash: bytes) -> tuple[ProjectRow, str] | None:
        """The project whose write or read key has this hash, and which role."""
        row = await self.pool.fetchrow(
            "SELECT id, name, (read_key_hash = $1) AS is_read FROM projects"
            " WHERE write_key_hash = $1 OR read_key_hash = $1",
            key_hash,
        )
        if row is None:
            return None
        return ProjectRow(row["id"], row["name"]), ("read" if row["is_read"] else "write")

    async def by_name(self, name: str) -> ProjectRow | None:
        row = await self.pool.fetchrow("SELECT id, name FROM projects WHERE name = $1", name)
        return ProjectRow(row["id"], row["name"]) if row else None


def pool_connector(pool: asyncpg.Pool) -> Callable[[], Awaitable[asyncpg.Connection]]:
    """Connect with the same arguments as the pool's connections (a dedicated
    connection: LISTEN is session state a pool connection must not carry)."""
    args = list(getattr(pool, "_connect_args", ()))
    kwargs = dict(getattr(pool, "_connect_kwargs", {}))

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(*args, **kwargs)

    return connect


class KeyChangeListener:
    """One dedicated connection that LISTENs on KEYS_CHANNEL.

    `on_change()` is called for every notification, and also whenever the
    listener stops or starts listening (a notification may have been missed
    while it was not). `listening` is True only while LISTEN is active on a
    live connection: a cache must not serve anything while it is False.
    The connection is watched (termination callback, and a `SELECT 1` every
    `health_interval` seconds) and re-established with backoff."""

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], on_change: Callable[[], None], *,
                 health_interval: float = 5.0, min_backoff: float = 0.05, max_backoff: float = 5.0):
        self._connect = connect
        self._on_change = on_change
        self.health_interval = health_interval
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.listening = False
        self._ready = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closed = False

    async def start(self, wait: float = 5.0) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="key-listener")
        try:
            await asyncio.wait_for(self._ready.wait(), wait)
        except asyncio.TimeoutError:
            log.warning("keys: not listening yet (database unreachable?); keys are checked on every request")

    async def close(self) -> None:
        self._closed = True
        self._set_listening(False)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _set_listening(self, value: bool) -> None:
        self.listening = value
        self._on_change()

    def _notified(self, conn, pid, channel, payload) -> None:
        self._on_change()

    async def _run(self) -> None:
        backoff = self.min_backoff
        while not self._closed:
            conn = None
            lost = asyncio.Event()
            try:
                conn = await asyncio.wait_for(self._connect(), timeout=10)
                conn.add_termination_listener(lambda _c: (self._set_listening(False), lost.set()))
                await conn.add_listener(KEYS_CHANNEL, self._notified)
                self._set_listening(True)
                self._ready.set()
                backoff = self.min_backoff
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), self.health_interval)
                    except asyncio.TimeoutError:
                        await conn.fetchval("SELECT 1", timeout=5)
                log.warning("keys: the LISTEN connection was lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: stop caching, reconnect
                log.warning("keys: LISTEN connection failed (%s: %s); reconnecting", type(exc).__name__, exc)
            finally:
                if self.listening:
                    self._set_listening(False)
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            if self._closed:
                return
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, self.max_backoff)
