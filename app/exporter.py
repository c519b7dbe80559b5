"""`whodid export`: a project's data as Kissmetrics export JSON lines, the
format `whodid import` reads (app/importer.py), so that export -> import into
an empty project gives the same people, events and reports.

Lines, all from one snapshot (a read-only REPEATABLE READ transaction):

1. aliases: for every person with more than one identity, `{"_p": first,
   "_p2": other}` per other identity, timed at the earliest instant exported
   (the importer replays in time order, file order breaking ties: the people
   exist, linked, before any of their events);
2. property sets: every property change, `{"_p": first identity, "_t": at,
   key: value}` (the history, so the current values come out the same);
3. events in (timestamp, seq) order, `{"_n", "_p": the identity sent, "_t",
   ...properties}`, read through a server-side cursor (constant memory).

`_t` is exact to the microsecond (a decimal number of seconds), so ordering,
periods and the importer's duplicate key (identity, name, _t) keep their
meaning. An event is written with its properties' JSON text as stored (no
decode and encode again). What the format cannot carry: events whose
properties use a reserved key (_p, _p2, _n, _t, _d, _k) are skipped and
counted; GraphQL idempotency ids become the Kissmetrics key; person ids are
new in the importing project (uuid5 of that project)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import BinaryIO, Callable

import asyncpg
import orjson

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
RESERVED = ["_p", "_p2", "_n", "_t", "_d", "_k"]
CURSOR_PREFETCH = 2000
WRITE_CHUNK = 1 << 20


@dataclass
class ExportStats:
    events: int = 0
    aliases: int = 0
    property_sets: int = 0
    skipped: int = 0


def unix_text(at: datetime) -> bytes:
    """Exact unix seconds: integer, or with up to 6 decimals."""
    delta = at - EPOCH
    seconds = delta.days * 86400 + delta.seconds
    if delta.microseconds:
        return f"{seconds}.{delta.microseconds:06d}".rstrip("0").encode()
    return str(seconds).encode()


def _range_sql(since: datetime | None, until: datetime | None, params: list) -> str:
    where = ""
    if since is not None:
        params.append(since)
        where += f" AND ts >= ${len(params)}"
    if until is not None:
        params.append(until)
        where += f" AND ts < ${len(params)}"
    return where


async def export_project(
    pool: asyncpg.Pool,
    project_id: uuid.UUID,
    out: BinaryIO,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Callable[[int], Callable[[int], object]] | None = None,
) -> ExportStats:
    stats = ExportStats()
    buffer = bytearray()

    def emit(line: bytes) -> None:
        buffer.extend(line)
        buffer.extend(b"\n")
        if len(buffer) >= WRITE_CHUNK:
            out.write(buffer)
            buffer.clear()

    params: list = [project_id]
    in_range = _range_sql(since, until, params)  # $2, $3
    event_params: list = [project_id, RESERVED]
    events_in_range = _range_sql(since, until, event_params)  # $3, $4
    async with pool.acquire() as conn:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            event_count = await conn.fetchval(
                f"SELECT count(*) FROM events WHERE project_id = $1 {in_range}", *params)
            people = await conn.fetch(
                "SELECT person_id, array_agg(identity ORDER BY created_at, identity) AS identities"
                " FROM identities WHERE project_id = $1 GROUP BY person_id", project_id)
            first_of = {r["person_id"]: r["identities"][0] for r in people}
            alias_count = sum(len(r["identities"]) - 1 for r in people)
            change_count = await conn.fetchval(
                "SELECT count(*) FROM property_changes WHERE project_id = $1", project_id)
            update = progress(event_count + alias_count + change_count) if progress else (lambda n: None)
            start = await conn.fetchval(
                f"SELECT least((SELECT min(ts) FROM events WHERE project_id = $1 {in_range}),"
                " (SELECT min(at) FROM property_changes WHERE project_id = $1))", *params)
            if start is None:
                return stats
            start_text = unix_text(start)

            for person in people:
                first, *others = person["identities"]
                for other in others:
                    emit(b'{"_p":' + orjson.dumps(first) + b',"_p2":' + orjson.dumps(other)
                         + b',"_t":' + start_text + b"}")
                    stats.aliases += 1
                update(len(others))

            changes = conn.cursor(
                "SELECT person_id, key, value::text AS value, at FROM property_changes WHERE project_id = $1"
                " ORDER BY at, seq", project_id, prefetch=CURSOR_PREFETCH)
            async for change in changes:
                identity = first_of.get(change["person_id"])
                if identity is None or change["key"] in RESERVED:
                    stats.skipped += 1
                else:
                    emit(b'{"_p":' + orjson.dumps(identity) + b',"_t":' + unix_text(change["at"]) + b","
                         + orjson.dumps(change["key"]) + b":" + change["value"].encode() + b"}")
                    stats.property_sets += 1
                update(1)

            events = conn.cursor(
                "SELECT name, identity, properties::text AS properties, ts, properties ?| $2::text[] AS reserved"
                f" FROM events WHERE project_id = $1 {events_in_range} ORDER BY ts, seq",
                *event_params, prefetch=CURSOR_PREFETCH)
            counted = 0
            async for event in events:
                if event["reserved"]:
                    stats.skipped += 1
                else:
                    properties = event["properties"].encode()
                    rest = b"}" if properties == b"{}" else b"," + properties[1:]
                    emit(b'{"_n":' + orjson.dumps(event["name"]) + b',"_p":' + orjson.dumps(event["identity"])
                         + b',"_t":' + unix_text(event["ts"]) + rest)
                    stats.events += 1
                counted += 1
                if counted == 1000:
                    update(counted)
                    counted = 0
            update(counted)
    out.write(buffer)
    out.flush()
    return stats
