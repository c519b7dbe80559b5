"""The Kissmetrics tracking protocol: /e records an event, /s sets person
properties, /a aliases two identities. Parameters (already decoded from the
query string and form body): `_k` key, `_p` identity, `_n` event name (for /a
the other identity), `_t` unix seconds and `_d=1` to use it as the time; every
other parameter is a property, kept as a string.

The parsing here is pure; the three actions call the ingest service."""
from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Mapping

import orjson

from ..errors import BadInput
from ..ingest.service import IngestService
from ..ingest.validation import EventIn
from .errors import field_names

KEY, IDENTITY, NAME, TIME, TIME_FLAG = "_k", "_p", "_n", "_t", "_d"
RESERVED = frozenset({KEY, IDENTITY, NAME, TIME, TIME_FLAG})
# Anything later than this is not unix seconds (it is 5138-11-16): most likely milliseconds.
MAX_UNIX_SECONDS = 10**11

# Where the ingest service's field names come from in a Kissmetrics request.
EVENT_FIELDS = {
    "input.identity": IDENTITY, "input.name": NAME, "input.timestamp": TIME, "input.id": TIME,
    "input.properties": "properties", "input.properties.Revenue": "Revenue",
}
SET_FIELDS = {"input.identity": IDENTITY, "input.properties": "properties", "input.timestamp": TIME}
ALIAS_FIELDS = {"input.identity": IDENTITY, "input.otherIdentity": NAME}


def unix_time(value: object, field: str = TIME) -> tuple[datetime, str]:
    """Unix seconds (an integer, or a decimal for sub-second times) as a UTC
    datetime, and its canonical text (the same instant always gives the same
    text, so it can key duplicates)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadInput(field, "must be unix time in seconds")
    text = str(value).strip()
    try:
        seconds = Decimal(text)
    except InvalidOperation:
        raise BadInput(field, f"must be unix time in seconds, got {text[:40]!r}") from None
    if not seconds.is_finite() or seconds < 0:
        raise BadInput(field, f"must be unix time in seconds, got {text[:40]!r}")
    if seconds >= MAX_UNIX_SECONDS:
        raise BadInput(field, f"{text[:40]} is too large for unix seconds (milliseconds? send seconds)")
    canonical = format(seconds.normalize(), "f") if seconds != seconds.to_integral_value() else str(int(seconds))
    return datetime.fromtimestamp(float(seconds), tz=timezone.utc), canonical


def event_id(identity: str, name: str, time_text: str) -> str:
    """The idempotency id of an event with a client time: Kissmetrics' own
    duplicate rule, one event per (identity, name, _t)."""
    digest = hashlib.sha256(orjson.dumps([identity, name, time_text])).hexdigest()
    return f"km:{digest}"


def client_time(params: Mapping[str, str]) -> tuple[datetime, str] | None:
    """The client's time when `_d=1` says to use `_t`; else None (received time)."""
    if params.get(TIME_FLAG, "").strip() != "1":
        return None
    if not params.get(TIME, "").strip():
        raise BadInput(TIME, "_d=1 says to use _t as the time, but _t is missing")
    return unix_time(params[TIME])


def required(params: Mapping[str, str], name: str, what: str) -> str:
    value = params.get(name)
    if value is None or not value.strip():
        raise BadInput(name, f"{what} is missing")
    return value


def check_text(params: Mapping[str, str]) -> None:
    # PostgreSQL text cannot hold NUL; name the parameter that carries one.
    for name, value in params.items():
        if "\x00" in name:
            raise BadInput("properties", "a parameter name contains the NUL character")
        if "\x00" in value:
            raise BadInput(name, "the NUL character is not allowed")


def properties(params: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in params.items() if name not in RESERVED}


def event_from(params: Mapping[str, str]) -> EventIn:
    check_text(params)
    identity = required(params, IDENTITY, "the identity")
    name = required(params, NAME, "the event name")
    when = client_time(params)
    if when is None:
        return EventIn(identity, name, properties(params))
    timestamp, time_text = when
    return EventIn(identity, name, properties(params), timestamp, event_id(identity, name, time_text))


async def record(ingest: IngestService, project_id: uuid.UUID, params: Mapping[str, str]) -> None:
    event = event_from(params)
    with field_names(EVENT_FIELDS):
        await ingest.record_event(project_id, event)


async def set_properties(ingest: IngestService, project_id: uuid.UUID, params: Mapping[str, str]) -> None:
    check_text(params)
    identity = required(params, IDENTITY, "the identity")
    when = client_time(params)
    values = properties(params)
    if not values:
        raise BadInput("properties", "give at least one property to set")
    with field_names(SET_FIELDS):
        await ingest.set_properties(project_id, identity, values, when[0] if when else None)


async def alias(ingest: IngestService, project_id: uuid.UUID, params: Mapping[str, str]) -> None:
    check_text(params)
    identity = required(params, IDENTITY, "the identity")
    other = required(params, NAME, "the other identity")
    with field_names(ALIAS_FIELDS):
        await ingest.alias(project_id, identity, other, force=False)
