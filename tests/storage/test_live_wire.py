"""The NOTIFY payload: exact round trip, large events by id, splitting under
PostgreSQL's 8000-byte limit, commit order."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal

import orjson

from app.storage import live_wire as wire
from app.storage.events import EventRow

PROJECT = uuid.UUID("6f1d0c1e-0000-4000-8000-000000000001")


def row(seq: int, *, name: str = "Signed Up", properties: dict | None = None, revenue: Decimal | None = None) -> EventRow:
    return EventRow(
        id=uuid.uuid4(), seq=seq, name=name, person_id=uuid.uuid5(PROJECT, f"p{seq}"), identity=f"user-{seq}",
        properties=properties if properties is not None else {"Plan": "pro", "n": seq},
        revenue=revenue, timestamp=datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone.utc),
        received_at=datetime(2026, 3, 1, 12, 30, 16, 654321, tzinfo=timezone.utc),
    )


def test_small_rows_round_trip_exactly():
    rows = [row(1, revenue=Decimal("-19.990")), row(2, name="Käufe ✓ 🎉", properties={"nested": {"a": [1, None, True]}})]
    payloads = wire.encode(PROJECT, rows)
    assert len(payloads) == 1
    project, entries = wire.decode(payloads[0])
    assert project == PROJECT
    assert entries == rows
    assert str(entries[0].revenue) == "-19.990"  # exact, scale kept


def test_the_project_comes_first_so_others_skip_without_parsing():
    (payload,) = wire.encode(PROJECT, [row(1)])
    assert wire.project_hex(payload) == PROJECT.hex


def test_large_events_travel_by_id():
    big = row(2, properties={"blob": "x" * 5000})
    rows = [row(1), big, row(3)]
    (payload,) = wire.encode(PROJECT, rows)
    _, entries = wire.decode(payload)
    assert entries[0] == rows[0] and entries[2] == rows[2]
    assert entries[1] == big.id  # fetched by id by the receivers


def test_bulk_flushes_travel_by_id_in_commit_order():
    rows = [row(i) for i in range(1, 2001)]
    payloads = wire.encode(PROJECT, rows[::-1])
    decoded = [e for p in payloads for e in wire.decode(p)[1]]
    assert decoded == [r.id for r in rows]
    assert all(len(p.encode()) <= wire.MAX_PAYLOAD for p in payloads)
    assert len(payloads) == -(-2000 // ((wire.MAX_PAYLOAD - 35) // 39))  # full payloads


def test_many_events_split_under_the_limit_in_commit_order():
    rows = [row(i, properties={"text": "é" * (i * 7 % 300)}) for i in range(1, wire.INLINE_ROWS + 1)]
    shuffled = rows[::2] + rows[1::2]
    payloads = wire.encode(PROJECT, shuffled)
    assert len(payloads) > 1
    decoded = []
    for p in payloads:
        assert len(p.encode("utf-8")) <= wire.MAX_PAYLOAD < 8000
        assert orjson.loads(p[33:])  # each payload is complete JSON on its own
        decoded += wire.decode(p)[1]
    assert [r.seq for r in decoded] == list(range(1, wire.INLINE_ROWS + 1))
    assert decoded == rows


def test_payloads_are_filled():
    rows = [row(i, name="n" * 200) for i in range(1, wire.INLINE_ROWS + 1)]
    payloads = wire.encode(PROJECT, rows)
    sizes = [len(p.encode()) for p in payloads]
    entry = len(orjson.dumps(wire._array(rows[0]), default=str))
    assert all(wire.MAX_PAYLOAD - entry - 2 <= size <= wire.MAX_PAYLOAD for size in sizes[:-1])


def test_nothing_inserted_nothing_sent():
    assert wire.encode(PROJECT, []) == []
