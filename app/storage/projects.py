"""Projects and their hashed keys, and the notification that a project's keys
changed (so that per-process key caches drop what they hold: app/auth.py,
through the process's listener, app/storage/listener.py)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

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
