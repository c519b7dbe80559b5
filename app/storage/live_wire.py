"""The NOTIFY payload of the live channel: what one committed flush of one
project looks like on the wire between worker processes.

    <project id, 32 hex digits>:[entry, entry, ...]

Entries are in commit order (seq). An entry is the whole event as a JSON array

    [id, seq, name, person id, identity, properties, revenue text | null,
     timestamp, received_at]

(ids as UUID text, revenue as its exact decimal text, times as RFC 3339), so
that a listening process delivers it without reading the database; or, for an
event whose array is larger than INLINE_MAX bytes, its id alone (a JSON
string), which each listening process with a subscriber of the project
fetches (one EventRepository.by_ids query per payload); so do all the events
of a flush of more than INLINE_ROWS events (bulk batches, imports), which keeps
the writer's cost to a join of ids there. PostgreSQL refuses
payloads of 8000 bytes or more: a flush's entries are packed into as few
payloads of at most MAX_PAYLOAD bytes as they fill, and the writer sends them
all with one statement. Encoding costs the writer 1-2 µs an inline event. The
project id comes first so that a process with no subscriber of that project
skips the payload unparsed."""
from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Union

import orjson

from .events import EventRow

CHANNEL = "whodid_events"
# PostgreSQL's limit is 8000 bytes; stay well below.
MAX_PAYLOAD = 7000
# An event whose array is larger than this travels by id.
INLINE_MAX = 1500
# A flush of more events than this (a bulk batch, an import) travels by id:
# the writer then only joins ids, and only processes with a subscriber of the
# project read the rows back.
INLINE_ROWS = 100

# A decoded entry: the row itself, or the id of a row to fetch.
Entry = Union[EventRow, uuid.UUID]


def _array(row: EventRow) -> list:
    return [row.id, row.seq, row.name, row.person_id, row.identity, row.properties,
            row.revenue, row.timestamp, row.received_at]


def encode(project_id: uuid.UUID, rows: list[EventRow], *, max_payload: int = MAX_PAYLOAD) -> list[str]:
    """The payloads announcing `rows` (one project's rows of one transaction),
    in commit order, each at most `max_payload` bytes of UTF-8."""
    if not rows:
        return []
    prefix = project_id.hex.encode() + b":["
    payloads: list[str] = []
    current = bytearray(prefix)
    inline = len(rows) <= INLINE_ROWS
    for row in sorted(rows, key=lambda r: r.seq):
        # One entry at a time, appended at once: orjson's buffers are reused
        # (keeping hundreds of small results alive costs 3x as much).
        # default=str: asyncpg's UUID subclass and Decimal as their text.
        entry = orjson.dumps(_array(row), default=str) if inline else b""
        if not inline or len(entry) > INLINE_MAX:
            entry = b'"' + str(row.id).encode() + b'"'
        if len(current) > len(prefix) and len(current) + 1 + len(entry) + 1 > max_payload:
            current += b"]"
            payloads.append(current.decode())
            current = bytearray(prefix)
        if len(current) > len(prefix):
            current += b","
        current += entry
    current += b"]"
    payloads.append(current.decode())
    return payloads


# `<project hex>!["<person id>", ...]`: these people were deleted (deletePerson).
# Sent in the deleting transaction, so a process receives it after every
# payload of their events that committed before (app/live/bus.py drops those
# still queued).
FORGET_MARK = "!"


def encode_forget(project_id: uuid.UUID, person_ids: list[uuid.UUID]) -> str:
    return project_id.hex + FORGET_MARK + orjson.dumps([str(p) for p in person_ids]).decode()


def is_forget(payload: str) -> bool:
    return payload[32:33] == FORGET_MARK


def decode_forget(payload: str) -> set[uuid.UUID]:
    return {uuid.UUID(i) for i in orjson.loads(payload[33:])}


def project_hex(payload: str) -> str:
    """The project id (32 hex digits) a payload belongs to, without parsing it."""
    return payload[:32]


def decode(payload: str) -> tuple[uuid.UUID, list[Entry]]:
    """The project and the entries of a payload (rows and ids to fetch)."""
    project = uuid.UUID(hex=payload[:32])
    out: list[Entry] = []
    for item in orjson.loads(payload[33:]):
        if isinstance(item, str):
            out.append(uuid.UUID(item))
        else:
            out.append(EventRow(
                id=uuid.UUID(item[0]), seq=item[1], name=item[2], person_id=uuid.UUID(item[3]),
                identity=item[4], properties=item[5], revenue=None if item[6] is None else Decimal(item[6]),
                timestamp=datetime.fromisoformat(item[7]), received_at=datetime.fromisoformat(item[8]),
            ))
    return project, out
