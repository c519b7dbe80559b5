"""The few reads the live bus makes itself (everything else arrives by NOTIFY):
which person identities resolve to, and which events committed while the
LISTEN connection was down. Rows are fetched with EventRepository.by_ids."""
from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg


async def resolve_identities(pool: asyncpg.Pool, project_id: uuid.UUID, identities: list[str]) -> dict[str, uuid.UUID]:
    rows = await pool.fetch(
        "SELECT identity, person_id FROM identities WHERE project_id = $1 AND identity = ANY($2::text[])",
        project_id, identities,
    )
    return {r["identity"]: r["person_id"] for r in rows}


async def recent_event_ids(
    pool: asyncpg.Pool, project_id: uuid.UUID, *, ts_since: datetime, received_since: datetime, limit: int
) -> list[uuid.UUID]:
    """Ids of the newest `limit` events received since `received_since`, oldest
    first. `ts_since` only bounds the index range scan (events_ts)."""
    rows = await pool.fetch(
        "SELECT id FROM (SELECT id, seq FROM events WHERE project_id = $1 AND ts >= $2 AND received_at >= $3"
        " ORDER BY seq DESC LIMIT $4) t ORDER BY seq",
        project_id, ts_since, received_since, limit,
    )
    return [r["id"] for r in rows]
