"""The Kissmetrics tracking protocol: /e records an event, /s sets person
properties, /a aliases two identities. Parameters (already decoded from the
query string and form body): `_k` key, `_p` identity, `_n` event name (for /a
the other identity), `_t` unix seconds and `_d=1` to use it as the time; every
other parameter is a property, kept as a string.

The parsing here is pure; the three actions call the ingest service."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Mapping

from ..errors import BadInput
from ..ingest.kissmetrics import MAX_UNIX_SECONDS, event_id, unix_time  # noqa: F401 (the rules /e uses)
from ..ingest.service import IngestService
from ..ingest.validation import EventIn
from .errors import field_names

KEY, IDENTITY, NAME, TIME, TIME_FLAG = "_k", "_p", "_n", "_t", "_d"
RESERVED = frozenset({KEY, IDENTITY, NAME, TIME, TIME_FLAG})

# Where the ingest service's field names come from in a Kissmetrics request.
EVENT_FIELDS = {
    "input.identity": IDENTITY, "input.name": NAME, "input.timestamp": TIME, "input.id": TIME,
    "input.properties": "properties", "input.properties.Revenue": "Revenue",
}
SET_FIELDS = {"input.identity": IDENTITY, "input.properties": "properties", "input.timestamp": TIME}
ALIAS_FIELDS = {"input.identity": IDENTITY, "input.otherIdentity": NAME}


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
