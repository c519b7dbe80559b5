"""Normalising input for ingestion (DESIGN.md §4 limits), as pure functions.
Every refusal is a BadInput naming the field."""
from __future__ import annotations

import math
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from ..errors import BadInput
from .identity import validate_identity

MAX_NAME_LENGTH = 255
MAX_PROPERTIES = 255
MAX_KEY_LENGTH = 255
MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_EVENTS = 1000
MAX_BATCH_BYTES = 512 * 1024
MAX_ID_LENGTH = 255
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
MAX_FUTURE = timedelta(hours=24)
REVENUE_KEY = "Revenue"


# Not frozen: one is built per event, and a frozen dataclass's __init__
# costs ~5x as much (object.__setattr__ per field).
@dataclass(slots=True)
class EventIn:
    """An event as a caller sent it (any transport)."""

    identity: str
    name: str
    properties: Any = None
    timestamp: datetime | None = None
    id: str | None = None


# Not frozen: one is built per event, and a frozen dataclass's __init__
# costs ~5x as much (object.__setattr__ per field).
@dataclass(slots=True)
class NormalEvent:
    """An event ready to store."""

    id: uuid.UUID
    identity: str
    name: str
    properties: dict
    properties_json: str
    revenue: Decimal | None
    timestamp: datetime
    received_at: datetime
    idempotency_key: str | None
    size: int


def utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def check_timestamp(field: str, ts: datetime | None, now: datetime) -> datetime:
    if ts is None:
        return now
    if not isinstance(ts, datetime):
        raise BadInput(field, f"must be a date and time, not {type(ts).__name__}")
    ts = utc(ts)
    if ts < EARLIEST:
        raise BadInput(field, f"{ts.isoformat()} is earlier than 2000-01-01")
    if ts > now + MAX_FUTURE:
        raise BadInput(field, f"{ts.isoformat()} is more than 24 hours in the future")
    return ts


def _check_text(field: str, value: str) -> None:
    if "\x00" in value:
        raise BadInput(field, "the NUL character is not allowed")


