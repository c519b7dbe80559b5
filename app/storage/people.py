"""Person reads, and the property writes that keep persons.properties current."""
from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from . import cluster
from .filters import Params, PropertyFilter, filters_sql


@dataclass(frozen=True)
class PersonRow:
    id: uuid.UUID
    identities: list[str]
    identified: bool
    properties: dict
    first_seen: datetime | None
    last_seen: datetime | None
    lifetime_revenue: Decimal
    created_at: datetime


@dataclass(frozen=True)
class PropertyChangeRow:
    key: str
    value: Any
    at: datetime


async def insert_property_changes(
    conn: asyncpg.Connection,
    project_id: uuid.UUID,
    person_ids: list[uuid.UUID],
    keys: list[str],
    values_json: list[str],
    ats: list[datetime],
) -> None:
    await conn.execute(
        "INSERT INTO property_changes (project_id, person_id, key, value, at)"
        " SELECT $1, t.p, t.k, t.v::jsonb, t.a FROM unnest($2::uuid[], $3::text[], $4::text[], $5::timestamptz[])"
        " AS t(p, k, v, a)",
        project_id, person_ids, keys, values_json, ats,
    )


async def refresh_properties(conn: asyncpg.Connection, project_id: uuid.UUID, person_ids: list[uuid.UUID]) -> None:
    """Recompute persons.properties from the history: latest `at` wins, ties by
    receive order (seq)."""
    await conn.execute(
        """
        UPDATE persons p SET properties = COALESCE((
            SELECT jsonb_object_agg(c.key, c.value) FROM (
                SELECT DISTINCT ON (key) key, value FROM property_changes
                WHERE project_id = p.project_id AND person_id = p.id
                ORDER BY key, at DESC, seq DESC) c), '{}'::jsonb)
        WHERE p.project_id = $1 AND p.id = ANY($2::uuid[])
        """,
        project_id, sorted(set(person_ids)),
    )


_PERSON_COLUMNS = """
    p.id, p.identified, p.properties, p.created_at,
    ARRAY(SELECT i.identity FROM identities i WHERE i.project_id = p.project_id AND i.person_id = p.id
          ORDER BY i.created_at, i.identity) AS identities,
    (SELECT min(e.ts) FROM events e WHERE e.project_id = p.project_id AND e.person_id = p.id) AS first_seen,
    (SELECT max(e.ts) FROM events e WHERE e.project_id = p.project_id AND e.person_id = p.id) AS last_seen,
    COALESCE((SELECT sum(e.revenue) FROM events e
              WHERE e.project_id = p.project_id AND e.person_id = p.id AND e.revenue IS NOT NULL), 0)
      AS lifetime_revenue
"""


# On Citus identities are on other shards than their persons (distributed by
# identity): the person columns without them, and the identities of a page of
# people fetched by a second query (_with_identities).
_PERSON_COLUMNS_CITUS = _PERSON_COLUMNS.replace(
    """ARRAY(SELECT i.identity FROM identities i WHERE i.project_id = p.project_id AND i.person_id = p.id
          ORDER BY i.created_at, i.identity)""", "NULL::text[]")
assert _PERSON_COLUMNS_CITUS != _PERSON_COLUMNS


def _columns(pool) -> str:
    return _PERSON_COLUMNS_CITUS if cluster.on_citus(pool) else _PERSON_COLUMNS


async def _with_identities(pool, project_id: uuid.UUID, rows: list) -> list[dict]:
    """The records, with their identities filled in on Citus (as dicts)."""
    if not rows or not cluster.on_citus(pool):
        return list(rows)
    out = [dict(r) for r in rows]
    if out:
        found: dict[uuid.UUID, list[str]] = {}
        for r in await pool.fetch(
            "SELECT person_id, identity FROM identities WHERE project_id = $1 AND person_id = ANY($2::uuid[])"
            " ORDER BY created_at, identity",
            project_id, [r["id"] for r in out],
        ):
            found.setdefault(r["person_id"], []).append(r["identity"])
        for r in out:
            r["identities"] = found.get(r["id"], [])
    return out


def _row(r) -> PersonRow:
    return PersonRow(
        id=r["id"], identities=list(r["identities"]), identified=r["identified"], properties=r["properties"],
        first_seen=r["first_seen"], last_seen=r["last_seen"], lifetime_revenue=r["lifetime_revenue"],
        created_at=r["created_at"],
    )


class PeopleRepository:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def by_identity(self, project_id: uuid.UUID, identity: str) -> PersonRow | None:
        if cluster.on_citus(self.pool):
            person_id = await self.pool.fetchval(
                "SELECT person_id FROM identities WHERE project_id = $1 AND identity = $2", project_id, identity
            )
            if person_id is None:
                return None
            rows = await self.pool.fetch(
                f"SELECT {_PERSON_COLUMNS_CITUS} FROM persons p WHERE p.project_id = $1 AND p.id = $2",
                project_id, person_id,
            )
            return _row((await _with_identities(self.pool, project_id, rows))[0]) if rows else None
        r = await self.pool.fetchrow(
            f"SELECT {_PERSON_COLUMNS} FROM identities i0 JOIN persons p"
            " ON p.project_id = i0.project_id AND p.id = i0.person_id"
            " WHERE i0.project_id = $1 AND i0.identity = $2",
            project_id, identity,
        )
        return _row(r) if r else None

    async def by_ids(self, project_id: uuid.UUID, ids: list[uuid.UUID]) -> dict[uuid.UUID, PersonRow]:
        """Live persons by id; a merged-away id maps to its survivor."""
        if cluster.on_citus(self.pool):
            live = {
                r["asked"]: r["live"] for r in await self.pool.fetch(
                    "SELECT id AS asked, COALESCE(merged_into, id) AS live FROM persons"
                    " WHERE project_id = $1 AND id = ANY($2::uuid[])",
                    project_id, ids,
                )
            }
            found = await _with_identities(self.pool, project_id, await self.pool.fetch(
                f"SELECT {_PERSON_COLUMNS_CITUS} FROM persons p WHERE p.project_id = $1 AND p.id = ANY($2::uuid[])",
                project_id, sorted(set(live.values())),
            ))
            by_id = {r["id"]: _row(r) for r in found}
            return {asked: by_id[person] for asked, person in live.items() if person in by_id}
        rows = await self.pool.fetch(
            f"""
            SELECT q.asked, {_PERSON_COLUMNS}
            FROM (SELECT DISTINCT ON (a.asked) a.asked, COALESCE(m.merged_into, m.id) AS live
                  FROM unnest($2::uuid[]) AS a(asked)
                  JOIN persons m ON m.project_id = $1 AND m.id = a.asked) q
            JOIN persons p ON p.project_id = $1 AND p.id = q.live
            """,
            project_id, ids,
        )
        return {r["asked"]: _row(r) for r in rows}

    async def list(
        self,
        project_id: uuid.UUID,
        *,
        properties: list[PropertyFilter] | None,
        did_event: str | None,
        since: datetime | None,
        until: datetime | None,
        first: int,
        after: tuple[datetime, uuid.UUID] | None,
    ) -> tuple[list[PersonRow], int]:
        """A page of live people in (created_at, id) order, and the total count."""
        params = Params(project_id)
        where = ["p.project_id = $1", "p.merged_into IS NULL", filters_sql("p.properties", properties, params)]
        if did_event is not None:
            cond = [f"e.name = {params.add(did_event)}"]
            if since is not None:
                cond.append(f"e.ts >= {params.add(since)}")
            if until is not None:
                cond.append(f"e.ts < {params.add(until)}")
            where.append(
                "EXISTS (SELECT 1 FROM events e WHERE e.project_id = p.project_id AND e.person_id = p.id AND "
                + " AND ".join(cond) + ")"
            )
        where_sql = " AND ".join(where)
        count_params = list(params.values)
        total = await self.pool.fetchval(f"SELECT count(*) FROM persons p WHERE {where_sql}", *count_params)
        if after is not None:
            where_sql += f" AND (p.created_at, p.id) > ({params.add(after[0])}, {params.add(after[1])})"
        rows = await self.pool.fetch(
            f"SELECT {_columns(self.pool)} FROM persons p WHERE {where_sql}"
            f" ORDER BY p.created_at, p.id LIMIT {params.add(first + 1)}",
            *params.values,
        )
        return [_row(r) for r in await _with_identities(self.pool, project_id, rows)], total

    async def property_history(
        self, project_id: uuid.UUID, person_id: uuid.UUID, key: str
    ) -> builtins.list[PropertyChangeRow]:
        rows = await self.pool.fetch(
            "SELECT key, value, at FROM property_changes WHERE project_id = $1 AND person_id = $2 AND key = $3"
            " ORDER BY at, seq",
            project_id, person_id, key,
        )
        return [PropertyChangeRow(r["key"], r["value"], r["at"]) for r in rows]