def _check_json_strings(field: str, value: Any, depth: int = 0) -> None:
    """PostgreSQL's jsonb cannot hold NUL characters, and JSON has no NaN or
    Infinity (they would be stored as null); refuse them up front."""
    if depth > 64:
        raise BadInput(field, "JSON nested deeper than 64 levels")
    if isinstance(value, str):
        _check_text(field, value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise BadInput(field, f"numbers must be finite (got {value})")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(field, k)
            _check_json_strings(field, v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_json_strings(field, v, depth + 1)


def check_properties(field: str, properties: Any, *, max_bytes: int = MAX_EVENT_BYTES) -> tuple[dict, str]:
    """A JSON object within the limits; returns it and its serialised text."""
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise BadInput(field, f"must be a JSON object, not {type(properties).__name__}")
    if len(properties) > MAX_PROPERTIES:
        raise BadInput(field, f"at most {MAX_PROPERTIES} keys (got {len(properties)})")
    for key in properties:
        if not isinstance(key, str) or not key:
            raise BadInput(field, "property keys must be non-empty strings")
        if len(key) > MAX_KEY_LENGTH:
            raise BadInput(field, f"property key longer than {MAX_KEY_LENGTH} characters: {key[:40]!r}…")
    # _check_json_strings(field, properties), its first level inline: most
    # properties are flat strings (every Kissmetrics one is).
    for key, value in properties.items():
        if "\x00" in key:
            raise BadInput(field, "the NUL character is not allowed")
        if type(value) is str:
            if "\x00" in value:
                raise BadInput(field, "the NUL character is not allowed")
        else:
            _check_json_strings(field, value, 1)
    try:
        serialised = orjson.dumps(properties)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise BadInput(field, f"not serialisable as JSON: {exc}") from None
    if len(serialised) > max_bytes:  # UTF-8 bytes, as stored
        raise BadInput(field, f"larger than {max_bytes // 1024} KiB serialised")
    return properties, serialised.decode()


def parse_revenue(field: str, value: Any) -> Decimal | None:
    """`Revenue` is a number or a numeric string, kept exact; anything else is refused."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadInput(field, "Revenue must be a number or a numeric string, not a boolean")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))  # shortest round-trip text: 99.99, not 99.98999…
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise BadInput(field, f"Revenue must be numeric, got {value[:40]!r}") from None
    else:
        raise BadInput(field, f"Revenue must be a number or a numeric string, not {type(value).__name__}")
    if not amount.is_finite():
        raise BadInput(field, "Revenue must be a finite number")
    if abs(amount.adjusted()) > 30:
        raise BadInput(field, "Revenue is out of range")
    return amount


class _RandomBits:
    """74 random bits at a time from os.urandom, read 4 KiB at once (one
    system call per ~400 ids instead of one per id). Emptied in a forked
    child, so that parent and child never hand out the same bits."""

    CHUNK = 4096

    def __init__(self) -> None:
        self.pool = b""
        self.pos = 0

    def reset(self) -> None:
        self.pool, self.pos = b"", 0

    def take74(self) -> int:
        pos = self.pos
        if pos + 10 > len(self.pool):
            self.pool, pos = os.urandom(self.CHUNK), 0
        self.pos = pos + 10
        return int.from_bytes(self.pool[pos:pos + 10], "big") & ((1 << 74) - 1)


_random = _RandomBits()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_random.reset)


def time_ordered_uuid(now: datetime) -> uuid.UUID:
    """A UUIDv7-shaped id: time-ordered so the primary key index stays append-mostly."""
    ms = int(now.timestamp() * 1000) & ((1 << 48) - 1)
    rand = _random.take74()
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


def normalise_event(event: EventIn, now: datetime, field: str = "input") -> NormalEvent:
    validate_identity(f"{field}.identity", event.identity, for_linking=False)
    name = event.name
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        raise BadInput(f"{field}.name", f"an event name is 1-{MAX_NAME_LENGTH} characters")
    _check_text(f"{field}.name", name)
    properties, text = check_properties(f"{field}.properties", event.properties)
    revenue = parse_revenue(f"{field}.properties.Revenue", properties.get(REVENUE_KEY))
    timestamp = check_timestamp(f"{field}.timestamp", event.timestamp, now)
    key = event.id
    if key is not None:
        if not isinstance(key, str) or not key or len(key) > MAX_ID_LENGTH:
            raise BadInput(f"{field}.id", f"an event id is 1-{MAX_ID_LENGTH} characters")
        _check_text(f"{field}.id", key)
    return NormalEvent(
        id=time_ordered_uuid(now),
        identity=event.identity,
        name=name,
        properties=properties,
        properties_json=text,
        revenue=revenue,
        timestamp=timestamp,
        received_at=now,
        idempotency_key=key,
        size=len(text) + len(name) + len(event.identity),
    )


def check_batch_count(count: int) -> None:
    if not count:
        raise BadInput("input", "a batch needs at least one event")
    if count > MAX_BATCH_EVENTS:
        raise BadInput("input", f"a batch is at most {MAX_BATCH_EVENTS} events (got {count})")


def check_batch(events: list[NormalEvent]) -> list[NormalEvent]:
    """A batch's own limits (count, serialised size), on normalised events."""
    check_batch_count(len(events))
    if sum(e.size for e in events) > MAX_BATCH_BYTES:
        raise BadInput("input", f"a batch is at most {MAX_BATCH_BYTES // 1024} KiB serialised")
    return events


def normalise_batch(events: list[EventIn], now: datetime) -> list[NormalEvent]:
    check_batch_count(len(events))  # before the work of normalising
    return check_batch([normalise_event(e, now, f"input[{i}]") for i, e in enumerate(events)])
